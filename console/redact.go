package console

import (
	"bytes"
	"encoding/json"
	"net/url"
	"regexp"
	"sort"
	"strings"
)

const redacted = "[redacted]"

// sensitiveKey matches the names of fields that authenticate a request or
// carry card data: signatures and checksums, tokens, secrets, passwords,
// keys, cookies, CVV and card numbers.
var sensitiveKey = regexp.MustCompile(`(?i)(signature|^sig$|^sign$|checksum|hmac|token|secret|passw|api[_-]?key|private[_-]?key|^key$|authori[sz]ation|cookie|cvv|cvc|^pan$|card[_-]?number)`)

// In text that is neither whole JSON nor a form (a truncated body), the same
// fields are found by pattern: "key": "value" and key=value.
var (
	jsonField = regexp.MustCompile(`("([^"\\]*)"\s*:\s*)("(?:[^"\\]|\\.)*"|[^,}\]\s]+)`)
	formField = regexp.MustCompile(`(^|[&\s?])([^=&\s]+)=([^&\s]*)`)
)

// RedactPayload returns a journal entry's raw request for people to read:
// JSON pretty-printed, a form one field a line, with every sensitive
// field's value replaced by [redacted]. (The console scrubs configured
// secrets from every page on top of this.)
func RedactPayload(raw string) string {
	trimmed := strings.TrimSpace(raw)
	if trimmed == "" {
		return ""
	}
	if (strings.HasPrefix(trimmed, "{") || strings.HasPrefix(trimmed, "[")) && json.Valid([]byte(trimmed)) {
		dec := json.NewDecoder(strings.NewReader(trimmed))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) == nil {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false)
			if enc.Encode(redactJSON(v)) == nil {
				return strings.TrimSpace(buf.String())
			}
		}
	}
	if looksLikeForm(trimmed) {
		if vals, err := url.ParseQuery(trimmed); err == nil && len(vals) > 0 {
			keys := make([]string, 0, len(vals))
			for k := range vals {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var b strings.Builder
			for _, k := range keys {
				for _, v := range vals[k] {
					if sensitiveKey.MatchString(k) {
						v = redacted
					}
					b.WriteString(k + " = " + v + "\n")
				}
			}
			return strings.TrimSpace(b.String())
		}
	}
	out := jsonField.ReplaceAllStringFunc(trimmed, func(m string) string {
		sub := jsonField.FindStringSubmatch(m)
		if sensitiveKey.MatchString(sub[2]) {
			return sub[1] + `"` + redacted + `"`
		}
		return m
	})
	return formField.ReplaceAllStringFunc(out, func(m string) string {
		sub := formField.FindStringSubmatch(m)
		if sensitiveKey.MatchString(sub[2]) {
			return sub[1] + sub[2] + "=" + redacted
		}
		return m
	})
}

func redactJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if sensitiveKey.MatchString(k) {
				if _, nested := val.(map[string]any); !nested {
					x[k] = redacted
					continue
				}
			}
			x[k] = redactJSON(val)
		}
	case []any:
		for i := range x {
			x[i] = redactJSON(x[i])
		}
	}
	return v
}

// looksLikeForm: key=value pairs joined by &, no spaces or braces.
func looksLikeForm(s string) bool {
	return strings.Contains(s, "=") && !strings.ContainsAny(s, " \n\t{}[]\"")
}
