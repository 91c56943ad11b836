package sheets

import (
	"errors"
	"strconv"
	"strings"
	"unicode"
)

// gridRange is a parsed A1 range: a tab and 1-based, inclusive bounds; a
// zero bound is open ("A:A" has no rows, "1:1" no columns).
type gridRange struct {
	sheet          string // "" for the first tab
	hasSheet       bool
	r1, c1, r2, c2 int
}

// errRange is a range that is not A1 notation; Google answers "Unable to
// parse range: …".
var errRange = errors.New("not A1 notation")

// parseA1 parses Sheets A1 notation: "Orders", "'Orders 2026'!A1:B2",
// "Orders!A:A", "Orders!A5:A", "Orders!1:1", "A1". A quote inside a quoted
// name is written twice.
func parseA1(s string) (gridRange, error) {
	var g gridRange
	bad := errRange
	rest := s
	switch {
	case strings.HasPrefix(s, "'"):
		var name strings.Builder
		i := 1
		for ; i < len(s); i++ {
			if s[i] == '\'' {
				if i+1 < len(s) && s[i+1] == '\'' {
					name.WriteByte('\'')
					i++
					continue
				}
				break
			}
			name.WriteByte(s[i])
		}
		if i >= len(s) {
			return g, bad
		}
		g.sheet, g.hasSheet = name.String(), true
		rest = s[i+1:]
		if rest == "" {
			return g, nil
		}
		if !strings.HasPrefix(rest, "!") {
			return g, bad
		}
		rest = rest[1:]
	case strings.Contains(s, "!"):
		i := strings.LastIndex(s, "!")
		g.sheet, g.hasSheet = s[:i], true
		rest = s[i+1:]
		if g.sheet == "" || strings.ContainsAny(g.sheet, "' ") {
			return g, bad
		}
	default:
		// A bare word is a cell range when it parses as one, else a tab name.
		if _, _, ok := parseCell(strings.SplitN(s, ":", 2)[0]); ok || s == "" {
			break
		}
		if strings.ContainsAny(s, ": ") {
			return g, bad
		}
		g.sheet, g.hasSheet = s, true
		return g, nil
	}
	if rest == "" {
		return g, bad
	}
	from, to, two := strings.Cut(rest, ":")
	r1, c1, ok := parseCell(from)
	if !ok {
		return g, bad
	}
	g.r1, g.c1, g.r2, g.c2 = r1, c1, r1, c1
	if two {
		r2, c2, ok := parseCell(to)
		if !ok {
			return g, bad
		}
		g.r2, g.c2 = r2, c2
		// "A1:B" is open below; "A:A5" is not A1 notation.
		if (r1 == 0) != (r2 == 0) && r1 == 0 {
			return g, bad
		}
		if (c1 == 0) != (c2 == 0) {
			return g, bad
		}
	} else if r1 == 0 || c1 == 0 {
		return g, bad
	}
	if (g.r2 != 0 && g.r2 < g.r1) || (g.c2 != 0 && g.c2 < g.c1) {
		g.r1, g.r2 = min(g.r1, g.r2), max(g.r1, g.r2)
		g.c1, g.c2 = min(g.c1, g.c2), max(g.c1, g.c2)
	}
	return g, nil
}

// parseCell parses "B12", "B" (row 0) or "12" (column 0).
func parseCell(s string) (row, col int, ok bool) {
	i := 0
	for i < len(s) && unicode.IsLetter(rune(s[i])) && s[i] < 0x80 {
		col = col*26 + int(unicode.ToUpper(rune(s[i]))-'A'+1)
		i++
		if col > 18278 { // ZZZ
			return 0, 0, false
		}
	}
	if i < len(s) {
		n, err := strconv.Atoi(s[i:])
		if err != nil || n < 1 || n > 10_000_000 {
			return 0, 0, false
		}
		row = n
	}
	return row, col, s != "" && (row > 0 || col > 0)
}

// colName is the letters of a 1-based column: 1 → A, 27 → AA.
func colName(c int) string {
	var b []byte
	for c > 0 {
		c--
		b = append([]byte{byte('A' + c%26)}, b...)
		c /= 26
	}
	return string(b)
}

// quoteSheet quotes a tab name the way Google prints ranges: only when it
// is not a plain word or could be read as a cell reference.
func quoteSheet(name string) string {
	plain := name != ""
	for _, r := range name {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_') {
			plain = false
		}
	}
	if _, _, isCell := parseCell(name); isCell || (plain && unicode.IsDigit(rune(name[0]))) {
		plain = false
	}
	if plain {
		return name
	}
	return "'" + strings.ReplaceAll(name, "'", "''") + "'"
}

// a1 prints a bounded range on a tab.
func a1(sheet string, r1, c1, r2, c2 int) string {
	s := quoteSheet(sheet) + "!" + colName(c1) + strconv.Itoa(r1)
	if r2 != r1 || c2 != c1 {
		s += ":" + colName(c2) + strconv.Itoa(r2)
	}
	return s
}
