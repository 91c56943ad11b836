// Package sandbox serves every local double on one address, each under its
// own prefix: /vpos (VPOS.am), /arca (ArCa/RBS, REST at /arca/payment/rest)
// and one prefix per registered CRM connector, named after it (/bitrix24,
// /amocrm, /sheets: see package connectors). `paysync sandbox` and
// `paysync demo` run it; tests use the doubles one by one.
package sandbox

import (
	"encoding/json"
	"hash/fnv"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/paysync/paysync/connectors"
	_ "github.com/paysync/paysync/connectors/all" // every CRM double of this release
	arcasandbox "github.com/paysync/paysync/sandbox/arca"
	"github.com/paysync/paysync/sandbox/chaos"
	vpossandbox "github.com/paysync/paysync/sandbox/vpos"
)

// Options says where the sandbox is reached and where it sends webhooks.
type Options struct {
	// BaseURL is how clients reach this sandbox, e.g. http://127.0.0.1:8090.
	BaseURL string
	// PaysyncURL is the paysync that receives webhooks and callbacks, e.g.
	// http://127.0.0.1:8080; empty drops them.
	PaysyncURL string
	// Dir is where doubles may write files (a service-account key, say);
	// default a temporary folder.
	Dir string
	// Logger hears of webhooks and callbacks paysync did not take
	// (default: silent).
	Logger *slog.Logger
}

// Sandbox is the composed doubles.
type Sandbox struct {
	VPOS *vpossandbox.Server
	ArCa *arcasandbox.Gateway
	// CRMs are the registered connectors' doubles, by connector name.
	CRMs    map[string]connectors.Double
	mux     *http.ServeMux
	baseURL string

	mu    sync.Mutex
	chaos *chaos.Profile // the profile SetChaos last turned on, nil when off
}

// New builds the doubles with their default credentials.
func New(o Options) *Sandbox {
	base := strings.TrimSuffix(o.BaseURL, "/")
	s := &Sandbox{baseURL: base, mux: http.NewServeMux(), CRMs: map[string]connectors.Double{}}
	vo := vpossandbox.Options{PublicURL: base + "/vpos", Logger: o.Logger}
	ao := arcasandbox.Options{PublicURL: base + "/arca", Logger: o.Logger}
	if o.PaysyncURL != "" {
		p := strings.TrimSuffix(o.PaysyncURL, "/")
		vo.WebhookURL = p + "/webhooks/vpos"
		ao.CallbackURL = p + "/webhooks/arca"
	}
	s.VPOS = vpossandbox.New(vo)
	s.ArCa = arcasandbox.New(ao)
	s.mux.Handle("/vpos/", http.StripPrefix("/vpos", s.VPOS))
	s.mux.Handle("/arca/", http.StripPrefix("/arca", s.ArCa))
	for _, spec := range connectors.All() {
		if spec.Sandbox == nil {
			continue
		}
		prefix := "/" + spec.Name
		d := spec.Sandbox(connectors.SandboxOptions{PublicURL: base + prefix, Dir: o.Dir})
		s.CRMs[spec.Name] = d
		s.mux.Handle(prefix+"/", http.StripPrefix(prefix, d))
	}
	s.mux.HandleFunc("GET /{$}", s.index)
	s.mux.HandleFunc("/_sandbox/chaos", s.serveChaos)
	return s
}

// SetChaos turns the random faults of every CRM double on (a profile) or
// off (nil). Each double draws from its own generator, seeded from the
// profile's seed and its name, so that a run with the same seed and the
// same requests repeats.
func (s *Sandbox) SetChaos(p *chaos.Profile) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p == nil {
		s.chaos = nil
	} else {
		cp := *p
		s.chaos = &cp
	}
	for name, d := range s.CRMs {
		if p == nil {
			d.SetChaos(nil)
			continue
		}
		own := *p
		h := fnv.New64a()
		h.Write([]byte(name))
		own.Seed ^= h.Sum64()
		d.SetChaos(&own)
	}
}

// ChaosStats counts the faults injected so far, by CRM double.
func (s *Sandbox) ChaosStats() map[string]chaos.Stats {
	out := map[string]chaos.Stats{}
	for name, d := range s.CRMs {
		out[name] = d.ChaosStats()
	}
	return out
}

// serveChaos is the switch over HTTP: POST /_sandbox/chaos with a profile
// (fields left out take chaos.Default's values) turns the faults on,
// DELETE turns them off, GET shows the profile and the counts.
func (s *Sandbox) serveChaos(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
		p := chaos.Default(0)
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&p); err != nil && err.Error() != "EOF" {
			http.Error(w, "the body is a chaos profile such as {\"seed\":1,\"server_errors\":0.1,\"timeouts\":0.05,\"lost_answers\":0.05,\"bursts\":0.01,\"burst_length\":\"2s\"}: "+err.Error(), http.StatusBadRequest)
			return
		}
		if err := p.Validate(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.SetChaos(&p)
	case http.MethodDelete:
		s.SetChaos(nil)
	case http.MethodGet:
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		http.Error(w, "use GET, POST or DELETE", http.StatusMethodNotAllowed)
		return
	}
	s.mu.Lock()
	out := map[string]any{"profile": s.chaos, "injected": s.ChaosStats()}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Close stops the doubles' background senders.
func (s *Sandbox) Close() {
	s.VPOS.Close()
	s.ArCa.Close()
	for _, d := range s.CRMs {
		d.Close()
	}
}

// Env is the paysync environment that points every provider and connector at this sandbox.
func (s *Sandbox) Env() map[string]string {
	env := map[string]string{
		"PAYSYNC_VPOS_BASE_URL":       s.baseURL + "/vpos",
		"PAYSYNC_VPOS_API_TOKEN":      s.VPOS.Token(),
		"PAYSYNC_VPOS_WEBHOOK_SECRET": s.VPOS.WebhookSecret(),
		"PAYSYNC_ARCA_BASE_URL":       s.baseURL + "/arca/payment/rest",
		"PAYSYNC_ARCA_USERNAME":       arcasandbox.DefaultUsername,
		"PAYSYNC_ARCA_PASSWORD":       arcasandbox.DefaultPassword,
		"PAYSYNC_ARCA_CALLBACK_KEY":   arcasandbox.DefaultCallbackKey,
	}
	for _, d := range s.CRMs {
		for k, v := range d.Env() {
			env[k] = v
		}
	}
	return env
}

// Describe says what each CRM double holds for an order, by connector name.
func (s *Sandbox) Describe(orderID string) map[string]string {
	out := map[string]string{}
	for name, d := range s.CRMs {
		out[name] = d.Describe(orderID)
	}
	return out
}

// CRMNames lists the CRM doubles, sorted.
func (s *Sandbox) CRMNames() []string {
	var out []string
	for name := range s.CRMs {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

func (s *Sandbox) index(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	var b strings.Builder
	b.WriteString("paysync sandbox: local doubles of VPOS.am (/vpos/), ArCa (/arca/payment/rest/)")
	for _, name := range s.CRMNames() {
		spec, _ := connectors.Lookup(name)
		b.WriteString(", " + spec.Title + " (/" + name + "/)")
	}
	b.WriteString(".\nPoint paysync at them with the environment printed by `paysync sandbox`.\n")
	w.Write([]byte(b.String()))
}
