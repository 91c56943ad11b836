package core

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Currency is an ISO 4217 currency paysync knows how to handle.
type Currency struct {
	Code     string // alphabetic, e.g. "AMD"
	Numeric  string // numeric, e.g. "051" (ArCa wants this form)
	Exponent int    // minor-unit digits
}

var currencies = map[string]Currency{
	"AMD": {"AMD", "051", 2},
	"USD": {"USD", "840", 2},
	"EUR": {"EUR", "978", 2},
	"RUB": {"RUB", "643", 2},
	"GEL": {"GEL", "981", 2},
	"KZT": {"KZT", "398", 2},
	"GBP": {"GBP", "826", 2},
	"JPY": {"JPY", "392", 0},
	"BHD": {"BHD", "048", 3},
}

// LookupCurrency finds a currency by alphabetic or numeric code.
func LookupCurrency(code string) (Currency, bool) {
	c, ok := currencies[strings.ToUpper(code)]
	if ok {
		return c, true
	}
	for _, c := range currencies {
		if c.Numeric == code {
			return c, true
		}
	}
	return Currency{}, false
}

// MaxAmountMinor bounds amounts so that sums and decimal formatting cannot overflow.
const MaxAmountMinor = int64(1) << 53

// Money is an amount in minor units of a currency. Never a float.
type Money struct {
	AmountMinor int64  `json:"amount_minor"`
	Currency    string `json:"currency"`
}

// ValidateMoney checks that the amount is non-negative, not absurdly large and the currency known.
func ValidateMoney(amountMinor int64, currency string) error {
	if _, ok := LookupCurrency(currency); !ok || len(currency) != 3 {
		return Errorf(EINVALID, "unknown currency %q: use an ISO 4217 code such as AMD, USD, EUR or RUB", currency)
	}
	if amountMinor < 0 {
		return Errorf(EINVALID, "amount_minor must not be negative (got %d)", amountMinor)
	}
	if amountMinor > MaxAmountMinor {
		return Errorf(EINVALID, "amount_minor %d is larger than %d", amountMinor, MaxAmountMinor)
	}
	return nil
}

// FormatDecimal renders minor units as a decimal string with the currency's
// exponent: FormatDecimal(1500000, "AMD") == "15000.00".
func FormatDecimal(amountMinor int64, currency string) string {
	c, ok := LookupCurrency(currency)
	exp := 2
	if ok {
		exp = c.Exponent
	}
	neg := amountMinor < 0
	u := uint64(amountMinor)
	if neg {
		u = uint64(-amountMinor)
		if amountMinor == math.MinInt64 {
			u = uint64(math.MaxInt64) + 1
		}
	}
	s := strconv.FormatUint(u, 10)
	if exp > 0 {
		for len(s) <= exp {
			s = "0" + s
		}
		s = s[:len(s)-exp] + "." + s[len(s)-exp:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// ParseDecimal is the inverse of FormatDecimal; it refuses more fractional
// digits than the currency has.
func ParseDecimal(s, currency string) (int64, error) {
	c, ok := LookupCurrency(currency)
	if !ok {
		return 0, Errorf(EINVALID, "unknown currency %q", currency)
	}
	whole, frac, _ := strings.Cut(strings.TrimSpace(s), ".")
	if len(frac) > c.Exponent {
		return 0, Errorf(EINVALID, "%q has more than %d decimals for %s", s, c.Exponent, c.Code)
	}
	frac += strings.Repeat("0", c.Exponent-len(frac))
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil {
		return 0, Errorf(EINVALID, "%q is not an amount", s)
	}
	return n, nil
}

func (m Money) String() string {
	return fmt.Sprintf("%s %s", FormatDecimal(m.AmountMinor, m.Currency), m.Currency)
}
