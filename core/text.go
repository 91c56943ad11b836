package core

import (
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Text columns hold valid UTF-8 without NUL: PostgreSQL refuses anything else,
// and SQLite would store it but search and compare it differently. Strings
// that reach a text column pass through CleanText (see JournalEntry.Clean,
// Order.Clean and Refusal.Clean), so both databases hold the same string.

// IsText reports whether s is valid UTF-8 without NUL characters.
func IsText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// CleanText returns s as valid UTF-8 without NUL: each run of invalid bytes
// and each NUL becomes U+FFFD. Text already clean is returned as it is.
func CleanText(s string) string {
	if IsText(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// Shorten cuts s to at most n bytes on a character boundary and marks the
// cut with "…" (which counts towards n).
func Shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…"
	if n <= len(mark) {
		return ""
	}
	return s[:runeStart(s, n-len(mark))] + mark
}

// runeStart backs i off to the start of the character it falls in, so that
// s[:i] does not end with part of a character. Invalid bytes count as
// characters of their own.
func runeStart(s string, i int) int {
	if i >= len(s) {
		return len(s)
	}
	for j := i; j >= 0 && j > i-utf8.UTFMax; j-- {
		if utf8.RuneStart(s[j]) {
			if _, size := utf8.DecodeRuneInString(s[j:]); j+size > i {
				return j
			}
			return i
		}
	}
	return i
}

// CheckText returns an EINVALID error naming what (e.g. "query parameter q")
// when s holds a NUL character or is not valid UTF-8.
func CheckText(what, s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return Errorf(EINVALID, "%s contains a NUL character (\\u0000 or %%00); remove it", what)
	}
	if !utf8.ValidString(s) {
		return Errorf(EINVALID, "%s is not valid UTF-8 text; send it encoded as UTF-8", what)
	}
	return nil
}

// CheckTextIn walks a decoded JSON value (maps, slices, strings) and returns
// CheckText's error for the first string or key that is not text, named by
// its path under what ("customer.name", "items[0].sku").
func CheckTextIn(what string, v any) error {
	switch t := v.(type) {
	case string:
		return CheckText(what, t)
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys) // the same field is named every time
		for _, k := range keys {
			name := k
			if what != "" {
				name = what + "." + k
			}
			if err := CheckText("a key in "+orBody(what), k); err != nil {
				return err
			}
			if err := CheckTextIn(name, t[k]); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range t {
			if err := CheckTextIn(what+"["+strconv.Itoa(i)+"]", e); err != nil {
				return err
			}
		}
	}
	return nil
}

func orBody(what string) string {
	if what == "" {
		return "the body"
	}
	return what
}
