// Package sheets connects paysync to Google Sheets: one row per order in a
// tab of one spreadsheet, kept in step as its payment status changes, while
// people sort the sheet, insert rows and move columns. It holds the Sheets
// API client (a service account's JWT bearer grant through
// golang.org/x/oauth2/google, per-minute read and write budgets), the
// classification of Google's errors, and the connector.
package sheets

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-resty/resty/v2"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	"golang.org/x/oauth2/jwt"

	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/restclient"
)

// Client defaults. Google allows 60 write and 60 read requests a minute
// per user per project, and a service account is one user.
const (
	DefaultEndpoint        = "https://sheets.googleapis.com/"
	Scope                  = "https://www.googleapis.com/auth/spreadsheets"
	DefaultWritesPerMinute = 60
	DefaultReadsPerMinute  = 60
	DefaultTimeout         = 30 * time.Second
	// MaxRequestBytes keeps every request under Google's recommended 2 MB
	// (the hard limit is about 10 MiB); larger writes are split.
	MaxRequestBytes = 2_000_000
	maxAnswer       = 64 << 20 // a key column of a large sheet is a few MB
	maxBackoff      = 64 * time.Second
)

// Config configures a Client.
type Config struct {
	SpreadsheetID string
	// Key is the service account's JSON key file; a secret. Its token_uri
	// is where tokens are asked for (the sandbox names itself there).
	Key []byte
	// Endpoint is the API's base URL (default https://sheets.googleapis.com/).
	Endpoint string
	// WritesPerMinute and ReadsPerMinute are the budgets paysync spends of
	// the account's quota (default 60 each); negative disables the
	// client-side limit (tests).
	WritesPerMinute int
	ReadsPerMinute  int
	// Timeout bounds one HTTP request (default 30 s).
	Timeout time.Duration
	// HTTPClient supplies the transport for the API and the token
	// endpoint; it is copied, not modified.
	HTTPClient *http.Client
	// Now is the budgets' clock (default time.Now).
	Now func() time.Time
	// Meter hears budget waits (nil: nobody).
	Meter connectors.Meter
}

// String keeps the key out of logs.
func (c Config) String() string {
	return "sheets.Config{spreadsheet:" + c.SpreadsheetID + ", key:[redacted]}"
}

// LogValue keeps the key out of slog output.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Client calls the Sheets API v4 for one spreadsheet as one service
// account. Every value goes in RAW: the client has no way to send
// USER_ENTERED input, so nothing it writes is parsed as a formula. It is
// safe for concurrent use.
type Client struct {
	meter  connectors.Meter
	http   *resty.Client
	base   string // endpoint + v4/spreadsheets/{id}
	id     string
	email  string
	jwt    *jwt.Config
	tokCtx context.Context

	writes, reads *budget
	writeLimit    int

	mu        sync.Mutex
	ts        oauth2.TokenSource
	throttled int // 429s in a row, for the backoff
}

// String keeps the key out of logs.
func (c *Client) String() string   { return "sheets.Client{" + c.email + ", key:[redacted]}" }
func (c *Client) GoString() string { return c.String() }

// ParseKey reads a service-account key file and returns its client_email.
// Its errors never quote the key.
func ParseKey(key []byte) (*jwt.Config, error) {
	var probe struct {
		Type        string `json:"type"`
		ClientEmail string `json:"client_email"`
		PrivateKey  string `json:"private_key"`
		TokenURI    string `json:"token_uri"`
	}
	if err := json.Unmarshal(key, &probe); err != nil {
		return nil, core.Errorf(core.EINVALID, "the Google credentials file is not JSON: download the service account's key again (Keys > Add key > JSON)")
	}
	if probe.Type != "service_account" {
		return nil, core.Errorf(core.EINVALID, "the Google credentials file is of type %q, not a service-account key: create a service account and download its JSON key (see docs/google-sheets.md)", probe.Type)
	}
	if probe.ClientEmail == "" || !strings.Contains(probe.PrivateKey, "PRIVATE KEY") {
		return nil, core.Errorf(core.EINVALID, "the service-account key file lacks client_email or private_key: download the key again (Keys > Add key > JSON)")
	}
	if probe.TokenURI != "" {
		if u, err := url.Parse(probe.TokenURI); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, core.Errorf(core.EINVALID, "token_uri in the service-account key file is not an http(s) URL: download the key again")
		}
	}
	conf, err := google.JWTConfigFromJSON(key, Scope)
	if err != nil {
		return nil, core.Errorf(core.EINVALID, "the service-account key file cannot be used: download the key again (Keys > Add key > JSON)")
	}
	if !privateKeyReadable(conf.PrivateKey) {
		return nil, core.Errorf(core.EINVALID, "the private key in the service-account key file cannot be read: download the key again (Keys > Add key > JSON)")
	}
	return conf, nil
}

// privateKeyReadable parses the key the way the JWT signer will, so that a
// damaged key file fails at start, not on the first delivery.
func privateKeyReadable(p []byte) bool {
	block, _ := pem.Decode(p)
	if block == nil {
		return false
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		_, ok := k.(*rsa.PrivateKey)
		return ok
	}
	_, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	return err == nil
}

// New returns a client. It reads nothing from the network.
func New(cfg Config) (*Client, error) {
	if cfg.SpreadsheetID == "" {
		return nil, core.Errorf(core.EINVALID, "sheets: set PAYSYNC_SHEETS_SPREADSHEET_ID (the id in the sheet's address, between /d/ and /edit)")
	}
	conf, err := ParseKey(cfg.Key)
	if err != nil {
		return nil, err
	}
	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = DefaultEndpoint
	}
	if u, err := url.Parse(endpoint); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, core.Errorf(core.EINVALID, "sheets: the endpoint %q is not an http(s) URL", endpoint)
	}
	hc := &http.Client{}
	if cfg.HTTPClient != nil {
		cp := *cfg.HTTPClient
		hc = &cp
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	tokHTTP := *hc
	tokHTTP.Timeout = timeout
	c := &Client{
		meter: cfg.Meter,
		http: resty.NewWithClient(hc).SetTimeout(timeout).SetRetryCount(0).
			SetLogger(restclient.Quiet{}).SetDisableWarn(true).SetResponseBodyLimit(maxAnswer).
			SetHeader("User-Agent", "paysync"),
		base:   strings.TrimRight(endpoint, "/") + "/v4/spreadsheets/" + url.PathEscape(cfg.SpreadsheetID),
		id:     cfg.SpreadsheetID,
		email:  conf.Email,
		jwt:    conf,
		tokCtx: context.WithValue(context.Background(), oauth2.HTTPClient, &tokHTTP),
	}
	c.ts = conf.TokenSource(c.tokCtx)
	writes, reads := cfg.WritesPerMinute, cfg.ReadsPerMinute
	if writes == 0 {
		writes = DefaultWritesPerMinute
	}
	if reads == 0 {
		reads = DefaultReadsPerMinute
	}
	c.writeLimit = writes
	if writes > 0 {
		c.writes = newBudget(writes, time.Minute, now)
	}
	if reads > 0 {
		c.reads = newBudget(reads, time.Minute, now)
	}
	return c, nil
}

// Email is the service account's client_email: share the spreadsheet with it.
func (c *Client) Email() string { return c.email }

// SpreadsheetID is the spreadsheet the client writes to.
func (c *Client) SpreadsheetID() string { return c.id }

func (c *Client) token() (*oauth2.Token, error) {
	c.mu.Lock()
	ts := c.ts
	c.mu.Unlock()
	tok, err := ts.Token()
	if err == nil {
		return tok, nil
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		te := &TokenError{Code: re.ErrorCode, Description: re.ErrorDescription, Account: c.email}
		if re.Response != nil {
			te.Status = re.Response.StatusCode
		}
		if te.Code == "" {
			// The JWT flow leaves Google's {"error","error_description"} unparsed.
			var body struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
			}
			if json.Unmarshal(re.Body, &body) == nil {
				te.Code, te.Description = body.Error, body.Description
			}
		}
		return nil, te
	}
	return nil, c.transportError("token", err)
}

// renewToken drops the cached token after a 401: the next request signs a
// new assertion.
func (c *Client) renewToken() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ts = c.jwt.TokenSource(c.tokCtx)
}

// call is one API request. write picks the budget it spends; rng names the
// range in errors.
type call struct {
	op     string
	method string
	path   string // after /v4/spreadsheets/{id}
	query  url.Values
	body   any
	write  bool
	rng    string
}

func (c *Client) do(ctx context.Context, k call, out any) error {
	var payload []byte
	if k.body != nil {
		var err error
		if payload, err = json.Marshal(k.body); err != nil {
			return &core.DeliveryError{Class: core.Permanent, Reason: "paysync could not encode the Google Sheets request " + k.op, Err: err}
		}
		if len(payload) > MaxRequestBytes {
			return &core.DeliveryError{Class: core.Permanent, Reason: fmt.Sprintf("the Google Sheets request %s is %d bytes, over the 2 MB paysync keeps to: shorten the long fields of mapping/sheets.yaml (max_length)", k.op, len(payload))}
		}
	}
	b, kind := c.reads, "read"
	if k.write {
		b, kind = c.writes, "write"
	}
	if b != nil {
		waitStart := time.Now()
		release, wait, err := b.acquire(ctx)
		connectors.Waited(c.meter, time.Since(waitStart))
		if err != nil {
			if wait > 0 {
				return &core.DeliveryError{Class: core.Retryable, SlowDown: true, RetryAfter: wait,
					Reason: fmt.Sprintf("paysync's own Google Sheets %s budget (connectors.sheets.%ss_per_minute) is spent for the next %s; slowing down", kind, kind, wait.Round(time.Second))}
			}
			return &TransportError{Op: k.op, Msg: "gave up waiting for a request slot: " + err.Error(), ctxErr: err}
		}
		defer release()
	}
	for attempt := 0; ; attempt++ {
		tok, err := c.token()
		if err != nil {
			return err
		}
		req := c.http.R().SetContext(ctx).SetAuthToken(tok.AccessToken).SetHeader("Accept", "application/json")
		if k.query != nil {
			req.SetQueryParamsFromValues(k.query)
		}
		if payload != nil {
			req.SetHeader("Content-Type", "application/json").SetBody(payload)
		}
		resp, err := req.Execute(k.method, c.base+k.path)
		if err != nil {
			core.ObserveRequest(ctx, core.RequestFailed)
			return c.transportError(k.op, err)
		}
		connectors.ObserveStatus(ctx, resp.StatusCode())
		if resp.StatusCode() == http.StatusOK {
			c.mu.Lock()
			c.throttled = 0
			c.mu.Unlock()
			if out == nil {
				return nil
			}
			if err := json.Unmarshal(resp.Body(), out); err != nil {
				return &TransportError{Op: k.op, Msg: "the answer is not the Sheets API's JSON"}
			}
			return nil
		}
		ae := c.apiError(k, resp)
		if ae.Status == http.StatusUnauthorized && attempt == 0 {
			c.renewToken()
			continue
		}
		if ae.Status == http.StatusTooManyRequests {
			ae.RetryAfter = c.backoff()
		}
		return ae
	}
}

// backoff is Google's advice after a 429: 2^n seconds plus jitter, at most 64 s.
func (c *Client) backoff() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.throttled++
	d := time.Duration(1<<min(c.throttled, 6)) * time.Second
	d += time.Duration(rand.Int64N(int64(time.Second)))
	if c.writes != nil {
		d = max(d, c.writes.wait())
	}
	return min(d, maxBackoff)
}

func (c *Client) apiError(k call, resp *resty.Response) *APIError {
	ae := &APIError{Op: k.op, Range: k.rng, Status: resp.StatusCode(), Account: c.email, Spreadsheet: c.id}
	var body struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Status  string `json:"status"`
			Details []struct {
				Type   string `json:"@type"`
				Reason string `json:"reason"`
			} `json:"details"`
		} `json:"error"`
	}
	if json.Unmarshal(resp.Body(), &body) == nil {
		ae.Code, ae.Message = body.Error.Status, body.Error.Message
		for _, d := range body.Error.Details {
			if d.Reason != "" {
				ae.Reason = d.Reason
			}
		}
	}
	return ae
}

func (c *Client) transportError(op string, err error) *TransportError {
	msg, timeout, ctxErr := restclient.Failure(err)
	return &TransportError{Op: op, Msg: msg, Timeout: timeout, ctxErr: ctxErr}
}

// SheetProperties is a tab as spreadsheets.get describes it.
type SheetProperties struct {
	SheetID int    `json:"sheetId"`
	Title   string `json:"title"`
	Index   int    `json:"index"`
}

// Spreadsheet is what spreadsheets.get tells about the spreadsheet.
type Spreadsheet struct {
	Title  string
	Sheets []SheetProperties
}

// Sheet finds a tab by title, ignoring case as Google does.
func (s *Spreadsheet) Sheet(title string) (SheetProperties, bool) {
	for _, p := range s.Sheets {
		if strings.EqualFold(p.Title, title) {
			return p, true
		}
	}
	return SheetProperties{}, false
}

// Spreadsheet reads the spreadsheet's title and tabs (one read).
func (c *Client) Spreadsheet(ctx context.Context) (*Spreadsheet, error) {
	var body struct {
		Properties struct {
			Title string `json:"title"`
		} `json:"properties"`
		Sheets []struct {
			Properties SheetProperties `json:"properties"`
		} `json:"sheets"`
	}
	q := url.Values{"fields": {"properties.title,sheets.properties(sheetId,title,index)"}}
	if err := c.do(ctx, call{op: "spreadsheets.get", method: http.MethodGet, query: q}, &body); err != nil {
		return nil, err
	}
	s := &Spreadsheet{Title: body.Properties.Title}
	for _, sh := range body.Sheets {
		s.Sheets = append(s.Sheets, sh.Properties)
	}
	return s, nil
}

// AddSheet adds a tab with its first row frozen for the header (one write).
func (c *Client) AddSheet(ctx context.Context, title string) (SheetProperties, error) {
	req := map[string]any{"requests": []any{map[string]any{"addSheet": map[string]any{"properties": map[string]any{
		"title": title, "gridProperties": map[string]any{"frozenRowCount": 1}}}}}}
	var body struct {
		Replies []struct {
			AddSheet struct {
				Properties SheetProperties `json:"properties"`
			} `json:"addSheet"`
		} `json:"replies"`
	}
	if err := c.do(ctx, call{op: "spreadsheets.batchUpdate", method: http.MethodPost, path: ":batchUpdate", body: req, write: true}, &body); err != nil {
		return SheetProperties{}, err
	}
	if len(body.Replies) != 1 {
		return SheetProperties{}, &TransportError{Op: "spreadsheets.batchUpdate", Msg: "the answer has no addSheet reply"}
	}
	return body.Replies[0].AddSheet.Properties, nil
}

// ProbeWrite sets the spreadsheet's title to what it is (one write): it
// changes nothing, and fails with 403 when the account may only read.
func (c *Client) ProbeWrite(ctx context.Context, title string) error {
	req := map[string]any{"requests": []any{map[string]any{"updateSpreadsheetProperties": map[string]any{
		"properties": map[string]any{"title": title}, "fields": "title"}}}}
	return c.do(ctx, call{op: "spreadsheets.batchUpdate", method: http.MethodPost, path: ":batchUpdate", body: req, write: true}, nil)
}

// ValueRange is the API's ValueRange. A nil cell is skipped on input (the
// cell keeps its value); "" clears a cell.
type ValueRange struct {
	Range          string  `json:"range"`
	MajorDimension string  `json:"majorDimension,omitempty"`
	Values         [][]any `json:"values"`
}

// BatchGet reads ranges as Google formats them (one read).
func (c *Client) BatchGet(ctx context.Context, ranges []string) ([]ValueRange, error) {
	q := url.Values{"ranges": ranges, "valueRenderOption": {"FORMATTED_VALUE"}, "majorDimension": {"ROWS"}}
	var body struct {
		ValueRanges []ValueRange `json:"valueRanges"`
	}
	k := call{op: "values.batchGet", method: http.MethodGet, path: "/values:batchGet", query: q}
	if len(ranges) == 1 {
		k.rng = ranges[0]
	}
	if err := c.do(ctx, k, &body); err != nil {
		return nil, err
	}
	if len(body.ValueRanges) != len(ranges) {
		return nil, &TransportError{Op: "values.batchGet", Msg: fmt.Sprintf("asked for %d ranges, got %d", len(ranges), len(body.ValueRanges))}
	}
	return body.ValueRanges, nil
}

// UpdateResult is the answer to an update.
type UpdateResult struct {
	UpdatedRange string `json:"updatedRange"`
	UpdatedRows  int    `json:"updatedRows"`
	UpdatedCells int    `json:"updatedCells"`
}

// Update writes rows into one range, RAW (one write).
func (c *Client) Update(ctx context.Context, rng string, rows [][]any) (*UpdateResult, error) {
	var out UpdateResult
	err := c.do(ctx, call{op: "values.update", method: http.MethodPut, path: "/values/" + escapeRange(rng),
		query: url.Values{"valueInputOption": {"RAW"}}, body: ValueRange{Range: rng, MajorDimension: "ROWS", Values: rows},
		write: true, rng: rng}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// BatchUpdate writes many ranges in one request, RAW (one write). Google
// applies all of them or none.
func (c *Client) BatchUpdate(ctx context.Context, data []ValueRange) error {
	k := call{op: "values.batchUpdate", method: http.MethodPost, path: "/values:batchUpdate",
		body: map[string]any{"valueInputOption": "RAW", "data": data}, write: true}
	if len(data) == 1 {
		k.rng = data[0].Range
	}
	return c.do(ctx, k, nil)
}

// AppendResult is where appended rows landed.
type AppendResult struct {
	TableRange string `json:"tableRange"`
	Updates    struct {
		UpdatedRange string `json:"updatedRange"`
		UpdatedRows  int    `json:"updatedRows"`
	} `json:"updates"`
}

// Append adds rows after the table found in rng, in newly inserted rows
// (INSERT_ROWS, so that appends never overwrite each other), RAW (one write).
func (c *Client) Append(ctx context.Context, rng string, rows [][]any) (*AppendResult, error) {
	var out AppendResult
	err := c.do(ctx, call{op: "values.append", method: http.MethodPost, path: "/values/" + escapeRange(rng) + ":append",
		query: url.Values{"valueInputOption": {"RAW"}, "insertDataOption": {"INSERT_ROWS"}},
		body:  ValueRange{Range: rng, MajorDimension: "ROWS", Values: rows}, write: true, rng: rng}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}
