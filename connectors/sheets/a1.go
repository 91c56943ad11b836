package sheets

import (
	"net/url"
	"strconv"
	"strings"
)

// A1 notation, as the connector writes and reads it.

// ColumnName is the letters of a 1-based column: 1 → A, 27 → AA.
func ColumnName(c int) string {
	var b []byte
	for c > 0 {
		c--
		b = append([]byte{byte('A' + c%26)}, b...)
		c /= 26
	}
	return string(b)
}

// QuoteSheet quotes a tab name for a range. paysync always quotes: a tab
// named like a cell (CRM26) or with a space must be, and quoting a plain
// name is harmless.
func QuoteSheet(name string) string { return "'" + strings.ReplaceAll(name, "'", "''") + "'" }

// cellRange is 'Tab'!B7:Q7 for one row between two columns.
func rowRange(sheet string, row, c1, c2 int) string {
	r := strconv.Itoa(row)
	return QuoteSheet(sheet) + "!" + ColumnName(c1) + r + ":" + ColumnName(c2) + r
}

// columnRange is 'Tab'!B:B.
func columnRange(sheet string, c int) string {
	return QuoteSheet(sheet) + "!" + ColumnName(c) + ":" + ColumnName(c)
}

// escapeRange percent-encodes a range for a URL path segment, ':' and '!'
// included, as Google's clients do.
func escapeRange(r string) string {
	return strings.NewReplacer(":", "%3A", "!", "%21").Replace(url.PathEscape(r))
}

// parseUpdatedRange reads the first row and the row count of an answer's
// updatedRange ("Orders!A12:P14", "'Orders 2026'!B5:Q5").
func parseUpdatedRange(s string) (first, last int, ok bool) {
	i := strings.LastIndex(s, "!")
	if i < 0 {
		return 0, 0, false
	}
	from, to, two := strings.Cut(s[i+1:], ":")
	first, ok = rowOf(from)
	if !ok {
		return 0, 0, false
	}
	last = first
	if two {
		if last, ok = rowOf(to); !ok {
			return 0, 0, false
		}
	}
	return first, last, last >= first
}

func rowOf(cell string) (int, bool) {
	i := strings.IndexFunc(cell, func(r rune) bool { return r >= '0' && r <= '9' })
	if i <= 0 {
		return 0, false
	}
	n, err := strconv.Atoi(cell[i:])
	return n, err == nil && n > 0
}
