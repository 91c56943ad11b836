package core

import (
	"bytes"
	"regexp"
	"strings"
)

// Card data is never kept. Providers and the backends that sign generic
// webhooks should never send it, but a misconfigured one may: before a
// request's bytes, a sample of them or a reason quoting them is stored, it
// is scrubbed of
//   - primary account numbers: runs of 13 to 19 digits that pass the Luhn
//     check, written together or in groups separated by one space, dash or
//     plus (form encoding's space), in any field or free text; the first 6
//     and last 4 digits stay, the others become '*';
//   - card security codes (CVV, CVC, …) and expiry dates: the values of
//     fields so named, in JSON, form encoding, XML or "name: value" text,
//     every byte of which becomes '*'.
//
// Masking keeps the length, so that sizes, positions and the cut of a long
// payload stay as they were; the digest kept with a payload is the digest
// of what was received (see payloadPart), for disputes.

// MaskedPANChar replaces a hidden digit of a card number or field value.
const MaskedPANChar = '*'

// ScrubCardData returns b with card numbers, security codes and expiry
// dates masked; b itself (not a copy) when it holds none.
func ScrubCardData(b []byte) []byte {
	var out []byte // a copy, made at the first mask
	mask := func(from, to int) {
		if out == nil {
			out = bytes.Clone(b)
		}
		for i := from; i < to; i++ {
			out[i] = MaskedPANChar
		}
	}
	maskPANs(b, mask)
	maskCardFields(b, mask)
	if out == nil {
		return b
	}
	return out
}

// ScrubCardText is ScrubCardData for text (a reason, a message).
func ScrubCardText(s string) string {
	return string(ScrubCardData([]byte(s)))
}

// PAN lengths: ISO/IEC 7812 numbers of 13 to 19 digits.
const (
	minPAN = 13
	maxPAN = 19
)

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isPANSeparator is what may stand between two groups of a written card
// number: "4111 1111 …", "4111-1111-…", and form encoding's "4111+1111+…".
func isPANSeparator(c byte) bool { return c == ' ' || c == '-' || c == '+' }

// maskPANs finds every run of digit groups (digits, with single separators
// between groups) and masks each window of whole groups that holds 13 to 19
// digits and passes the Luhn check.
func maskPANs(b []byte, mask func(from, to int)) {
	type group struct{ from, to int } // [from, to) of digits
	var groups []group
	n := len(b)
	for i := 0; i < n; {
		if !isDigit(b[i]) {
			i++
			continue
		}
		groups = groups[:0]
		j := i
		for {
			start := j
			for j < n && isDigit(b[j]) {
				j++
			}
			groups = append(groups, group{start, j})
			if j+1 < n && isPANSeparator(b[j]) && isDigit(b[j+1]) {
				j++
				continue
			}
			break
		}
		for s := range groups {
			digits := 0
			for e := s; e < len(groups); e++ {
				digits += groups[e].to - groups[e].from
				if digits > maxPAN {
					break
				}
				if digits < minPAN || !luhnGroups(b, groups[s].from, groups[e].to) {
					continue
				}
				// Keep the first 6 digits and the last 4.
				seen := 0
				for k := groups[s].from; k < groups[e].to; k++ {
					if !isDigit(b[k]) {
						continue
					}
					if seen >= 6 && seen < digits-4 {
						mask(k, k+1)
					}
					seen++
				}
			}
		}
		i = j
	}
}

// luhnGroups reports whether the digits of b[from:to] (separators skipped)
// pass the Luhn check.
func luhnGroups(b []byte, from, to int) bool {
	sum, double := 0, false
	for k := to - 1; k >= from; k-- {
		if !isDigit(b[k]) {
			continue
		}
		d := int(b[k] - '0')
		if double {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// Luhn reports whether a string of digits passes the Luhn check.
func Luhn(digits string) bool {
	for i := 0; i < len(digits); i++ {
		if !isDigit(digits[i]) {
			return false
		}
	}
	return digits != "" && luhnGroups([]byte(digits), 0, len(digits))
}

var (
	// A field name and what follows it up to its value: "cvv": , cvv=,
	// card.cvv: , 'cvv':, card[cvv]=, card%5Bcvv%5D=.
	fieldName = regexp.MustCompile(`([A-Za-z][A-Za-z0-9_.\-]{0,63})(?:["'\]]|%5[Dd])?[ \t]*[:=][ \t]*`)
	// A value: a quoted string, or a token.
	fieldValue = regexp.MustCompile(`^(?:"(?:[^"\\]|\\.)*"|'[^']*'|[^\s&,;}\]<>"'{\[]+)`)
	// An XML element and its text: <cvv>123</cvv>, <ns:ExpiryDate>12/26</ns:ExpiryDate>.
	xmlValue = regexp.MustCompile(`<([A-Za-z][A-Za-z0-9_.\-:]{0,63})(?:\s[^<>]*)?>([^<]*)</`)
)

// maxCardValue bounds the value of a card field looked at: a quote left
// open must not make each name read to the end of the payload.
const maxCardValue = 256

// cardFields are the field names (lower case, without _ - . and any
// prefix before a dot or colon) whose values are card security codes or
// expiry dates; cardFieldEnds are endings that make a longer name one
// ("cardCvv", "payer_card_expiry_date"). "expiry" alone ends many names
// that are not a card's (a session's expiry), so it is only a whole name.
var (
	cardFields = map[string]bool{
		"cvv": true, "cvv2": true, "cvc": true, "cvc2": true, "cvn": true, "cvn2": true, "csc": true, "cav2": true,
		"securitycode": true, "cardsecuritycode": true, "cardverificationcode": true, "cardverificationvalue": true,
		"exp": true, "expiry": true, "expiration": true, "expdate": true, "validthru": true, "validto": true, "validuntil": true,
		"cardexp": true, "cardexpiry": true, "cardexpiration": true,
	}
	cardFieldEnds = []string{"cvv", "cvv2", "cvc", "cvc2", "securitycode", "expirydate", "expirymonth", "expiryyear",
		"expirationdate", "expirationmonth", "expirationyear", "expmonth", "expyear", "cardexpiry", "cardexpiration"}
)

// IsCardField reports whether a field of that name holds a card security
// code or expiry date.
func IsCardField(name string) bool {
	if i := strings.LastIndexAny(name, ".:"); i >= 0 {
		name = name[i+1:]
	}
	n := strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(name))
	if cardFields[n] {
		return true
	}
	for _, end := range cardFieldEnds {
		if strings.HasSuffix(n, end) {
			return true
		}
	}
	return false
}

// maskCardFields masks the values of fields named like card security codes
// and expiry dates (the quotes of a quoted value stay).
func maskCardFields(b []byte, mask func(from, to int)) {
	if !mayHoldCardField(b) {
		return
	}
	// Names are found apart from values, so that a value that reads like a
	// name ("says: CVV: 123") is looked at as one.
	for _, m := range fieldName.FindAllSubmatchIndex(b, -1) {
		if !IsCardField(string(b[m[2]:m[3]])) {
			continue
		}
		v := fieldValue.FindIndex(b[m[1]:min(len(b), m[1]+maxCardValue)])
		if v == nil {
			continue
		}
		from, to := m[1]+v[0], m[1]+v[1]
		if c := b[from]; (c == '"' || c == '\'') && to-from >= 2 {
			from, to = from+1, to-1
		}
		mask(from, to)
	}
	for _, m := range xmlValue.FindAllSubmatchIndex(b, -1) {
		if IsCardField(string(b[m[2]:m[3]])) {
			mask(m[4], m[5])
		}
	}
}

// cardFieldHints are pieces every card field name holds, so that most
// payloads skip the regular expressions.
var cardFieldHints = [][]byte{[]byte("cv"), []byte("csc"), []byte("cav"), []byte("securi"), []byte("verif"), []byte("exp"), []byte("valid")}

func mayHoldCardField(b []byte) bool {
	lower := bytes.ToLower(b)
	for _, h := range cardFieldHints {
		if bytes.Contains(lower, h) {
			return true
		}
	}
	return false
}
