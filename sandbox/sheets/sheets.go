// Package sheets is a local double of one Google spreadsheet behind the
// Sheets API v4, faithful to what paysync relies on: a service account's
// JWT bearer grant at the key file's token_uri (the RS256 signature checked
// against the key), sharing (editor, viewer, none), values get, batchGet,
// update, batchUpdate and append with percent-encoded A1 ranges and quoted
// tab names, RAW and USER_ENTERED input, INSERT_ROWS appends that find the
// table, spreadsheets.get and batchUpdate (addSheet), the per-user quota of
// 60 write and 60 read requests a minute (429 RESOURCE_EXHAUSTED with
// Google's body) and Google's error shapes. It injects faults (5xx, a 503
// or a lost connection after the write happened, hangs) and lets a test act
// as a person would: sort the rows, insert rows above, move a column, type
// into a cell, rebuild the tab.
//
// It lives in sandbox/sheets but tests import it as sandbox next to
// connectors/sheets.
package sheets

import (
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/paysync/paysync/sandbox/chaos"
)

// Defaults of a fresh spreadsheet shared with the service account.
const (
	DefaultSpreadsheetID   = "1SaNdBoXpAySyNc0000000000000000000000000000"
	DefaultTitle           = "paysync sandbox orders"
	DefaultClientEmail     = "paysync@paysync-sandbox.iam.gserviceaccount.com"
	DefaultWritesPerMinute = 60
	DefaultReadsPerMinute  = 60
	DefaultRowCount        = 1000
	DefaultColumnCount     = 26
	QuotaWindow            = time.Minute
	// MaxRequestBytes is the hard limit on a request body (Google's is
	// about 10 MiB; it recommends staying under 2 MB).
	MaxRequestBytes = 10 << 20
)

// Options configure a spreadsheet. The zero value is a new spreadsheet with
// one empty tab "Sheet1", shared with the account as an editor.
type Options struct {
	// Now is the double's clock (quota windows, token lifetimes); tests
	// pass a ManualClock's Now. Default time.Now.
	Now func() time.Time
	// PublicURL is the double's base URL as clients see it; the key file's
	// token_uri and the JWT audience are PublicURL + "/token". Default: the
	// request's own URL (fine when the double is served at a root).
	PublicURL     string
	SpreadsheetID string
	Title         string
	ClientEmail   string
	// Sheets are the tabs at the start (default ["Sheet1"]).
	Sheets []string
	// WritesPerMinute and ReadsPerMinute are the account's quota (default
	// 60 each, as Google's per-user limit); negative disables one.
	WritesPerMinute int
	ReadsPerMinute  int
	// AfterWrite, when set, is called after each API write was carried out
	// (its answer may still be lost), outside the double's lock: a test or
	// the sandbox may read the sheet after every change.
	AfterWrite func()
}

// Role is how the spreadsheet is shared with the service account.
type Role string

const (
	RoleEditor Role = "writer"
	RoleViewer Role = "reader"
	RoleNone   Role = ""
)

// Spreadsheet is the double. It is an http.Handler: mount it at the root of
// a server, or under a prefix with http.StripPrefix.
type Spreadsheet struct {
	opts   Options
	now    func() time.Time
	closed chan struct{}
	once   sync.Once

	mu          sync.Mutex
	id, title   string
	email       string
	tabs        []*tab
	nextSheetID int
	role        Role
	refuse      string // RefuseCells: writes with a cell containing it are refused
	// auth
	key        *rsa.PrivateKey
	keyID      string
	keyRevoked bool
	access     map[string]accessToken
	// quota: when each admitted request arrived, per kind, oldest first
	writes, reads []time.Time
	writeLimit    int
	readLimit     int
	// faults
	failNext []int
	loseNext []lose
	hangNext int
	// beforeWrite runs, without the lock, before the next write is
	// carried out: a person acting between paysync's read and its write.
	beforeWrite []func()
	stats       Stats
	version     int // counts requests that changed the spreadsheet
	// chaos draws random faults when a chaos profile is on (SetChaos).
	chaos chaos.Dice
}

// Stats counts what the double saw.
type Stats struct {
	Requests      int // API requests, token requests not included
	Reads         int // admitted read requests
	Writes        int // admitted write requests
	Rejected      int // requests refused with 429 RESOURCE_EXHAUSTED
	Injected      int // requests answered by an injected fault
	LostAnswers   int // writes done whose answer was lost
	Appends       int
	BatchUpdates  int // values:batchUpdate requests
	Updates       int // values.update requests
	TokenRequests int
	TokensIssued  int
}

// New returns a spreadsheet.
func New(opts Options) *Spreadsheet {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SpreadsheetID == "" {
		opts.SpreadsheetID = DefaultSpreadsheetID
	}
	if opts.Title == "" {
		opts.Title = DefaultTitle
	}
	if opts.ClientEmail == "" {
		opts.ClientEmail = DefaultClientEmail
	}
	if opts.Sheets == nil {
		opts.Sheets = []string{"Sheet1"}
	}
	if opts.WritesPerMinute == 0 {
		opts.WritesPerMinute = DefaultWritesPerMinute
	}
	if opts.ReadsPerMinute == 0 {
		opts.ReadsPerMinute = DefaultReadsPerMinute
	}
	s := &Spreadsheet{opts: opts, now: opts.Now, closed: make(chan struct{})}
	s.reset()
	return s
}

func (s *Spreadsheet) reset() {
	s.id, s.title, s.email = s.opts.SpreadsheetID, s.opts.Title, s.opts.ClientEmail
	s.tabs, s.nextSheetID = nil, 0
	for _, name := range s.opts.Sheets {
		s.addTab(name, 0)
	}
	s.role = RoleEditor
	s.refuse = ""
	s.key, s.keyID, s.keyRevoked = processKey(), randomHex(20), false
	s.access = map[string]accessToken{}
	s.writes, s.reads = nil, nil
	s.writeLimit, s.readLimit = s.opts.WritesPerMinute, s.opts.ReadsPerMinute
	s.failNext, s.loseNext, s.hangNext, s.beforeWrite = nil, nil, 0, nil
	s.stats = Stats{}
}

// addTab adds a tab at the end. The first tab has sheetId 0, as in a new
// spreadsheet; later ones get ids like Google's. Caller holds mu.
func (s *Spreadsheet) addTab(title string, frozen int) *tab {
	id := 0
	if len(s.tabs) > 0 || s.nextSheetID > 0 {
		id = 1_000_000 + s.nextSheetID*7919
	}
	s.nextSheetID++
	t := &tab{id: id, title: title, rowCount: DefaultRowCount, colCount: DefaultColumnCount, frozen: frozen}
	s.tabs = append(s.tabs, t)
	return t
}

// Close releases requests that hang on an injected fault.
func (s *Spreadsheet) Close() { s.once.Do(func() { close(s.closed) }) }

// ID is the spreadsheet id; ClientEmail the service account's address.
func (s *Spreadsheet) ID() string          { return s.opts.SpreadsheetID }
func (s *Spreadsheet) ClientEmail() string { return s.opts.ClientEmail }

// apiError is Google's error answer: {"error":{"code","message","status"}}.
type apiError struct {
	code    int
	message string
	status  string
	details []any
}

func (e *apiError) write(w http.ResponseWriter) {
	body := map[string]any{"code": e.code, "message": e.message, "status": e.status}
	if e.details != nil {
		body["details"] = e.details
	}
	writeJSON(w, e.code, map[string]any{"error": body})
}

func invalid(msg string) *apiError {
	return &apiError{code: http.StatusBadRequest, message: msg, status: "INVALID_ARGUMENT"}
}

var (
	errUnauthenticated = &apiError{code: http.StatusUnauthorized, status: "UNAUTHENTICATED",
		message: "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."}
	errNoCredential = &apiError{code: http.StatusUnauthorized, status: "UNAUTHENTICATED",
		message: "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."}
	errDenied   = &apiError{code: http.StatusForbidden, status: "PERMISSION_DENIED", message: "The caller does not have permission"}
	errScope    = &apiError{code: http.StatusForbidden, status: "PERMISSION_DENIED", message: "Request had insufficient authentication scopes."}
	errNotFound = &apiError{code: http.StatusNotFound, status: "NOT_FOUND", message: "Requested entity was not found."}
)

func quotaError(kind string, limit int) *apiError {
	metric, lim := "Write requests", "WriteRequestsPerMinutePerUser"
	if kind == "read" {
		metric, lim = "Read requests", "ReadRequestsPerMinutePerUser"
	}
	return &apiError{code: http.StatusTooManyRequests, status: "RESOURCE_EXHAUSTED",
		message: "Quota exceeded for quota metric '" + metric + "' and limit '" + metric + " per minute per user' of service 'sheets.googleapis.com' for consumer 'project_number:100000000001'.",
		details: []any{
			map[string]any{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED", "domain": "googleapis.com",
				"metadata": map[string]string{"quota_metric": "sheets.googleapis.com/" + strings.ToLower(strings.ReplaceAll(metric, " ", "_")),
					"quota_limit": lim, "consumer": "projects/100000000001", "service": "sheets.googleapis.com",
					"quota_location": "global", "quota_limit_value": itoa(limit)}},
			map[string]any{"@type": "type.googleapis.com/google.rpc.Help", "links": []any{
				map[string]string{"description": "Request a higher quota limit.", "url": "https://cloud.google.com/docs/quotas/help/request_increase"}}},
		}}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":500,"message":"Internal error encountered.","status":"INTERNAL"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (s *Spreadsheet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	switch {
	case path == "/token":
		s.serveToken(w, r)
	case strings.HasPrefix(path, "/_sandbox/"):
		s.serveAdmin(w, r)
	case strings.HasPrefix(path, "/spreadsheets/d/"):
		s.servePage(w, r)
	case strings.HasPrefix(path, "/v4/spreadsheets/"):
		s.serveAPI(w, r, strings.TrimPrefix(path, "/v4/spreadsheets/"))
	default:
		(&apiError{code: http.StatusNotFound, status: "NOT_FOUND", message: "Method not found."}).write(w)
	}
}

// route is one API request, parsed from the escaped path after
// /v4/spreadsheets/.
type route struct {
	op    string // get, batchUpdate, values.get, values.update, values.append, values.batchGet, values.batchUpdate
	id    string
	rng   string // the decoded A1 range of values/{range}
	write bool
}

func parseRoute(method, rest string) (route, *apiError) {
	notFound := &apiError{code: http.StatusNotFound, status: "NOT_FOUND", message: "Method not found."}
	seg, tail, hasTail := strings.Cut(rest, "/")
	var rt route
	if !hasTail {
		id, verb, hasVerb := strings.Cut(seg, ":")
		rt.id = id
		switch {
		case !hasVerb && method == http.MethodGet:
			rt.op = "get"
		case verb == "batchUpdate" && method == http.MethodPost:
			rt.op, rt.write = "batchUpdate", true
		default:
			return rt, notFound
		}
		return rt, nil
	}
	rt.id = seg
	switch {
	case tail == "values:batchGet" && method == http.MethodGet:
		rt.op = "values.batchGet"
		return rt, nil
	case tail == "values:batchUpdate" && method == http.MethodPost:
		rt.op, rt.write = "values.batchUpdate", true
		return rt, nil
	case !strings.HasPrefix(tail, "values/"):
		return rt, notFound
	}
	enc := strings.TrimPrefix(tail, "values/")
	switch {
	case strings.HasSuffix(enc, ":append") && method == http.MethodPost:
		rt.op, rt.write = "values.append", true
		enc = strings.TrimSuffix(enc, ":append")
	case method == http.MethodGet:
		rt.op = "values.get"
	case method == http.MethodPut:
		rt.op, rt.write = "values.update", true
	default:
		return rt, notFound
	}
	rng, err := pathUnescape(enc)
	if err != nil {
		return rt, invalid("Unable to parse range: " + enc)
	}
	rt.rng = rng
	return rt, nil
}

func (s *Spreadsheet) serveAPI(w http.ResponseWriter, r *http.Request, rest string) {
	rt, perr := parseRoute(r.Method, rest)
	if perr != nil {
		perr.write(w)
		return
	}
	var body []byte
	if r.Body != nil && (r.Method == http.MethodPost || r.Method == http.MethodPut) {
		b, err := readBody(r)
		if err != nil {
			invalid("Request payload size exceeds the limit: " + itoa(MaxRequestBytes) + " bytes.").write(w)
			return
		}
		body = b
	}

	s.mu.Lock()
	s.stats.Requests++
	if e := s.authorize(r, rt); e != nil {
		s.mu.Unlock()
		e.write(w)
		return
	}
	if e := s.admit(rt.write); e != nil {
		s.stats.Rejected++
		s.mu.Unlock()
		e.write(w)
		return
	}
	switch s.chaos.Draw(s.now()) {
	case chaos.Timeout:
		s.mu.Unlock()
		s.hang(r)
		return
	case chaos.ServerError:
		s.mu.Unlock()
		failure(http.StatusInternalServerError).write(w)
		return
	case chaos.RateLimited:
		// Another program spending the service account's quota.
		kind, limit := "read", s.readLimit
		if rt.write {
			kind, limit = "write", s.writeLimit
		}
		s.mu.Unlock()
		quotaError(kind, limit).write(w)
		return
	}
	if s.hangNext > 0 {
		s.hangNext--
		s.stats.Injected++
		s.mu.Unlock()
		s.hang(r)
		return
	}
	if rt.write && len(s.beforeWrite) > 0 {
		fn := s.beforeWrite[0]
		s.beforeWrite = s.beforeWrite[1:]
		s.mu.Unlock()
		fn()
		s.mu.Lock()
	}
	if len(s.failNext) > 0 {
		status := s.failNext[0]
		s.failNext = s.failNext[1:]
		s.stats.Injected++
		s.mu.Unlock()
		failure(status).write(w)
		return
	}
	out, e := s.run(rt, r, body)
	if e == nil && rt.write {
		s.version++
	}
	var lost LoseMode
	if e == nil && rt.write && len(s.loseNext) > 0 && (s.loseNext[0].op == "" || s.loseNext[0].op == rt.op) {
		lost, s.loseNext = s.loseNext[0].mode, s.loseNext[1:]
		s.stats.LostAnswers++
	}
	if lost == 0 && e == nil && rt.write {
		lost = s.chaos.DrawLoss()
	}
	s.mu.Unlock()
	if e == nil && rt.write && s.opts.AfterWrite != nil {
		s.opts.AfterWrite()
	}

	switch {
	case lost != 0:
		s.loseAnswer(w, r, lost)
	case e != nil:
		e.write(w)
	default:
		writeJSON(w, http.StatusOK, out)
	}
}

// authorize checks the bearer token, its scope and the account's access to
// the spreadsheet. Caller holds mu.
func (s *Spreadsheet) authorize(r *http.Request, rt route) *apiError {
	h := r.Header.Get("Authorization")
	if !strings.HasPrefix(h, "Bearer ") {
		return errNoCredential
	}
	tok, ok := s.access[strings.TrimPrefix(h, "Bearer ")]
	if !ok || !s.now().Before(tok.expires) {
		return errUnauthenticated
	}
	if !tok.has(sheetsScope) {
		return errScope
	}
	if rt.id != s.id {
		return errNotFound
	}
	if s.role == RoleNone || (rt.write && s.role != RoleEditor) {
		return errDenied
	}
	return nil
}

// admit runs the per-minute quota: a sliding window of the requests
// admitted in the last minute, per kind. Caller holds mu.
func (s *Spreadsheet) admit(write bool) *apiError {
	now := s.now()
	win, limit, kind := &s.reads, s.readLimit, "read"
	if write {
		win, limit, kind = &s.writes, s.writeLimit, "write"
	}
	for len(*win) > 0 && !now.Before((*win)[0].Add(QuotaWindow)) {
		*win = (*win)[1:]
	}
	if limit > 0 && len(*win) >= limit {
		return quotaError(kind, limit)
	}
	*win = append(*win, now)
	if write {
		s.stats.Writes++
	} else {
		s.stats.Reads++
	}
	return nil
}

func failure(status int) *apiError {
	switch status {
	case http.StatusServiceUnavailable:
		return &apiError{code: status, status: "UNAVAILABLE", message: "The service is currently unavailable."}
	case http.StatusGatewayTimeout:
		return &apiError{code: status, status: "DEADLINE_EXCEEDED", message: "The request timed out. Please try again."}
	case http.StatusTooManyRequests:
		return quotaError("write", DefaultWritesPerMinute)
	}
	return &apiError{code: status, status: "INTERNAL", message: "Internal error encountered."}
}

func (s *Spreadsheet) hang(r *http.Request) { chaos.Hang(r, s.closed) }
