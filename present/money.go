package present

import (
	"math"
	"strconv"
	"strings"

	"github.com/paysync/paysync/core"
)

// symbols are the currency signs people write; other currencies print their code.
var symbols = map[string]string{"AMD": "֏", "RUB": "₽", "USD": "$", "EUR": "€", "GBP": "£"}

// leadingSymbol: signs that English writes before the amount ($12.50).
var leadingSymbol = map[string]bool{"USD": true, "EUR": true, "GBP": true}

// wholeUnits are currencies whose minor unit is out of use in shops: AMD
// has two decimals on paper (and in core.Money), but nobody writes 15,000.00 ֏.
// A non-zero fraction is still printed, never dropped.
var wholeUnits = map[string]bool{"AMD": true}

const nbsp = "\u00a0"

// separators returns the thousands and decimal separators of the language.
func (p Printer) separators() (group, decimal string) {
	if p.lang() == English {
		return ",", "."
	}
	return nbsp, ","
}

// Money prints an amount as people write it: "15,000 ֏" in English,
// "15 000 ֏" in Russian and Armenian, "$12.50", "12,50 €"; with
// CurrencyCodes "15,000 AMD".
func (p Printer) Money(amountMinor int64, currency string) string {
	code := strings.ToUpper(currency)
	exp := 2
	if c, ok := core.LookupCurrency(code); ok {
		exp = c.Exponent
	}
	neg := amountMinor < 0
	abs := uint64(amountMinor)
	if neg {
		abs = uint64(-amountMinor)
		if amountMinor == math.MinInt64 {
			abs = uint64(math.MaxInt64) + 1
		}
	}
	unit := uint64(1)
	for range exp {
		unit *= 10
	}
	group, decimal := p.separators()
	s := groupDigits(strconv.FormatUint(abs/unit, 10), group)
	if frac := abs % unit; exp > 0 && !(frac == 0 && wholeUnits[code]) {
		f := strconv.FormatUint(frac, 10)
		s += decimal + strings.Repeat("0", exp-len(f)) + f
	}
	if neg {
		s = "-" + s
	}
	sym, ok := symbols[code]
	switch {
	case p.CurrencyCodes || !ok:
		return s + nbspOrSpace(p) + code
	case leadingSymbol[code] && p.lang() == English:
		if neg {
			return "-" + sym + s[1:]
		}
		return sym + s
	}
	return s + nbspOrSpace(p) + sym
}

// MoneyOf prints m.
func (p Printer) MoneyOf(m core.Money) string { return p.Money(m.AmountMinor, m.Currency) }

// nbspOrSpace keeps an amount and its currency on one line in HTML; plain
// text for scripts gets an ordinary space.
func nbspOrSpace(p Printer) string {
	if p.CurrencyCodes {
		return " "
	}
	return nbsp
}

func groupDigits(digits, sep string) string {
	if len(digits) <= 3 {
		return digits
	}
	var b strings.Builder
	head := len(digits) % 3
	if head > 0 {
		b.WriteString(digits[:head])
	}
	for i := head; i < len(digits); i += 3 {
		if b.Len() > 0 {
			b.WriteString(sep)
		}
		b.WriteString(digits[i : i+3])
	}
	return b.String()
}
