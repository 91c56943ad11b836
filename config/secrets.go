package config

import (
	"net/url"
	"reflect"
	"sort"
	"strings"
)

// Secrets lists every secret value the config holds (tokens, keys,
// passwords, webhook URLs), each non-empty value once, longest first. Pages
// and messages shown to people are scrubbed of them as a last line of
// defence. A secret URL also gives its path segments that are codes (a
// Bitrix24 webhook's /rest/1/CODE/, or any segment of 16 characters or
// more), in case one is shown without its host; shorter segments such as
// "rest" or "bitrix24" are words, and redacting them would garble logs.
func (c *Config) Secrets() []string {
	seen := map[string]bool{}
	var out []string
	add := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	collectSecrets(reflect.ValueOf(c).Elem(), func(s string) {
		add(s)
		if u, err := url.Parse(s); err == nil && u.Host != "" {
			segs := strings.Split(u.Path, "/")
			for i, seg := range segs {
				afterUser := i >= 2 && segs[i-2] == "rest" && isDigits(segs[i-1])
				if len(seg) >= 4 && (afterUser || len(seg) >= 16) {
					add(seg)
				}
			}
			if u.User != nil {
				if p, ok := u.User.Password(); ok && len(p) >= 4 {
					add(p)
				}
			}
		}
	})
	sort.SliceStable(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

var secretType = reflect.TypeOf(Secret(""))

func collectSecrets(v reflect.Value, add func(string)) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			collectSecrets(v.Elem(), add)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				collectSecrets(v.Field(i), add)
			}
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			collectSecrets(v.MapIndex(k), add)
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			collectSecrets(v.Index(i), add)
		}
	case reflect.String:
		if v.Type() == secretType {
			add(v.String())
		}
	}
}
