package bitrix24

import (
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// EncodeQuery encodes params the way PHP's http_build_query does, which is
// how batch commands carry their parameters:
//
//	{"fields": {"TITLE": "x", "PHONE": [{"VALUE": "+374…"}]}}
//	-> fields[PHONE][0][VALUE]=%2B374…&fields[TITLE]=x
//
// Map keys are sorted so that the output is stable; slices use their index;
// booleans become 1 and 0; nil values and empty arrays are left out, as PHP
// does. Brackets stay literal for readability; PHP decodes them either way.
func EncodeQuery(params map[string]any) string {
	var pairs []string
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		pairs = appendPairs(pairs, escapeKey(k), reflect.ValueOf(params[k]))
	}
	return strings.Join(pairs, "&")
}

func escapeKey(k string) string {
	return url.QueryEscape(k)
}

func appendPairs(pairs []string, prefix string, v reflect.Value) []string {
	for v.IsValid() && (v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer) {
		if v.IsNil() {
			return pairs
		}
		v = v.Elem()
	}
	if !v.IsValid() {
		return pairs
	}
	if n, ok := v.Interface().(json.Number); ok {
		return append(pairs, prefix+"="+url.QueryEscape(n.String()))
	}
	switch v.Kind() {
	case reflect.Map:
		keys := make([]string, 0, v.Len())
		byKey := map[string]reflect.Value{}
		for _, mk := range v.MapKeys() {
			s := fmt.Sprint(mk.Interface())
			keys = append(keys, s)
			byKey[s] = v.MapIndex(mk)
		}
		sort.Strings(keys)
		for _, k := range keys {
			pairs = appendPairs(pairs, prefix+"["+escapeKey(k)+"]", byKey[k])
		}
		return pairs
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			return append(pairs, prefix+"="+url.QueryEscape(string(v.Bytes())))
		}
		for i := 0; i < v.Len(); i++ {
			pairs = appendPairs(pairs, prefix+"["+strconv.Itoa(i)+"]", v.Index(i))
		}
		return pairs
	case reflect.Bool:
		if v.Bool() {
			return append(pairs, prefix+"=1")
		}
		return append(pairs, prefix+"=0")
	case reflect.String:
		return append(pairs, prefix+"="+url.QueryEscape(v.String()))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return append(pairs, prefix+"="+strconv.FormatInt(v.Int(), 10))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return append(pairs, prefix+"="+strconv.FormatUint(v.Uint(), 10))
	case reflect.Float32, reflect.Float64:
		return append(pairs, prefix+"="+strconv.FormatFloat(v.Float(), 'f', -1, 64))
	}
	return append(pairs, prefix+"="+url.QueryEscape(fmt.Sprint(v.Interface())))
}

// Command is one command of a batch. Key names it for $result[Key]
// references in later commands' parameter values (e.g. "$result[c1]").
type Command struct {
	Key    string
	Method string
	Params map[string]any
}

// String is the command as the batch carries it: "method?query".
func (c Command) String() string {
	q := EncodeQuery(c.Params)
	if q == "" {
		return c.Method
	}
	return c.Method + "?" + q
}

// batchBody builds {"halt":…,"cmd":{k:"method?query",…},"auth":…} keeping the
// commands in the caller's order: the portal runs them in body order, and
// $result references need earlier commands first.
func batchBody(cmds []Command, halt bool, auth string) []byte {
	var b strings.Builder
	b.WriteString(`{"halt":`)
	if halt {
		b.WriteString("1")
	} else {
		b.WriteString("0")
	}
	b.WriteString(`,"cmd":{`)
	for i, c := range cmds {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(c.Key)
		v, _ := json.Marshal(c.String())
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	if auth != "" {
		a, _ := json.Marshal(auth)
		b.WriteString(`,"auth":`)
		b.Write(a)
	}
	b.WriteByte('}')
	return []byte(b.String())
}

// phpMap decodes a PHP array that json_encode may have written as an object,
// as [] when empty, or as a list when its keys were 0..n-1.
func phpMap(raw json.RawMessage) (map[string]json.RawMessage, error) {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return map[string]json.RawMessage{}, nil
	}
	if strings.HasPrefix(s, "[") {
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, err
		}
		out := make(map[string]json.RawMessage, len(list))
		for i, v := range list {
			out[strconv.Itoa(i)] = v
		}
		return out, nil
	}
	out := map[string]json.RawMessage{}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, err
	}
	return out, nil
}
