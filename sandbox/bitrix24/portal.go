// Package bitrix24sandbox is a local double of one Bitrix24 portal's REST API,
// faithful to what paysync relies on: incoming-webhook and OAuth auth, the
// crm.deal / crm.contact methods, batch, the leaky-bucket limiter, operating
// time limits and the portal's error shapes. It also injects faults (5xx,
// hangs, lost responses, disabled currencies, a manager moving a deal) so that
// connectors can be tested against the failures they meet in production.
//
// It lives in sandbox/bitrix24 but is named bitrix24sandbox so that tests can
// import it next to connectors/bitrix24 without renaming.
package bitrix24

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/paysync/paysync/sandbox/chaos"
)

// Defaults of a cloud portal on a standard plan; Enterprise plans hold 250
// and drain 5 per second.
const (
	DefaultBlockThreshold    = 50
	DefaultDrainPerSecond    = 2.0
	EnterpriseBlockThreshold = 250
	EnterpriseDrainPerSecond = 5.0
	DefaultOperatingLimit    = 480 * time.Second
	DefaultCountCost         = 20 * time.Microsecond
	OperatingWindow          = 10 * time.Minute
	PageSize                 = 50
	FindByCommCap            = 20 // ids crm.duplicate.findbycomm returns per entity type
	MaxBatchCommands         = 50
	DefaultUserID            = "1"
	DefaultWebhookCode       = "sandboxwebhookcode1"
	DefaultClientID          = "local.paysync.sandbox"
	DefaultClientSecret      = "sandbox-client-secret"
	AccessTokenTTL           = time.Hour
)

// Options configure a portal. The zero value is a standard cloud portal.
type Options struct {
	// Now is the portal's clock; tests pass a ManualClock's Now to drain the
	// leaky bucket and expire tokens without sleeping. Default time.Now.
	Now func() time.Time
	// BlockThreshold is the leaky bucket's size (default 50); DrainPerSecond
	// its drain rate (default 2 requests per second). An Enterprise portal
	// is EnterpriseBlockThreshold and EnterpriseDrainPerSecond.
	BlockThreshold int
	DrainPerSecond float64
	// OperatingLimit is the processing time a method may use per 10-minute
	// window (default 480 s). OperatingCost is added to each call's measured
	// time, to reach the limit in tests without slow calls.
	OperatingLimit time.Duration
	OperatingCost  time.Duration
	// CountCost is the operating time a list method (crm.deal.list,
	// crm.contact.list) is charged per row it counts for "total": every
	// call with start ≥ 0 counts every row its filter matches (the docs
	// measure 49.9 s for 2.4 million rows, about 20 µs a row, the default);
	// start=-1 counts nothing and answers without total and next.
	CountCost time.Duration
	// UserID and WebhookCode form the incoming webhook /rest/{UserID}/{WebhookCode}/.
	UserID      string
	WebhookCode string
	// Scopes granted to the webhook and to OAuth tokens (default ["crm"]).
	Scopes []string
	// ClientID and ClientSecret of the OAuth application the portal knows.
	ClientID     string
	ClientSecret string
	// PublicURL is the portal's base URL as clients see it, for the OAuth
	// answer's client_endpoint; default derived from the request's Host.
	PublicURL string
	// BaseCurrency is used when a deal names none (default USD); Currencies
	// are the enabled ones (default AMD, USD, EUR, RUB).
	BaseCurrency string
	Currencies   []string
	// UserFields are the UF_CRM_* deal and contact fields that exist on the portal.
	UserFields []string
	// ListFields are the user fields of type list ("enumeration") and
	// their items; a value that is not one of the item ids is refused
	// (default: UF_CRM_PAYMENT_STATUS with the ids mapping/bitrix24.yaml
	// sends, DefaultPaymentStatusItems).
	ListFields map[string][]ListItem
	// OnDealStage, when set, is called each time the portal stores a deal at
	// a new stage (crm.deal.add, or an update that changes STAGE_ID), at the
	// moment it stores it: benchmarks time payments to the CRM with it. It
	// runs under the portal's lock and must not call the portal.
	OnDealStage func(dealID int, stageID string)
}

// Portal is one Bitrix24 portal. It is an http.Handler; mount it at the root
// of a server (or under a prefix with http.StripPrefix).
type Portal struct {
	opts   Options
	now    func() time.Time
	closed chan struct{}
	once   sync.Once

	mu sync.Mutex
	// bucket
	level     float64
	levelAt   time.Time
	threshold int
	drain     float64
	// data
	deals       map[int]*entity
	dealIDs     []int
	nextDeal    int
	contacts    map[int]*entity
	contactIDs  []int
	nextCont    int
	nextComm    int
	comments    map[int][]string // timeline comments by deal id
	stageLog    map[int][]string // by deal id: the stages the API stored it at, oldest first
	writes      int              // methods that changed something (add, update, delete)
	nextComment int
	categories  map[int][]Stage
	currencies  map[string]bool
	userFields  []string
	listFields  map[string][]ListItem
	// auth
	webhookCode string
	scopes      []string
	access      map[string]time.Time // access token -> expiry
	refresh     map[string]bool      // refresh token -> still valid
	// operating time per method
	operating map[string]*opWindow
	forcedOp  map[string]time.Time
	// faults
	oauthFail   *failure // the OAuth server's next answers
	failNext    []failure
	hangNext    int
	loseNext    []LoseMode
	planBlocked bool
	overloaded  bool
	stats       Stats
	// chaos draws random faults when a chaos profile is on (SetChaos).
	chaos chaos.Dice
}

// Stats counts what the portal saw.
type Stats struct {
	Requests      int            // REST requests received (batch counts once)
	Served        int            // requests that passed auth and the limiter and ran
	Rejected      int            // requests refused by the leaky bucket (QUERY_LIMIT_EXCEEDED)
	Injected      int            // requests answered by an injected fault
	LostAnswers   int            // answers lost after the work was done
	Calls         map[string]int // method executions, batch sub-commands included
	Refreshes     int            // successful OAuth refreshes
	BatchCommands int            // commands executed inside batches
}

// ListItem is one item of a list user field: its id is what a deal holds.
type ListItem struct {
	ID    string
	Value string
}

// DefaultPaymentStatusItems are the items of UF_CRM_PAYMENT_STATUS on the
// sandbox portal, the ids mapping/bitrix24.yaml sends for each status.
var DefaultPaymentStatusItems = []ListItem{{"101", "Pending"}, {"103", "Paid"}, {"105", "Failed"}, {"107", "Expired"},
	{"109", "Manual review"}, {"111", "Refunded"}, {"113", "Partially refunded"}}

type opWindow struct {
	start time.Time
	used  time.Duration
}

type failure struct {
	status      int
	code, descr string
}

// New returns a portal with the default pipeline, currencies and user fields.
func New(opts Options) *Portal {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.BlockThreshold <= 0 {
		opts.BlockThreshold = DefaultBlockThreshold
	}
	if opts.DrainPerSecond <= 0 {
		opts.DrainPerSecond = DefaultDrainPerSecond
	}
	if opts.OperatingLimit <= 0 {
		opts.OperatingLimit = DefaultOperatingLimit
	}
	if opts.UserID == "" {
		opts.UserID = DefaultUserID
	}
	if opts.WebhookCode == "" {
		opts.WebhookCode = DefaultWebhookCode
	}
	if opts.Scopes == nil {
		opts.Scopes = []string{"crm"}
	}
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = DefaultClientSecret
	}
	if opts.BaseCurrency == "" {
		opts.BaseCurrency = "USD"
	}
	if opts.Currencies == nil {
		opts.Currencies = []string{"AMD", "USD", "EUR", "RUB"}
	}
	if opts.UserFields == nil {
		opts.UserFields = []string{"UF_CRM_PAYSYNC_ORDER_ID", "UF_CRM_INSTAGRAM", "UF_CRM_PAYMENT_STATUS", "UF_CRM_PAYMENT_URL", "UF_CRM_PROVIDER_REF"}
	}
	if opts.ListFields == nil {
		opts.ListFields = map[string][]ListItem{"UF_CRM_PAYMENT_STATUS": DefaultPaymentStatusItems}
	}
	if opts.CountCost == 0 {
		opts.CountCost = DefaultCountCost
	}
	p := &Portal{opts: opts, now: opts.Now, closed: make(chan struct{})}
	p.reset()
	return p
}

func (p *Portal) reset() {
	p.level, p.levelAt = 0, p.now()
	p.threshold, p.drain = p.opts.BlockThreshold, p.opts.DrainPerSecond
	p.deals, p.dealIDs, p.nextDeal = map[int]*entity{}, nil, 1
	p.contacts, p.contactIDs, p.nextCont, p.nextComm = map[int]*entity{}, nil, 1, 1
	p.comments, p.nextComment = map[int][]string{}, 0
	p.stageLog = map[int][]string{}
	p.categories = defaultCategories()
	p.currencies = map[string]bool{}
	for _, c := range p.opts.Currencies {
		p.currencies[strings.ToUpper(c)] = true
	}
	p.currencies[strings.ToUpper(p.opts.BaseCurrency)] = true
	p.userFields = append([]string(nil), p.opts.UserFields...)
	p.listFields = map[string][]ListItem{}
	for name, items := range p.opts.ListFields {
		p.listFields[name] = append([]ListItem(nil), items...)
	}
	p.oauthFail = nil
	p.webhookCode = p.opts.WebhookCode
	p.scopes = append([]string(nil), p.opts.Scopes...)
	p.access, p.refresh = map[string]time.Time{}, map[string]bool{}
	p.operating, p.forcedOp = map[string]*opWindow{}, map[string]time.Time{}
	p.failNext, p.hangNext, p.loseNext = nil, 0, nil
	p.planBlocked, p.overloaded = false, false
	p.stats = Stats{Calls: map[string]int{}}
}

// Close releases requests that hang on an injected timeout.
func (p *Portal) Close() { p.once.Do(func() { close(p.closed) }) }

// WebhookURL returns the incoming-webhook URL of the portal served at base
// (for example an httptest.Server's URL): base/rest/{user}/{code}/.
func (p *Portal) WebhookURL(base string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.TrimRight(base, "/") + "/rest/" + p.opts.UserID + "/" + p.webhookCode + "/"
}

// apiError is a REST error answer.
type apiError struct {
	status int
	code   string
	descr  string
	// resetAt is set for OPERATION_TIME_LIMIT.
	resetAt time.Time
}

func methodError(descr string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "", descr: descr}
}

var (
	errNotFound      = methodError("Not found")
	errIDInvalid     = methodError("ID is not defined or invalid")
	errCurrency      = methodError(`Invalid value for the "Currency" field`)
	errFieldsMissing = methodError("Parameter 'fields' must be array.")
)

func (e *apiError) body() *omap {
	m := newOmap()
	m.Set("error", e.code)
	m.Set("error_description", e.descr)
	return m
}

func (p *Portal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch {
	case strings.HasPrefix(path, "/_sandbox/"):
		p.serveAdmin(w, r)
	case path == "/oauth/token/" || path == "/oauth/token":
		p.serveToken(w, r)
	case strings.HasPrefix(path, "/rest/"):
		p.serveREST(w, r)
	case strings.HasPrefix(path, "/crm/deal/details/"):
		p.servePage(w, r)
	default:
		writeJSON(w, http.StatusNotFound, (&apiError{code: "ERROR_NOT_FOUND", descr: "Not found"}).body())
	}
}

func (p *Portal) serveREST(w http.ResponseWriter, r *http.Request) {
	started := p.now()
	segs := strings.Split(strings.TrimPrefix(r.URL.Path, "/rest/"), "/")
	var user, code, method string
	switch len(segs) {
	case 1:
		method = segs[0]
	case 3:
		user, code, method = segs[0], segs[1], segs[2]
	default:
		writeJSON(w, http.StatusNotFound, (&apiError{code: "ERROR_METHOD_NOT_FOUND", descr: "Method not found!"}).body())
		return
	}
	method = strings.ToLower(strings.TrimSuffix(method, ".json"))

	params, err := readParams(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, (&apiError{code: "INVALID_REQUEST", descr: "Invalid request: " + err.Error()}).body())
		return
	}
	token, _ := params.Get("auth")
	params.Delete("auth")
	if h := r.Header.Get("Authorization"); token == nil && strings.HasPrefix(h, "Bearer ") {
		token = strings.TrimPrefix(h, "Bearer ")
	}

	p.mu.Lock()
	p.stats.Requests++
	if e := p.authenticate(len(segs) == 3, user, code, str(token)); e != nil {
		p.mu.Unlock()
		writeJSON(w, e.status, e.body())
		return
	}
	switch p.chaos.Draw(p.now()) {
	case chaos.Timeout:
		p.mu.Unlock()
		p.hang(r)
		return
	case chaos.ServerError:
		p.mu.Unlock()
		writeJSON(w, http.StatusInternalServerError, (&apiError{code: "INTERNAL_SERVER_ERROR", descr: "Internal server error"}).body())
		return
	case chaos.RateLimited:
		// Bitrix24 answers its rate limit with 503 QUERY_LIMIT_EXCEEDED.
		p.mu.Unlock()
		writeJSON(w, http.StatusServiceUnavailable, (&apiError{code: "QUERY_LIMIT_EXCEEDED", descr: "Too many requests"}).body())
		return
	}
	if p.hangNext > 0 {
		p.hangNext--
		p.stats.Injected++
		p.mu.Unlock()
		p.hang(r)
		return
	}
	if len(p.failNext) > 0 {
		f := p.failNext[0]
		p.failNext = p.failNext[1:]
		p.stats.Injected++
		p.mu.Unlock()
		writeJSON(w, f.status, (&apiError{code: f.code, descr: f.descr}).body())
		return
	}
	if e := p.portalBlock(); e != nil {
		p.mu.Unlock()
		writeJSON(w, e.status, e.body())
		return
	}
	if !p.admit() {
		p.stats.Rejected++
		p.mu.Unlock()
		writeJSON(w, http.StatusServiceUnavailable, (&apiError{code: "QUERY_LIMIT_EXCEEDED", descr: "Too many requests"}).body())
		return
	}
	p.stats.Served++
	writesBefore := p.writes

	var (
		res      any
		total    *int
		next     *int
		apiErr   *apiError
		created  bool
		resetAt  time.Time
		operated time.Duration
	)
	if method == "batch" {
		res, created, apiErr = p.batch(params)
	} else {
		var out callResult
		out, apiErr = p.call(method, params)
		res, total, next, created = out.result, out.total, out.next, out.created
		if w := p.operating[method]; w != nil {
			resetAt, operated = w.start.Add(OperatingWindow), w.used
		}
	}
	var lose LoseMode
	if created && apiErr == nil && len(p.loseNext) > 0 {
		lose = p.loseNext[0]
		p.loseNext = p.loseNext[1:]
		p.stats.LostAnswers++
	}
	if lose == 0 && p.writes != writesBefore {
		lose = p.chaos.DrawLoss()
	}
	finished := p.now()
	p.mu.Unlock()

	if lose != 0 {
		p.loseAnswer(w, r, lose)
		return
	}
	if apiErr != nil {
		// Error answers carry no "time": a client learns operating_reset_at
		// from its last successful answer, as the docs advise.
		writeJSON(w, apiErr.status, apiErr.body())
		return
	}
	out := newOmap()
	out.Set("result", res)
	if next != nil {
		out.Set("next", *next)
	}
	if total != nil {
		out.Set("total", *total)
	}
	out.Set("time", timing(started, finished, resetAt, operated))
	writeJSON(w, http.StatusOK, out)
}

// authenticate checks the webhook code or the OAuth access token. Caller holds mu.
func (p *Portal) authenticate(webhook bool, user, code, token string) *apiError {
	if webhook {
		if code == "" {
			return &apiError{status: http.StatusUnauthorized, code: "NO_AUTH_FOUND", descr: "Wrong authorization data"}
		}
		if user != p.opts.UserID || code != p.webhookCode {
			return &apiError{status: http.StatusUnauthorized, code: "INVALID_CREDENTIALS", descr: "Invalid request credentials"}
		}
		if !p.hasScope("crm") {
			return &apiError{status: http.StatusUnauthorized, code: "insufficient_scope", descr: "The request requires higher privileges than provided by the webhook token"}
		}
		return nil
	}
	if token == "" {
		return &apiError{status: http.StatusUnauthorized, code: "NO_AUTH_FOUND", descr: "Wrong authorization data"}
	}
	exp, ok := p.access[token]
	if !ok {
		return &apiError{status: http.StatusUnauthorized, code: "invalid_token", descr: "The access token provided is invalid."}
	}
	if !p.now().Before(exp) {
		return &apiError{status: http.StatusUnauthorized, code: "expired_token", descr: "The access token provided has expired."}
	}
	if !p.hasScope("crm") {
		return &apiError{status: http.StatusUnauthorized, code: "insufficient_scope", descr: "The request requires higher privileges than provided by the access token"}
	}
	return nil
}

func (p *Portal) hasScope(s string) bool {
	for _, have := range p.scopes {
		if have == s {
			return true
		}
	}
	return false
}

func (p *Portal) portalBlock() *apiError {
	if p.planBlocked {
		return &apiError{status: http.StatusForbidden, code: "ACCESS_DENIED", descr: "REST API is available only on commercial plans"}
	}
	if p.overloaded {
		return &apiError{status: http.StatusServiceUnavailable, code: "OVERLOAD_LIMIT", descr: "REST API is blocked due to overload."}
	}
	return nil
}

// admit runs the leaky bucket: every request adds one, the bucket drains at
// drain per second, and a request that would overflow the threshold is refused.
func (p *Portal) admit() bool {
	p.drainBucket()
	if p.level+1 > float64(p.threshold) {
		return false
	}
	p.level++
	return true
}

// drainBucket brings the bucket's level to now. Caller holds mu.
func (p *Portal) drainBucket() {
	now := p.now()
	if el := now.Sub(p.levelAt).Seconds(); el > 0 {
		p.level = max(p.level-el*p.drain, 0)
	}
	p.levelAt = now
}

// checkOperating refuses a method whose operating time is used up. Caller holds mu.
func (p *Portal) checkOperating(method string) *apiError {
	now := p.now()
	if until, ok := p.forcedOp[method]; ok {
		if now.Before(until) {
			return &apiError{status: http.StatusTooManyRequests, code: "OPERATION_TIME_LIMIT", descr: "Method is blocked due to operation time limit.", resetAt: until}
		}
		delete(p.forcedOp, method)
	}
	w := p.operating[method]
	if w != nil && !now.Before(w.start.Add(OperatingWindow)) {
		delete(p.operating, method)
		w = nil
	}
	if w != nil && w.used >= p.opts.OperatingLimit {
		return &apiError{status: http.StatusTooManyRequests, code: "OPERATION_TIME_LIMIT", descr: "Method is blocked due to operation time limit.", resetAt: w.start.Add(OperatingWindow)}
	}
	return nil
}

func (p *Portal) chargeOperating(method string, d time.Duration) {
	w := p.operating[method]
	if w == nil {
		w = &opWindow{start: p.now()}
		p.operating[method] = w
	}
	w.used += d + p.opts.OperatingCost
}

// timing is the envelope's "time" object.
func timing(start, finish, resetAt time.Time, operating time.Duration) *omap {
	t := newOmap()
	s := float64(start.UnixMicro()) / 1e6
	f := float64(finish.UnixMicro()) / 1e6
	t.Set("start", s)
	t.Set("finish", f)
	t.Set("duration", f-s)
	t.Set("processing", f-s)
	t.Set("date_start", start.Format(phpDate))
	t.Set("date_finish", finish.Format(phpDate))
	if !resetAt.IsZero() {
		t.Set("operating_reset_at", resetAt.Unix())
		t.Set("operating", operating.Seconds())
	}
	return t
}

// phpDate is PHP's date('c').
const phpDate = "2006-01-02T15:04:05-07:00"

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"ERROR_CORE","error_description":"encode failed"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (p *Portal) hang(r *http.Request) { chaos.Hang(r, p.closed) }
