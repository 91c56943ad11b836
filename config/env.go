package config

import (
	"encoding"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// applyEnv sets each field of v (a struct, or a pointer to one) whose env
// tag names a variable that is set, and returns a problem for each value
// that cannot be read, blamed on its variable ("PAYSYNC_SHUTDOWN_TIMEOUT:
// bad duration …"), never on a Go field. Every variable is read, so that
// every mistake is reported at once. prefix is v's dotted key ("" or
// "providers.arca."), for the problems and for validation to skip them.
func (c *Config) applyEnv(v reflect.Value, prefix string) Problems {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil
	}
	var ps Problems
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		name = strings.TrimSpace(name)
		if name == "" {
			if f.Type.Kind() == reflect.Struct && key != "" && key != "-" {
				ps = append(ps, c.applyEnv(v.Field(i), prefix+key+".")...)
			}
			continue
		}
		raw, ok := c.lookup.Lookup(name)
		if !ok {
			continue
		}
		if err := setFromText(v.Field(i), raw); err != nil {
			c.reported[prefix+key] = true
			ps = append(ps, Problem{Reason: name + ": " + err.Error()})
		}
	}
	return ps
}

// setFromText reads s into field the way the YAML file's value is read.
// An empty variable sets a string to empty and leaves anything else as it
// is (it reads as "not set").
func setFromText(field reflect.Value, s string) error {
	if tu, ok := field.Addr().Interface().(encoding.TextUnmarshaler); ok {
		if strings.TrimSpace(s) == "" && field.Kind() != reflect.String {
			return nil
		}
		return tu.UnmarshalText([]byte(s))
	}
	switch field.Kind() {
	case reflect.String:
		field.SetString(s)
	case reflect.Int, reflect.Int32, reflect.Int64:
		if strings.TrimSpace(s) == "" {
			return nil
		}
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil || field.OverflowInt(n) {
			return fmt.Errorf("%q is not a whole number", s)
		}
		field.SetInt(n)
	case reflect.Bool:
		if strings.TrimSpace(s) == "" {
			return nil
		}
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		field.SetBool(b)
	default:
		return fmt.Errorf("cannot be set from the environment; set it in the config file")
	}
	return nil
}

// explain makes the file's problems say which key they are about: a value
// that could not be read names its key ("default_expires_in: bad duration
// …") and is not reported again by validation; an unknown key gets the
// known key it is closest to ("did you mean log_level?").
func (c *Config) explain(ps Problems) Problems {
	byLine := map[int]string{}
	for k, l := range c.lines {
		if cur, ok := byLine[l]; !ok || len(k) > len(cur) {
			byLine[l] = k // the innermost key of a line
		}
	}
	for i, p := range ps {
		key := byLine[p.Line]
		if key == "" {
			continue
		}
		if name, ok := unknownKeyOf(p.Reason); ok {
			parent, _ := splitKey(key)
			if near := closest(name, knownKeys(parent)); near != "" {
				ps[i].Reason = fmt.Sprintf("unknown key %q: did you mean %s? (see config.example.yaml for the keys paysync knows)", name, near)
				// The key it stands for is then missing: that is the same mistake.
				if parent != "" {
					near = parent + "." + near
				}
				c.reported[near] = true
			}
			continue
		}
		c.reported[key] = true
		_, last := splitKey(key)
		if !strings.Contains(p.Reason, last) {
			ps[i].Reason = last + ": " + p.Reason
		}
	}
	return ps
}

// unknownKeyOf reads the key out of an "unknown key" problem.
func unknownKeyOf(reason string) (string, bool) {
	rest, ok := strings.CutPrefix(reason, "unknown key ")
	if !ok {
		return "", false
	}
	name, err := strconv.QuotedPrefix(rest)
	if err != nil {
		return "", false
	}
	name, _ = strconv.Unquote(name)
	return name, true
}

// splitKey splits a dotted key into its parent and its last part, list
// indexes dropped ("fixed_links[2].slug" -> "fixed_links", "slug").
func splitKey(key string) (parent, last string) {
	i := strings.LastIndex(key, ".")
	if i < 0 {
		return "", key
	}
	return key[:i], key[i+1:]
}

// knownKeys lists the keys paysync knows under parent (a dotted key; ""
// for the top level).
func knownKeys(parent string) []string {
	t := reflect.TypeOf(Config{})
	if parent != "" {
		parts := strings.Split(parent, ".")
		for i := 0; i < len(parts); i++ {
			part, _, _ := strings.Cut(parts[i], "[")
			switch {
			case t == reflect.TypeOf(Providers{}) || t == reflect.TypeOf(Connectors{}):
				var s any
				if t == reflect.TypeOf(Providers{}) {
					s = defaultProviders()[part]
				} else {
					s = defaultConnectors()[part]
				}
				if s == nil {
					return nil
				}
				t = reflect.TypeOf(s)
			default:
				for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
					t = t.Elem()
				}
				f, ok := fieldByYAML(t, part)
				if !ok {
					return nil
				}
				t = f
			}
		}
	}
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	switch t {
	case reflect.TypeOf(Providers{}):
		return keysOf(defaultProviders())
	case reflect.TypeOf(Connectors{}):
		return keysOf(defaultConnectors())
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var out []string
	for i := 0; i < t.NumField(); i++ {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name != "" && name != "-" && t.Field(i).IsExported() {
			out = append(out, name)
		}
	}
	return out
}

func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// fieldByYAML finds the type of t's field whose yaml key is name.
func fieldByYAML(t reflect.Type, name string) (reflect.Type, bool) {
	if t.Kind() != reflect.Struct {
		return nil, false
	}
	for i := 0; i < t.NumField(); i++ {
		if n, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); n == name {
			return t.Field(i).Type, true
		}
	}
	return nil, false
}

// closest is the candidate a mistyped name was most likely meant to be: at
// most two edits away (a letter missing, extra, wrong, or two swapped), and
// fewer than half its letters; "" when none is.
func closest(name string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		d := editDistance(strings.ToLower(name), c)
		if d < bestDist || d == bestDist && best != "" && c < best {
			best, bestDist = c, d
		}
	}
	if best == "" || bestDist*2 >= len(name) {
		return ""
	}
	return best
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and swaps of two neighbours each count one.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// Variable is one PAYSYNC_* environment variable and the config key it
// overrides.
type Variable struct {
	Name string // PAYSYNC_HTTP_ADDR
	Key  string // http_addr, or providers.vpos.api_token
}

// Variables lists every environment variable the config reads, in the
// order of the file's keys: PAYSYNC_CONFIG first, then the top-level keys,
// then each registered provider's and connector's section. Help texts print
// it, so that it cannot drift from what Load reads.
func Variables() []Variable {
	cfg := Defaults()
	out := []Variable{{Name: "PAYSYNC_CONFIG", Key: "(the config file itself)"}}
	out = appendVariables(out, reflect.ValueOf(&cfg).Elem(), "")
	for _, s := range cfg.sections() {
		out = appendVariables(out, reflect.ValueOf(s.settings), s.key+".")
	}
	return out
}

// appendVariables walks v the way applyEnv does.
func appendVariables(out []Variable, v reflect.Value, prefix string) []Variable {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return out
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return out
	}
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		if name = strings.TrimSpace(name); name != "" {
			out = append(out, Variable{Name: name, Key: prefix + key})
		} else if f.Type.Kind() == reflect.Struct && key != "" && key != "-" {
			out = appendVariables(out, v.Field(i), prefix+key+".")
		}
	}
	return out
}
