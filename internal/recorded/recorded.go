// Package recorded replays the vendors' documented request/answer examples
// (testdata/exchanges/*.json beside each connector and provider) against
// both sides paysync has of a vendor: its client, which must parse the
// documented answer, and its local double, which must answer the
// documented request in the same shape. A misreading of the docs that went
// into both (they were written from the same notes) then shows up as a
// documented example one of them cannot take.
package recorded

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// Exchange is one documented example: a request and the vendor's answer.
type Exchange struct {
	Name string `json:"-"` // the file's name without .json
	// Source says where the example is documented, and what was changed
	// (ids made up by the docs, a row left out).
	Source   string   `json:"source"`
	Request  Request  `json:"request"`
	Response Response `json:"response"`
	// Double, when false, keeps the example from being replayed against
	// the double; NoDouble says why (a method the double does not serve).
	Double   *bool  `json:"double,omitempty"`
	NoDouble string `json:"no_double,omitempty"`
}

// Request is the documented request. Credentials are left out: each
// replay adds its own.
type Request struct {
	Method string          `json:"method"`
	Path   string          `json:"path"`
	Query  string          `json:"query,omitempty"` // raw, without "?"
	Form   string          `json:"form,omitempty"`  // a form body, raw
	Body   json.RawMessage `json:"body,omitempty"`  // a JSON body
}

// Response is the documented answer.
type Response struct {
	Status      int             `json:"status"`
	ContentType string          `json:"content_type,omitempty"`
	Body        json.RawMessage `json:"body,omitempty"` // absent: an empty body (amoCRM's 204)
}

// ToDouble reports whether the exchange is replayed against the double.
func (e Exchange) ToDouble() bool { return e.Double == nil || *e.Double }

// Load reads every exchange in dir, sorted by name; a test with none fails.
func Load(t testing.TB, dir string) []Exchange {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded exchanges in %s (%v)", dir, err)
	}
	sort.Strings(files)
	var out []Exchange
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var e Exchange
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if e.Source == "" || e.Request.Method == "" || e.Request.Path == "" || e.Response.Status == 0 {
			t.Fatalf("%s: an exchange needs source, request.method, request.path and response.status", f)
		}
		if !e.ToDouble() && e.NoDouble == "" {
			t.Fatalf("%s: say in no_double why the double is not asked", f)
		}
		e.Name = strings.TrimSuffix(filepath.Base(f), ".json")
		out = append(out, e)
	}
	return out
}

// Serve answers every request with the exchange's documented answer, after
// checking that the request is the documented one's method and path; it
// returns the server's URL.
func Serve(t testing.TB, e Exchange) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Bitrix24 clients may add ".json" to the method.
		if r.Method != e.Request.Method || !strings.HasSuffix(strings.TrimSuffix(r.URL.Path, ".json"), e.Request.Path) {
			t.Errorf("%s: the client sent %s %s, the documented request is %s %s", e.Name, r.Method, r.URL.Path, e.Request.Method, e.Request.Path)
		}
		ct := e.Response.ContentType
		if ct == "" && len(e.Response.Body) > 0 {
			ct = "application/json"
		}
		if ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		w.WriteHeader(e.Response.Status)
		_, _ = w.Write(e.Response.Body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// SameShape compares a double's answer with the documented one: every key
// of a documented object is in the answer's, with a value of the same
// shape; an array's elements have the shape of the documented array's
// first element; numbers, strings and booleans match their kind; null
// matches anything (a field the example left empty), and so does a
// documented empty array or object (PHP writes an empty map as []).
// Keys the double adds are allowed. It returns the differences, each at
// its path.
func SameShape(doc, got json.RawMessage) []string {
	var d, g any
	if err := json.Unmarshal(doc, &d); err != nil {
		return []string{"the documented body is not JSON: " + err.Error()}
	}
	if err := json.Unmarshal(got, &g); err != nil {
		return []string{"the answer is not JSON: " + err.Error()}
	}
	var diffs []string
	shape("$", d, g, &diffs)
	return diffs
}

func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	}
	return fmt.Sprintf("%T", v)
}

func empty(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

func shape(path string, d, g any, diffs *[]string) {
	if d == nil || g == nil || empty(d) && (kind(g) == "object" || kind(g) == "array") {
		return
	}
	if kind(d) != kind(g) {
		*diffs = append(*diffs, fmt.Sprintf("%s: documented %s, the double answers %s", path, kind(d), kind(g)))
		return
	}
	switch x := d.(type) {
	case map[string]any:
		gm := g.(map[string]any)
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			gv, ok := gm[k]
			if !ok {
				*diffs = append(*diffs, fmt.Sprintf("%s.%s: documented, missing from the double's answer", path, k))
				continue
			}
			shape(path+"."+k, x[k], gv, diffs)
		}
	case []any:
		for i, gv := range g.([]any) {
			shape(fmt.Sprintf("%s[%d]", path, i), x[0], gv, diffs)
		}
	}
}
