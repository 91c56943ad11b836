package instagram

import (
	"slices"
	"unicode"
)

// detectLanguage says what a customer writes in, from the script of the
// text: Armenian letters are hy, Cyrillic ru, Latin en; "" when the text
// has no letters (an emoji, a photo). Armenian written in Latin letters
// ("barev") reads as en: the script is all paysync can be sure of.
func detectLanguage(text string) string {
	var hy, ru, en int
	for _, r := range text {
		switch {
		case unicode.Is(unicode.Armenian, r):
			hy++
		case unicode.Is(unicode.Cyrillic, r):
			ru++
		case unicode.Is(unicode.Latin, r):
			en++
		}
	}
	switch {
	case hy == 0 && ru == 0 && en == 0:
		return ""
	case hy >= ru && hy >= en:
		return "hy"
	case ru >= en:
		return "ru"
	}
	return "en"
}

// pickLanguage chooses the language of a message: the customer's, when
// the mapping has it, else the configured default, else the mapping's first.
func pickLanguage(customer, def string, available []string) string {
	if customer != "" && slices.Contains(available, customer) {
		return customer
	}
	if slices.Contains(available, def) {
		return def
	}
	if len(available) > 0 {
		return available[0]
	}
	return def
}
