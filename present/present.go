// Package present turns paysync's values into what people read: money as
// shops write it (15,000 ֏), times in the shop's time zone with the zone
// shown, statuses, verdicts and connector states in words, and an order's
// journal as a timeline of plain sentences, in English, Russian or Armenian.
// The console, the CLI tables and the demo all print through it, so an order
// reads the same wherever it is looked up.
package present

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Lang is a language of the console and of printed words.
type Lang string

const (
	English  Lang = "en"
	Russian  Lang = "ru"
	Armenian Lang = "hy"
)

// Langs lists the languages, in the order the console offers them.
var Langs = []Lang{English, Russian, Armenian}

// ParseLang accepts "en", "ru", "hy" and tags such as "hy-AM".
func ParseLang(s string) (Lang, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if i := strings.IndexAny(s, "-_"); i > 0 {
		s = s[:i]
	}
	for _, l := range Langs {
		if string(l) == s {
			return l, true
		}
	}
	return "", false
}

// FromAcceptLanguage picks the language a browser prefers most among ours
// (English when it names none of them).
func FromAcceptLanguage(header string) Lang {
	best, bestQ := English, 0.0
	for _, part := range strings.Split(header, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		l, ok := ParseLang(tag)
		if !ok {
			continue
		}
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		if q > bestQ {
			best, bestQ = l, q
		}
	}
	return best
}

// Name is the language's own name, for a language switch.
func (l Lang) Name() string {
	switch l {
	case Russian:
		return "Русский"
	case Armenian:
		return "Հայերեն"
	}
	return "English"
}

// Printer prints in one language and time zone. The zero value prints
// English in UTC.
type Printer struct {
	Lang Lang
	// Zone is the shop's time zone (config time_zone); nil means UTC.
	Zone *time.Location
	// CurrencyCodes prints "15,000 AMD" instead of "15,000 ֏", for plain
	// text that scripts read.
	CurrencyCodes bool
}

// New returns a Printer for lang in zone.
func New(lang Lang, zone *time.Location) Printer { return Printer{Lang: lang, Zone: zone} }

func (p Printer) lang() Lang {
	if _, ok := catalog.byLang[p.Lang]; ok {
		return p.Lang
	}
	return English
}

// catalog holds every message by language. Packages that print add theirs
// with Register; a key must exist in every language.
var catalog = struct {
	sync.RWMutex
	byLang map[Lang]map[string]string
}{byLang: map[Lang]map[string]string{English: {}, Russian: {}, Armenian: {}}}

// Register adds messages in the three languages. It panics when a key is
// missing from one of them or registered twice: both are programming errors
// that a start-up (and every test) finds at once.
func Register(en, ru, hy map[string]string) {
	catalog.Lock()
	defer catalog.Unlock()
	for k := range en {
		if _, ok := ru[k]; !ok {
			panic("present: message " + k + " has no Russian text")
		}
		if _, ok := hy[k]; !ok {
			panic("present: message " + k + " has no Armenian text")
		}
	}
	if len(ru) != len(en) || len(hy) != len(en) {
		panic("present: the Russian or Armenian messages have keys the English ones lack")
	}
	for l, msgs := range map[Lang]map[string]string{English: en, Russian: ru, Armenian: hy} {
		for k, v := range msgs {
			if _, dup := catalog.byLang[l][k]; dup {
				panic("present: message " + k + " registered twice")
			}
			catalog.byLang[l][k] = v
		}
	}
}

// Keys lists every registered message key, sorted (for tests).
func Keys() []string {
	catalog.RLock()
	defer catalog.RUnlock()
	out := make([]string, 0, len(catalog.byLang[English]))
	for k := range catalog.byLang[English] {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Has reports whether key is a registered message.
func Has(key string) bool {
	catalog.RLock()
	defer catalog.RUnlock()
	_, ok := catalog.byLang[English][key]
	return ok
}

// T returns the message key in the printer's language, formatted with args
// like fmt.Sprintf. An unknown key prints as itself, so that a missing
// message shows up on the page instead of breaking it.
func (p Printer) T(key string, args ...any) string {
	catalog.RLock()
	msg, ok := catalog.byLang[p.lang()][key]
	catalog.RUnlock()
	if !ok {
		return key
	}
	if len(args) == 0 {
		return msg
	}
	return fmt.Sprintf(msg, args...)
}

// N returns the plural form of key for n, formatted with n. A plural
// message lists its forms separated by "|": English one|other, Russian
// one|few|many, Armenian one form (nouns after a number stay singular).
func (p Printer) N(n int64, key string) string {
	forms := strings.Split(p.T(key), "|")
	i := 0
	switch p.lang() {
	case English:
		if n != 1 {
			i = 1
		}
	case Russian:
		m10, m100 := n%10, n%100
		switch {
		case m10 == 1 && m100 != 11:
			i = 0
		case m10 >= 2 && m10 <= 4 && (m100 < 12 || m100 > 14):
			i = 1
		default:
			i = 2
		}
	}
	if i >= len(forms) {
		i = len(forms) - 1
	}
	if strings.Contains(forms[i], "%") {
		return fmt.Sprintf(forms[i], n)
	}
	return forms[i]
}
