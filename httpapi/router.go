package httpapi

import (
	"net/http"
	"strings"

	"github.com/paysync/paysync/core"
)

// Router is an http.ServeMux that answers what it does not route with the
// API's JSON errors, as every other error is answered: 404 for a path it
// does not serve and 405, with Allow, for a method its path does not take
// (http.ServeMux writes both as plain text). It remembers its patterns, so
// that a test can check that each is documented in openapi.json.
type Router struct {
	mux      *http.ServeMux
	patterns []string
}

// NewRouter returns an empty Router.
func NewRouter() *Router { return &Router{mux: http.NewServeMux()} }

// Handle registers h for pattern, as http.ServeMux.Handle does.
func (rt *Router) Handle(pattern string, h http.Handler) {
	rt.mux.Handle(pattern, h)
	rt.patterns = append(rt.patterns, pattern)
}

// HandleFunc registers h for pattern, as http.ServeMux.HandleFunc does.
func (rt *Router) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	rt.Handle(pattern, http.HandlerFunc(h))
}

// Patterns lists the registered patterns ("GET /v1/orders", "/webhooks/").
func (rt *Router) Patterns() []string { return append([]string(nil), rt.patterns...) }

func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, pattern := rt.mux.Handler(r)
	if pattern == "" {
		// No route: ask the mux's own answer whether the path is unknown
		// or only the method (a redirect to a cleaned path goes through).
		probe := &probeWriter{header: http.Header{}}
		h.ServeHTTP(probe, r)
		switch probe.status {
		case http.StatusNotFound:
			writeError(w, core.Errorf(core.ENOTFOUND, "paysync serves no %s %s: GET /openapi.json lists the endpoints",
				r.Method, core.CleanText(r.URL.Path)))
			return
		case http.StatusMethodNotAllowed:
			allow := probe.header.Get("Allow")
			w.Header().Set("Allow", allow)
			writeError(w, core.Errorf(core.EMETHOD, "%s does not take %s; it takes %s",
				core.CleanText(r.URL.Path), r.Method, strings.ReplaceAll(allow, ", ", " or ")))
			return
		}
	}
	rt.mux.ServeHTTP(w, r)
}

// writeError writes err as JSON `{"error":{"code","message"}}`.
func writeError(w http.ResponseWriter, err error) {
	code := core.ErrorCode(err)
	writeJSON(w, StatusFor(code), map[string]any{"error": map[string]string{"code": code, "message": core.ErrorMessage(err)}})
}

// probeWriter keeps the status and headers of a mux's fallback answer.
type probeWriter struct {
	header http.Header
	status int
}

func (p *probeWriter) Header() http.Header         { return p.header }
func (p *probeWriter) Write(b []byte) (int, error) { return len(b), nil }
func (p *probeWriter) WriteHeader(status int)      { p.status = status }
