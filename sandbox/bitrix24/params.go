package bitrix24

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// omap is a PHP array: string keys in insertion order. Request parameters
// decode into it (so that batch commands run in the order they were sent)
// and answers encode from it (so that field order matches the portal's).
// An empty omap encodes as [] exactly like PHP's json_encode of array().
type omap struct {
	keys []string
	vals map[string]any
}

func newOmap() *omap { return &omap{vals: map[string]any{}} }

func (m *omap) Set(k string, v any) {
	if _, ok := m.vals[k]; !ok {
		m.keys = append(m.keys, k)
	}
	m.vals[k] = v
}

func (m *omap) Get(k string) (any, bool) {
	if m == nil {
		return nil, false
	}
	v, ok := m.vals[k]
	return v, ok
}

func (m *omap) Delete(k string) {
	if _, ok := m.vals[k]; !ok {
		return
	}
	delete(m.vals, k)
	for i, key := range m.keys {
		if key == k {
			m.keys = append(m.keys[:i:i], m.keys[i+1:]...)
			break
		}
	}
}

func (m *omap) Len() int {
	if m == nil {
		return 0
	}
	return len(m.keys)
}

func (m *omap) Keys() []string {
	if m == nil {
		return nil
	}
	return m.keys
}

// nextIndex is what PHP gives to `a[]=`: one more than the largest integer key.
func (m *omap) nextIndex() string {
	next := 0
	for _, k := range m.keys {
		if n, err := strconv.Atoi(k); err == nil && n >= next {
			next = n + 1
		}
	}
	return strconv.Itoa(next)
}

func (m *omap) MarshalJSON() ([]byte, error) {
	if m == nil || len(m.keys) == 0 {
		return []byte("[]"), nil
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range m.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		vb, err := json.Marshal(m.vals[k])
		if err != nil {
			return nil, err
		}
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// parseQuery decodes a query string PHP's way (parse_str): pairs in order,
// `a[b][c]=v` into nested arrays, `a[]=v` appended.
func parseQuery(q string, into *omap) {
	for _, part := range strings.Split(q, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			continue
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			continue
		}
		setBracketed(into, key, val)
	}
}

func setBracketed(into *omap, key, val string) {
	base, rest, hasBracket := strings.Cut(key, "[")
	if base == "" {
		return
	}
	if !hasBracket || !strings.Contains(rest, "]") {
		into.Set(key, val)
		return
	}
	path := []string{base}
	rest = "[" + rest
	for strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			break
		}
		path = append(path, rest[1:end])
		rest = rest[end+1:]
	}
	cur := into
	for i, seg := range path {
		if seg == "" && i > 0 {
			seg = cur.nextIndex()
		}
		if i == len(path)-1 {
			cur.Set(seg, val)
			return
		}
		child, ok := cur.vals[seg].(*omap)
		if !ok {
			child = newOmap()
			cur.Set(seg, child)
		}
		cur = child
	}
}

// decodeJSON decodes a JSON value keeping object key order (objects become
// *omap) and numbers exact (json.Number).
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after JSON value")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			m := newOmap()
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				m.Set(k, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return m, nil
		case '[':
			list := []any{}
			for dec.More() {
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				list = append(list, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return list, nil
		}
		return nil, fmt.Errorf("unexpected %v", t)
	default:
		return t, nil
	}
}

const maxBody = 4 << 20

// readParams merges the query string and the body (JSON or form) into one
// parameter array, the way the REST module reads $_REQUEST plus a JSON body.
func readParams(r *http.Request) (*omap, error) {
	params := newOmap()
	parseQuery(r.URL.RawQuery, params)
	if r.Body == nil {
		return params, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxBody {
		return nil, errors.New("request body too large")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return params, nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" || (ct == "" && bytes.HasPrefix(bytes.TrimSpace(body), []byte("{"))) {
		v, err := decodeJSON(body)
		if err != nil {
			return nil, err
		}
		if v == nil {
			return params, nil
		}
		m, ok := v.(*omap)
		if !ok {
			return nil, errors.New("JSON body must be an object")
		}
		for _, k := range m.keys {
			params.Set(k, m.vals[k])
		}
		return params, nil
	}
	parseQuery(string(body), params)
	return params, nil
}

// Value helpers: parameters arrive as strings (form), json.Number, bool,
// []any or *omap, and every method accepts them all as PHP would.

func str(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	case json.Number:
		return t.String()
	case bool:
		if t {
			return "1"
		}
		return ""
	case int:
		return strconv.Itoa(t)
	case int64:
		return strconv.FormatInt(t, 10)
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	}
	return ""
}

// list returns the values of an array; a scalar is a one-element list.
func list(v any) []any {
	switch t := v.(type) {
	case nil:
		return nil
	case []any:
		return t
	case *omap:
		keys := append([]string(nil), t.keys...)
		numeric := true
		for _, k := range keys {
			if _, err := strconv.Atoi(k); err != nil {
				numeric = false
				break
			}
		}
		if numeric {
			sort.SliceStable(keys, func(i, j int) bool {
				a, _ := strconv.Atoi(keys[i])
				b, _ := strconv.Atoi(keys[j])
				return a < b
			})
		}
		out := make([]any, 0, len(keys))
		for _, k := range keys {
			out = append(out, t.vals[k])
		}
		return out
	}
	return []any{v}
}

// object returns v as an array with keys, or nil.
func object(v any) *omap {
	switch t := v.(type) {
	case *omap:
		return t
	case []any:
		m := newOmap()
		for i, e := range t {
			m.Set(strconv.Itoa(i), e)
		}
		return m
	}
	return nil
}

func toInt(v any) (int, bool) {
	s := strings.TrimSpace(str(v))
	if s == "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != float64(int(f)) {
			return 0, false
		}
		n = int(f)
	}
	return n, true
}

func truthy(v any) bool {
	switch s := strings.ToUpper(str(v)); s {
	case "", "0", "N", "FALSE", "NO":
		return false
	}
	return true
}
