// Package sandbox serves every local double on one address, each under its
// own prefix named after the provider or connector it stands in for (/vpos,
// /arca with REST at /arca/payment/rest, /idram, /ameria, /bitrix24,
// /amocrm, /sheets). Doubles register here; package sandbox/all registers
// this release's, so that no production package imports a double. `paysync
// sandbox` and `paysync demo` run it; tests use the doubles one by one.
package sandbox

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/registry"
	"github.com/paysync/paysync/mapping"
	"github.com/paysync/paysync/sandbox/chaos"
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

// DoubleOptions tell one double where it is served and where paysync is.
type DoubleOptions struct {
	// PublicURL is where the double is reached, e.g.
	// http://127.0.0.1:8090/bitrix24 (the sandbox mounts each double under
	// its name).
	PublicURL string
	// PaysyncURL is where paysync is, without a trailing slash ("" drops
	// webhooks and callbacks): a provider's double calls
	// PaysyncURL/webhooks/<name>.
	PaysyncURL string
	// Dir is a folder the double may write files to (a key file to point
	// paysync at, say); "" when it has none.
	Dir string
	// Logger hears of deliveries paysync did not take; nil is silent.
	Logger *slog.Logger
}

// Double is a local stand-in for one outside service paysync talks to: a
// payment provider's API and checkout, or a CRM's API.
type Double interface {
	http.Handler
	// Env is the PAYSYNC_* environment that points paysync at this double.
	Env() map[string]string
	// Close stops the double's background work.
	Close()
}

// Checkout is a payment provider's double as the demo and the tests drive
// it: what a buyer does on its checkout page, and a merchant in its back
// office. Each reaches paysync the way the real provider would (a signed
// webhook, a callback, a buyer sent back to the return page).
type Checkout interface {
	Double
	// Pay: the buyer pays the order in full.
	Pay(orderID string) error
	// Fail: the buyer's payment is declined.
	Fail(orderID string) error
	// Refund returns amountMinor of a paid order (0: all that is left).
	Refund(orderID string, amountMinor int64) error
}

// Chat is a messaging channel's double (Instagram Direct) as the demo
// drives it: a customer writes to the shop, reaching paysync the way the
// real service would (a signed webhook), and a thread reads as the
// customer sees it.
type Chat interface {
	Double
	// CustomerSays is a customer (by their id at the service, and handle)
	// writing to the shop.
	CustomerSays(customerID, handle, text string) error
	// Transcript is the customer's thread, oldest first, a line a message.
	Transcript(customerID string) []string
}

// CRM is a CRM's double as the demo and the chaos test read it.
type CRM interface {
	Double
	// Describe says in a few words what the double holds for an order
	// ("deal 3 at stage WON"), "" when nothing: the demo prints it.
	Describe(orderID string) string
	// SetChaos turns the double's random faults on (a profile) or off
	// (nil); ChaosStats counts what it injected. See package sandbox/chaos.
	SetChaos(p *chaos.Profile)
	ChaosStats() chaos.Stats
	// Records lists every record the double holds for an order, so that a
	// test can check that each order reached the CRM exactly once and in
	// its final state.
	Records() []Record
}

// Record is one record a double holds for an order, read the way the
// connector's shipped mapping writes it.
type Record struct {
	OrderID string // the order id the record carries
	ID      string // the CRM's id for it: a deal or lead id, a row number
	// Stage is the record's stage as the mapping's stages name it (a
	// Bitrix24 STAGE_ID, an amoCRM status_id, a Sheets Status label).
	Stage string
	// Status is the payment status the record shows, read back through the
	// shipped mapping; "" when it shows none the mapping writes.
	Status core.Status
	// Stages is every stage the CRM's API stored the record at, oldest
	// first: the forward-only policy can be checked against it.
	Stages []string
}

// StatusValues reads a mapping backwards: it renders a sample order in each
// payment status through m and maps what value finds in the payload (the
// value a CRM record then holds) to that status. A double uses it to tell
// which status a record shows. Values two statuses share are left out.
func StatusValues(m *mapping.Mapping, value func(mapping.Payload) string) map[string]core.Status {
	out := map[string]core.Status{}
	shared := map[string]bool{}
	for _, st := range core.Statuses {
		o := core.Order{ID: "STATUS-1", Status: st, AmountMinor: 100, Currency: "AMD",
			Items: []core.Item{{Name: "x", Quantity: 1, PriceMinor: 100}}}
		p, err := m.Render(mapping.Input{Order: o})
		if err != nil {
			continue
		}
		v := value(p)
		if v == "" {
			continue
		}
		if _, dup := out[v]; dup {
			shared[v] = true
		}
		out[v] = st
	}
	for v := range shared {
		delete(out, v)
	}
	return out
}

// Spec is one double's registration.
type Spec struct {
	// Name is the provider or connector the double stands in for; it is
	// served under /<name>/.
	Name string
	// Title is how people call the service ("VPOS.am", "Bitrix24").
	Title string
	// New builds the double.
	New func(o DoubleOptions) Double
}

var specs = registry.New[Spec]("double")

// Register adds a double. It panics on a missing name or constructor and on
// a second registration of a name.
func Register(s Spec) {
	if s.Name == "" || s.New == nil {
		panic("sandbox: Register needs Name and New")
	}
	if s.Title == "" {
		s.Title = s.Name
	}
	specs.Add(s.Name, s)
}

// Unregister removes a double; tests that register one of their own remove
// it when they end.
func Unregister(name string) { specs.Remove(name) }

// All lists every registered double, sorted by name.
func All() []Spec { return specs.All() }

// Sandbox is the composed doubles.
type Sandbox struct {
	// Doubles are every registered double, by name; Checkouts and CRMs are
	// the providers' and the CRMs' among them.
	Doubles   map[string]Double
	Checkouts map[string]Checkout
	CRMs      map[string]CRM
	Chats     map[string]Chat
	titles    map[string]string
	mux       *http.ServeMux
	baseURL   string

	mu    sync.Mutex
	chaos *chaos.Profile // the profile SetChaos last turned on, nil when off
}

// New builds every registered double (package sandbox/all registers this
// release's) with its default credentials.
func New(o Options) *Sandbox {
	base := strings.TrimSuffix(o.BaseURL, "/")
	s := &Sandbox{baseURL: base, mux: http.NewServeMux(), Doubles: map[string]Double{},
		Checkouts: map[string]Checkout{}, CRMs: map[string]CRM{}, Chats: map[string]Chat{}, titles: map[string]string{}}
	for _, spec := range All() {
		prefix := "/" + spec.Name
		d := spec.New(DoubleOptions{PublicURL: base + prefix, PaysyncURL: strings.TrimSuffix(o.PaysyncURL, "/"), Dir: o.Dir, Logger: o.Logger})
		s.Doubles[spec.Name], s.titles[spec.Name] = d, spec.Title
		if c, ok := d.(Checkout); ok {
			s.Checkouts[spec.Name] = c
		}
		if c, ok := d.(CRM); ok {
			s.CRMs[spec.Name] = c
		}
		if c, ok := d.(Chat); ok {
			s.Chats[spec.Name] = c
		}
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
	for _, d := range s.Doubles {
		d.Close()
	}
}

// Env is the paysync environment that points every provider and connector at this sandbox.
func (s *Sandbox) Env() map[string]string {
	env := map[string]string{}
	for _, d := range s.Doubles {
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

// Checkout returns the double of a payment provider.
func (s *Sandbox) Checkout(provider string) (Checkout, bool) {
	c, ok := s.Checkouts[provider]
	return c, ok
}

func (s *Sandbox) index(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	names := make([]string, 0, len(s.Doubles))
	for name := range s.Doubles {
		names = append(names, name)
	}
	sort.Strings(names)
	var parts []string
	for _, name := range names {
		parts = append(parts, s.titles[name]+" (/"+name+"/)")
	}
	fmt.Fprintf(w, "paysync sandbox: local doubles of %s.\nPoint paysync at them with the environment printed by `paysync sandbox`.\n", strings.Join(parts, ", "))
}
