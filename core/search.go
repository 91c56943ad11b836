package core

import (
	"strings"
	"unicode"
)

// SearchText is what an order is found by: its id, the customer's handle
// (without @), name and email, lowercased in any script, and the phone's
// digits in each form people type an Armenian number (+374 91 000102,
// 091 000102, 91 000102), one per line. Storage keeps it beside the order
// and matches a search (SearchPattern) anywhere in it.
func SearchText(o Order) string {
	parts := []string{strings.ToLower(o.ID), strings.ToLower(strings.TrimPrefix(strings.TrimSpace(o.Customer.Handle), "@")),
		strings.ToLower(strings.TrimSpace(o.Customer.Name)), strings.ToLower(strings.TrimSpace(o.Customer.Email))}
	parts = append(parts, phoneForms(o.Customer.Phone)...)
	var b strings.Builder
	for _, p := range parts {
		if p != "" {
			b.WriteString(p)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// phoneForms are the digit strings a phone number is typed as. An Armenian
// number (eight digits after the country code 374 or the trunk 0) is kept
// in all three forms, so that any of them, or any part, finds it.
func phoneForms(phone string) []string {
	d := digits(phone)
	if d == "" {
		return nil
	}
	d = strings.TrimPrefix(d, "00")
	national := armenianNational(d)
	if national == "" {
		return []string{d}
	}
	return []string{"374" + national, "0" + national}
}

// armenianNational is the eight digits after the country code 374 or the
// trunk 0 of an Armenian number written in digits d; "" for anything else.
func armenianNational(d string) string {
	switch {
	case len(d) == 11 && strings.HasPrefix(d, "374"):
		return d[3:]
	case len(d) == 9 && d[0] == '0':
		return d[1:]
	case len(d) == 8 && d[0] != '0':
		return d
	}
	return ""
}

func digits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// SearchPattern turns what a person typed into the text to look for in
// SearchText: lowercased, without a leading @, and for a phone number (only
// digits and + - ( ) . and spaces, three digits or more) its digits alone,
// without an international 00, and a whole Armenian number its national
// eight digits.
func SearchPattern(q string) string {
	q = strings.TrimSpace(q)
	phoneLike, n := q != "", 0
	for _, r := range q {
		switch {
		case r >= '0' && r <= '9':
			n++
		case strings.ContainsRune("+-(). ", r) || unicode.IsSpace(r):
		default:
			phoneLike = false
		}
	}
	if phoneLike && n >= 3 {
		d := strings.TrimPrefix(digits(q), "00")
		// A whole Armenian number is looked for by its eight national
		// digits, which every stored form holds: "374" or a leading 0 is in
		// nearly every order's text, and only slows the index down.
		if national := armenianNational(d); national != "" {
			return national
		}
		return d
	}
	return strings.ToLower(strings.TrimPrefix(q, "@"))
}
