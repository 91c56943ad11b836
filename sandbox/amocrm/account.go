// Package amocrm is a local double of one amoCRM (Kommo) account's API v4,
// faithful to what paysync relies on: long-lived and OAuth 2.0 tokens with
// single-use refresh tokens, leads (GET with query and filters, POST, PATCH,
// /leads/complex with embedded contacts), bulk notes, pipelines with their
// statuses, lead custom fields, the account, problem+json errors with
// validation-errors by request_id, and the strict limit of 7 requests in any
// second that turns repeated 429s into an HTML 403 block. It also injects
// faults (5xx, hangs, lost answers after a create, an unpaid account, a
// manager moving a lead, an account rebuilt under the same ids) so that the
// connector is tested against what it meets in production.
//
// Import it as amocrmsandbox next to connectors/amocrm.
package amocrm

import (
	"encoding/json"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/paysync/paysync/sandbox/chaos"
)

// Defaults of the double's account.
const (
	// DefaultLimit requests may start in any Window; the next gets 429.
	DefaultLimit  = 7
	DefaultWindow = time.Second
	// DefaultBlockAfter 429s within BlockWindow block the account: every
	// request then gets nginx's HTML 403 until Unblock (amoCRM support).
	DefaultBlockAfter = 20
	BlockWindow       = time.Minute

	DefaultAccessToken  = "sandbox-amocrm-long-lived-token"
	DefaultClientID     = "5f8a1c2e-0b7d-4e61-9a3c-sandbox00001"
	DefaultClientSecret = "sandbox-amocrm-client-secret"
	DefaultRedirectURI  = "https://paysync.example/amocrm/oauth"
	DefaultSubdomain    = "paysync-sandbox"
	AccessTokenTTL      = 24 * time.Hour
	RefreshTokenTTL     = 90 * 24 * time.Hour

	// MaxEntities is the most entities one request may carry (422 above);
	// MaxComplex the most leads of one /leads/complex request.
	MaxEntities = 250
	MaxComplex  = 50

	AccountID     = 29000001
	DefaultUserID = 5000001
)

// The shipped mapping/amocrm.yaml names these ids.
const (
	PipelineID      = 7412345
	StatusUnsorted  = 61234560
	StatusNew       = 61234561
	StatusAwaiting  = 61234562
	StatusPaid      = 61234563
	StatusShipped   = 61234564
	StatusWon       = 142
	StatusLost      = 143
	FieldOrderID    = 1093761
	FieldInstagram  = 1093763
	FieldPayStatus  = 1093765
	FieldPayURL     = 1093767
	FieldPaidAt     = 1093769
	FieldDelivery   = 1093771
	FieldContactIG  = 1093773
	FieldPhone      = 1093701
	FieldEmail      = 1093703
	EnumDeliveryAny = 845589
	firstLeadID     = 10185151
	firstContactID  = 20420001
	firstNoteID     = 30510001
	firstTagID      = 501
)

// Options configure an account. The zero value is the account the shipped
// mapping was written for, on the wall clock.
type Options struct {
	// Now is the account's clock (default time.Now).
	Now func() time.Time
	// Limit requests may start in any Window (defaults 7 and 1 s).
	Limit  int
	Window time.Duration
	// BlockAfter 429s within a minute block the account (default 20).
	BlockAfter int
	// AccessToken is a long-lived token the account accepts (default
	// DefaultAccessToken; "-" for none).
	AccessToken string
	// The OAuth integration the account knows.
	ClientID     string
	ClientSecret string
	RedirectURI  string
	// PublicURL is the account's base URL as clients see it, for _links
	// (default derived from the request).
	PublicURL string
	Subdomain string
	// Currency is the account's currency (default AMD).
	Currency string
	// OnLeadChange, when set, is called after a lead is created or changed
	// through the API, outside the account's lock (benchmarks wait on it).
	OnLeadChange func(Lead)
	// SearchDelay is how long a lead stays invisible to GET /leads?query=
	// after it is created: amoCRM's full-text search is an index that
	// catches up with the leads, not the leads themselves (the lag of the
	// real one is not documented; filters such as filter[created_at] read
	// the leads and see a new one at once). Default 0.
	SearchDelay time.Duration
	// DuplicateControl turns on amoCRM's duplicate control for the
	// integration: POST /leads/complex merges a lead whose contact shares a
	// phone or an e-mail with an existing contact into that contact's open
	// lead of the same pipeline, answering merged: true with the old ids.
	DuplicateControl bool
}

// Account is one amoCRM account. It is an http.Handler; mount it at the
// root of a server (or under a prefix with http.StripPrefix).
type Account struct {
	opts   Options
	now    func() time.Time
	closed chan struct{}
	once   sync.Once

	mu sync.Mutex
	// limits
	arrivals []time.Time // requests in the current window
	rejected []time.Time // 429s in the last BlockWindow
	limit    int
	blocked  bool
	// account data
	pipelines     []*pipeline
	leadFields    []*field
	contactFields []*field
	leads         map[int]*lead
	leadIDs       []int
	nextLead      int
	contacts      map[int]*contact
	nextContact   int
	notes         map[int][]Note // by lead id
	statusLog     map[int][]int  // by lead id: the statuses the API stored it at, oldest first
	nextNote      int
	tags          map[string]int // by name
	tagNames      map[int]string
	nextTag       int
	// auth
	longLived map[string]bool
	access    map[string]time.Time // access token -> expiry
	refresh   map[string]*refreshState
	codes     map[string]bool // authorization codes not yet exchanged
	// faults
	failNext  []failure
	hangNext  int
	loseNext  []LoseMode
	unpaid    bool
	throttled bool
	plain429  bool
	// strictness a test can change
	searchDelay time.Duration
	dupControl  bool
	stats       Stats
	// chaos draws random faults when a chaos profile is on (SetChaos).
	chaos chaos.Dice
}

type refreshState struct {
	expires time.Time
	used    bool
}

// Stats counts what the account saw.
type Stats struct {
	Requests  int // requests to /api/v4 and /oauth2 (rejected ones included)
	Served    int // requests that passed the limits and auth and ran
	Rejected  int // answered 429
	Forbidden int // answered the 403 block
	Injected  int // answered by an injected fault
	// LostAnswers counts creates whose answer was lost after the work was done.
	LostAnswers int
	// Merged counts leads duplicate control merged into existing ones.
	Merged    int
	Refreshes int // successful token exchanges
	// MaxPerWindow is the most requests that arrived in any sliding Window:
	// a client that keeps to the limit never makes it exceed Limit.
	MaxPerWindow int
	// Calls counts requests that ran, by "METHOD /path" ("PATCH /api/v4/leads").
	Calls map[string]int
	// Entities counts leads, contacts and notes written, by kind.
	Entities map[string]int
}

type failure struct {
	status int
	html   bool
	call   string // "POST /api/v4/leads/notes"; "" for any request
	skip   int    // requests of its kind let through before it strikes
}

// New returns an account with the shop pipeline, the lead and contact
// custom fields of the shipped mapping, and no leads.
func New(opts Options) *Account {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Limit <= 0 {
		opts.Limit = DefaultLimit
	}
	if opts.Window <= 0 {
		opts.Window = DefaultWindow
	}
	if opts.BlockAfter <= 0 {
		opts.BlockAfter = DefaultBlockAfter
	}
	if opts.AccessToken == "" {
		opts.AccessToken = DefaultAccessToken
	}
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = DefaultClientSecret
	}
	if opts.RedirectURI == "" {
		opts.RedirectURI = DefaultRedirectURI
	}
	if opts.Subdomain == "" {
		opts.Subdomain = DefaultSubdomain
	}
	if opts.Currency == "" {
		opts.Currency = "AMD"
	}
	a := &Account{opts: opts, now: opts.Now, closed: make(chan struct{})}
	a.reset()
	return a
}

func (a *Account) reset() {
	a.arrivals, a.rejected, a.limit, a.blocked = nil, nil, a.opts.Limit, false
	a.pipelines = defaultPipelines()
	a.leadFields, a.contactFields = defaultLeadFields(), defaultContactFields()
	a.forget()
	a.longLived = map[string]bool{}
	if a.opts.AccessToken != "-" {
		a.longLived[a.opts.AccessToken] = true
	}
	a.access, a.refresh, a.codes = map[string]time.Time{}, map[string]*refreshState{}, map[string]bool{}
	a.failNext, a.hangNext, a.loseNext = nil, 0, nil
	a.unpaid, a.throttled, a.plain429 = false, false, false
	a.searchDelay, a.dupControl = a.opts.SearchDelay, a.opts.DuplicateControl
	a.stats = Stats{Calls: map[string]int{}, Entities: map[string]int{}}
}

// forget drops every lead, contact, note and tag and restarts their ids.
func (a *Account) forget() {
	a.leads, a.leadIDs, a.nextLead = map[int]*lead{}, nil, firstLeadID
	a.contacts, a.nextContact = map[int]*contact{}, firstContactID
	a.notes, a.nextNote = map[int][]Note{}, firstNoteID
	a.statusLog = map[int][]int{}
	a.tags, a.tagNames, a.nextTag = map[string]int{}, map[int]string{}, firstTagID
}

// Close releases requests that hang on an injected fault.
func (a *Account) Close() { a.once.Do(func() { close(a.closed) }) }

// AccessToken is the long-lived token the account accepts.
func (a *Account) AccessToken() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	for t := range a.longLived {
		return t
	}
	return ""
}

// ClientID, ClientSecret and RedirectURI are the OAuth integration's.
func (a *Account) ClientID() string     { return a.opts.ClientID }
func (a *Account) ClientSecret() string { return a.opts.ClientSecret }
func (a *Account) RedirectURI() string  { return a.opts.RedirectURI }

// problem is an application/problem+json answer.
type problem struct {
	Validation []validationItem `json:"validation-errors,omitempty"`
	Hint       string           `json:"hint,omitempty"`
	Title      string           `json:"title"`
	Type       string           `json:"type"`
	Status     int              `json:"status"`
	Detail     string           `json:"detail"`
	RetryAfter int              `json:"retry_after,omitempty"`
}

type validationItem struct {
	RequestID string            `json:"request_id"`
	Errors    []validationError `json:"errors"`
}

type validationError struct {
	Code   string `json:"code"`
	Path   string `json:"path"`
	Detail string `json:"detail"`
}

var titles = map[int]string{
	400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden", 404: "Not Found",
	405: "Method Not Allowed", 422: "Unprocessable Entity", 429: "Too Many Requests",
	500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}

func newProblem(status int, detail string) *problem {
	return &problem{Title: titles[status], Type: "https://httpstatus.es/" + strconv.Itoa(status), Status: status, Detail: detail}
}

func writeProblem(w http.ResponseWriter, p *problem) {
	b, _ := json.Marshal(p)
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_, _ = w.Write(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeProblem(w, newProblem(500, "encode failed"))
		return
	}
	w.Header().Set("Content-Type", "application/hal+json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeNginx answers with nginx's HTML error page, as amoCRM's front does
// for blocks and gateway errors.
func writeNginx(w http.ResponseWriter, status int) {
	text := strconv.Itoa(status) + " " + titles[status]
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(status)
	_, _ = w.Write([]byte("<html>\r\n<head><title>" + text + "</title></head>\r\n<body>\r\n<center><h1>" + text +
		"</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"))
}

func (a *Account) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case strings.HasPrefix(path, "/_sandbox"):
		a.serveAdmin(w, r)
		return
	case strings.HasPrefix(path, "/leads/detail/"):
		a.serveDetail(w, r)
		return
	case path != "/oauth2/access_token" && !strings.HasPrefix(path, "/api/v4/"):
		writeProblem(w, newProblem(404, "Not found"))
		return
	}

	a.mu.Lock()
	a.stats.Requests++
	if a.blocked {
		a.stats.Forbidden++
		a.mu.Unlock()
		writeNginx(w, http.StatusForbidden)
		return
	}
	if wait, ok := a.admit(); !ok {
		plain := a.plain429
		a.mu.Unlock()
		secs := int((wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		if plain {
			writeNginx(w, http.StatusTooManyRequests)
			return
		}
		p := newProblem(http.StatusTooManyRequests, "Too many requests")
		p.RetryAfter = secs
		writeProblem(w, p)
		return
	}
	if path == "/oauth2/access_token" {
		defer a.mu.Unlock()
		a.serveToken(w, r)
		return
	}
	if p := a.authenticate(r.Header.Get("Authorization")); p != nil {
		a.mu.Unlock()
		writeProblem(w, p)
		return
	}
	if a.unpaid {
		a.mu.Unlock()
		writeProblem(w, newProblem(http.StatusPaymentRequired, "Account is not paid"))
		return
	}
	switch a.chaos.Draw(a.now()) {
	case chaos.Timeout:
		a.mu.Unlock()
		a.hang(r)
		return
	case chaos.ServerError:
		a.mu.Unlock()
		writeNginx(w, http.StatusBadGateway)
		return
	case chaos.RateLimited:
		// Another integration spent the account's budget: 429 as admit
		// answers it, but not counted toward the block, which is its own
		// fault (Block).
		plain := a.plain429
		a.mu.Unlock()
		w.Header().Set("Retry-After", "1")
		if plain {
			writeNginx(w, http.StatusTooManyRequests)
			return
		}
		p := newProblem(http.StatusTooManyRequests, "Too many requests")
		p.RetryAfter = 1
		writeProblem(w, p)
		return
	}
	if a.hangNext > 0 {
		a.hangNext--
		a.stats.Injected++
		a.mu.Unlock()
		a.hang(r)
		return
	}
	if f, ok := a.takeFailure(r.Method + " " + callKey(path)); ok {
		a.stats.Injected++
		a.mu.Unlock()
		if f.html {
			writeNginx(w, f.status)
		} else {
			writeProblem(w, newProblem(f.status, "Internal error"))
		}
		return
	}
	a.stats.Served++
	res := a.route(r, path)
	var lose LoseMode
	if res.created && res.status/100 == 2 && len(a.loseNext) > 0 {
		lose = a.loseNext[0]
		a.loseNext = a.loseNext[1:]
		a.stats.LostAnswers++
	}
	if lose == 0 && r.Method != http.MethodGet && res.problem == nil && res.status/100 == 2 {
		lose = a.chaos.DrawLoss()
	}
	hook := a.opts.OnLeadChange
	a.mu.Unlock()

	if hook != nil {
		for _, l := range res.changed {
			hook(l)
		}
	}
	switch {
	case lose != 0:
		a.loseAnswer(w, r, lose)
	case res.problem != nil:
		writeProblem(w, res.problem)
	case res.status == http.StatusNoContent:
		w.WriteHeader(http.StatusNoContent)
	default:
		writeJSON(w, res.status, res.body)
	}
}

// result is what an API handler produced. Handlers run under a.mu.
type result struct {
	status  int
	body    any
	problem *problem
	created bool   // the request created leads
	changed []Lead // leads created or changed, for OnLeadChange
}

func fail(p *problem) result { return result{problem: p} }

func (a *Account) route(r *http.Request, path string) result {
	a.stats.Calls[r.Method+" "+callKey(path)]++
	seg := strings.Split(strings.TrimPrefix(path, "/api/v4/"), "/")
	switch {
	case path == "/api/v4/account" && r.Method == http.MethodGet:
		return a.getAccount(r)
	case path == "/api/v4/leads":
		switch r.Method {
		case http.MethodGet:
			return a.listLeads(r)
		case http.MethodPost:
			return a.addLeads(r)
		case http.MethodPatch:
			return a.updateLeads(r)
		}
	case path == "/api/v4/leads/complex" && r.Method == http.MethodPost:
		return a.addComplex(r)
	case path == "/api/v4/leads/notes" && r.Method == http.MethodPost:
		return a.addNotes(r)
	case path == "/api/v4/leads/custom_fields" && r.Method == http.MethodGet:
		return a.listFields(r)
	case path == "/api/v4/leads/pipelines" && r.Method == http.MethodGet:
		return a.listPipelines()
	case len(seg) >= 3 && seg[0] == "leads" && seg[1] == "pipelines" && r.Method == http.MethodGet:
		return a.getPipeline(seg[2:])
	case len(seg) == 2 && seg[0] == "leads" && r.Method == http.MethodGet:
		return a.getLead(r, seg[1])
	}
	if strings.HasPrefix(path, "/api/v4/leads") || path == "/api/v4/account" {
		return fail(newProblem(http.StatusMethodNotAllowed, "Method not allowed"))
	}
	return fail(newProblem(http.StatusNotFound, "Not found"))
}

// callKey names a path for Stats.Calls, ids replaced by {id}.
func callKey(path string) string {
	seg := strings.Split(path, "/")
	for i, s := range seg {
		if _, err := strconv.Atoi(s); err == nil && s != "" {
			seg[i] = "{id}"
		}
	}
	return strings.Join(seg, "/")
}

// base is the account's URL for _links.
func (a *Account) base(r *http.Request) string {
	if a.opts.PublicURL != "" {
		return strings.TrimRight(a.opts.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

type link struct {
	Href string `json:"href"`
}

type links struct {
	Self link  `json:"self"`
	Next *link `json:"next,omitempty"`
}

func (a *Account) getAccount(r *http.Request) result {
	return result{status: 200, body: map[string]any{
		"id": AccountID, "name": "paysync sandbox shop", "subdomain": a.opts.Subdomain,
		"created_at": 1700000000, "created_by": DefaultUserID, "updated_at": 1700000000, "updated_by": DefaultUserID,
		"current_user_id": DefaultUserID, "country": "AM", "currency": a.opts.Currency, "currency_symbol": currencySymbol(a.opts.Currency),
		"customers_mode": "disabled", "is_unsorted_on": true, "is_loss_reason_enabled": false, "is_helpbot_enabled": false,
		"is_technical_account": false, "contact_name_display_order": 1,
		"_links": links{Self: link{a.base(r) + "/api/v4/account"}},
	}}
}

func currencySymbol(c string) string {
	switch c {
	case "AMD":
		return "֏"
	case "RUB":
		return "₽"
	case "USD":
		return "$"
	case "EUR":
		return "€"
	}
	return c
}

func (a *Account) hang(r *http.Request) { chaos.Hang(r, a.closed) }

// LoseMode is how an answer is lost after the work was done.
type LoseMode = chaos.Loss

const (
	// LoseWith502 answers nginx's 502 page (the backend's answer never came).
	LoseWith502 = chaos.LostError
	// LoseConnection closes the connection without an answer.
	LoseConnection = chaos.LostClose
	// LoseHang never answers; the client times out.
	LoseHang = chaos.LostHang
)

func (a *Account) loseAnswer(w http.ResponseWriter, r *http.Request, mode LoseMode) {
	chaos.Lose(w, r, mode, a.closed, func(w http.ResponseWriter) { writeNginx(w, http.StatusBadGateway) })
}

// leadPage is what a person sees at a lead's address (/leads/detail/ID),
// enough for a link from the console to land on the lead paysync made.
var leadPage = template.Must(template.New("lead").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Lead #{{.Lead.ID}} · amoCRM sandbox</title></head>
<body style="font-family:system-ui,sans-serif;margin:2rem;max-width:50rem">
<p style="color:#666">amoCRM sandbox account · Leads</p>
<h1 id="lead-name">{{.Lead.Name}}</h1>
<table>
<tr><th align="left">Lead</th><td id="lead-id">#{{.Lead.ID}}</td></tr>
<tr><th align="left">Status</th><td id="lead-status">{{.Status}}</td></tr>
<tr><th align="left">Price</th><td id="lead-price">{{.Lead.Price}} {{.Currency}}</td></tr>
<tr><th align="left">Order ID</th><td id="lead-order">{{.Lead.OrderID}}</td></tr>
<tr><th align="left">Tags</th><td>{{range $i, $t := .Lead.Tags}}{{if $i}}, {{end}}{{$t}}{{end}}</td></tr>
</table>
{{if .Notes}}<h2>Notes</h2><ul>{{range .Notes}}<li>{{.Text}}</li>{{end}}</ul>{{end}}
</body></html>`))

// serveDetail serves GET /leads/detail/{id}.
func (a *Account) serveDetail(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(strings.Trim(strings.TrimPrefix(r.URL.Path, "/leads/detail/"), "/"))
	l, ok := a.Lead(id)
	if err != nil || !ok || r.Method != http.MethodGet {
		http.Error(w, "Lead not found", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = leadPage.Execute(w, map[string]any{"Lead": l, "Status": a.StatusName(l.PipelineID, l.StatusID),
		"Currency": a.opts.Currency, "Notes": a.Notes(id)})
}
