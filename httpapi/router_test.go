package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/paysync/paysync/httpapi"
)

// TestRouterAnswersJSON: what http.ServeMux would answer in plain text (an
// unknown path, a method the path does not take) is a JSON error; routed
// requests keep their path values, and a redirect to the cleaned path
// still happens.
func TestRouterAnswersJSON(t *testing.T) {
	t.Parallel()
	rt := httpapi.NewRouter()
	rt.HandleFunc("GET /v1/orders/{order_id}", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(r.PathValue("order_id"))) })
	rt.HandleFunc("POST /v1/orders", func(w http.ResponseWriter, r *http.Request) {})
	if got := rt.Patterns(); len(got) != 2 || got[0] != "GET /v1/orders/{order_id}" {
		t.Fatalf("patterns %v", got)
	}
	for _, tc := range []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{"GET", "/v1/orders/IG-1", 200, "", ""},
		{"GET", "/v1/nothing", 404, "not_found", ""},
		{"DELETE", "/v1/orders/IG-1", 405, "method_not_allowed", "GET, HEAD"},
		{"GET", "/v1/orders", 405, "method_not_allowed", "POST"},
		{"GET", "/v1//orders/IG-1", 307, "", ""},
	} {
		w := httptest.NewRecorder()
		rt.ServeHTTP(w, httptest.NewRequest(tc.method, tc.path, nil))
		if w.Code != tc.status || w.Header().Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d Allow %q, want %d %q: %s", tc.method, tc.path, w.Code, w.Header().Get("Allow"), tc.status, tc.allow, w.Body)
			continue
		}
		if tc.status == 200 && w.Body.String() != "IG-1" {
			t.Errorf("the routed handler saw order_id %q", w.Body)
		}
		if tc.code == "" {
			continue
		}
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error.Code != tc.code || e.Error.Message == "" ||
			w.Header().Get("Content-Type") != "application/json; charset=utf-8" {
			t.Errorf("%s %s: %s %q (%v), want a JSON %s error", tc.method, tc.path, w.Header().Get("Content-Type"), w.Body, err, tc.code)
		}
	}
}
