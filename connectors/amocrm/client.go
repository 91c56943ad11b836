package amocrm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/redact"
	"github.com/paysync/paysync/internal/restclient"
)

// Client defaults.
const (
	// DefaultRate is amoCRM's limit per integration: 7 requests a second.
	DefaultRate    = 7
	DefaultTimeout = 30 * time.Second
	// blockHold is how long the client sends nothing after a 403 block:
	// shorter than the dispatcher's probe interval, so its probe gets through.
	blockHold = time.Minute
	// startMargin: no request starts this close to its context's deadline;
	// one cut short mid-flight may have created a lead nobody saw.
	startMargin = 2 * time.Second
	// A request may use at most a third of the time its delivery has left
	// (but never less than minRequestTime): one that hangs then costs its
	// own orders, not every step after it.
	minRequestTime = time.Second
	maxAnswer      = 16 << 20
)

// Tokens hands out the bearer token for amoCRM's API. A long-lived token
// (LongLivedToken) cannot be refreshed; an OAuth integration's can.
type Tokens interface {
	// Access returns the access token to send.
	Access(ctx context.Context) (string, error)
	// Refresh replaces stale, the token amoCRM just answered 401 to, and
	// returns the one to use instead. Its errors are classified.
	Refresh(ctx context.Context, stale string) (string, error)
	// LongLived reports whether the token is a long-lived one.
	LongLived() bool
}

// LongLivedToken is a private integration's long-lived token.
type LongLivedToken string

func (t LongLivedToken) Access(context.Context) (string, error) { return string(t), nil }
func (t LongLivedToken) LongLived() bool                        { return true }

// Refresh cannot help a long-lived token: a person must issue a new one.
func (t LongLivedToken) Refresh(context.Context, string) (string, error) {
	return "", &core.DeliveryError{Class: core.NeedsReauth, Reason: fixLongLived}
}

// String keeps the token out of logs.
func (t LongLivedToken) String() string { return "[redacted]" }

// Config configures a Client.
type Config struct {
	// BaseURL is the account's address, https://SUBDOMAIN.amocrm.ru (or .kommo.com).
	BaseURL string
	// Tokens supplies the bearer token; required. Set Tokens or OAuth.
	Tokens Tokens
	// OAuth authenticates as an OAuth integration whose tokens rotate
	// through a shared store (see NewOAuthTokens).
	OAuth *OAuthConfig
	// Rate is how many requests may reach amoCRM in any second (default
	// and most 7); Margin widens that second (default 10 ms).
	Rate   int
	Margin time.Duration
	// Timeout bounds one HTTP request (default 30 s).
	Timeout time.Duration
	// HTTPClient supplies the transport; it is copied, not modified.
	HTTPClient *http.Client
	// Meter hears limiter waits and token refreshes (nil: nobody).
	Meter connectors.Meter
	// Now is the clock of token expiry and of the block after a 403 (default
	// time.Now); the limiter sleeps and meets deadlines on the wall clock.
	Now func() time.Time
}

// String keeps credentials out of logs.
func (c Config) String() string {
	return "amocrm.Config{base:" + c.BaseURL + ", credentials:[redacted]}"
}

// LogValue keeps secrets out of slog output.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Client calls one amoCRM account's API v4. It is safe for concurrent use;
// all its requests, token refreshes included, share one limiter.
type Client struct {
	meter   connectors.Meter
	http    *resty.Client
	base    string
	tokens  Tokens
	limiter *window
	now     func() time.Time

	blockMu      sync.Mutex
	blockedUntil time.Time // after a 403: nothing is sent before

	secrets redact.Redactor // what errors must never show
}

// StartsBefore is how many requests the client's pace lets start before a
// delivery's deadline, none in its last startMargin.
func (c *Client) StartsBefore(deadline time.Time) int {
	return c.limiter.StartsBefore(deadline.Add(-startMargin))
}

// String keeps credentials out of logs.
func (c *Client) String() string   { return "amocrm.Client{" + c.base + "}" }
func (c *Client) GoString() string { return c.String() }

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	base, err := parseBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if (cfg.Tokens == nil) == (cfg.OAuth == nil) {
		return nil, core.Errorf(core.EINVALID, "amocrm: set either a long-lived token (PAYSYNC_AMOCRM_ACCESS_TOKEN) or the OAuth integration's credentials")
	}
	rate := cfg.Rate
	if rate <= 0 || rate > DefaultRate {
		rate = DefaultRate
	}
	margin := cfg.Margin
	if margin <= 0 {
		margin = DefaultMargin
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	var hc *http.Client
	if cfg.HTTPClient != nil {
		cp := *cfg.HTTPClient // resty changes the client it is given
		hc = &cp
	}
	c := &Client{
		meter:   cfg.Meter,
		http:    restclient.New(base, timeout, hc).SetResponseBodyLimit(maxAnswer).SetDisableWarn(true),
		base:    base,
		limiter: newWindow(rate, time.Second+margin, time.Now), // it sleeps and meets deadlines: the wall clock
		now:     cfg.Now,
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.tokens = cfg.Tokens
	if cfg.OAuth != nil {
		if c.tokens, err = c.newOAuthTokens(*cfg.OAuth); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// parseBaseURL accepts https://SUBDOMAIN.amocrm.ru with or without a
// trailing slash; http and a path are allowed for the sandbox.
func parseBaseURL(raw string) (string, error) {
	raw = strings.TrimRight(strings.TrimSpace(raw), "/")
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.User != nil {
		return "", core.Errorf(core.EINVALID, "PAYSYNC_AMOCRM_BASE_URL must be the account's address, like https://yourshop.amocrm.ru")
	}
	return raw, nil
}

// BaseURL is the account's address.
func (c *Client) BaseURL() string { return c.base }

// request is one API call.
type request struct {
	method string
	path   string // "/api/v4/leads"
	query  string // raw, without "?"
	body   any
}

func (r request) op() string { return r.method + " " + r.path }

// do sends one request through the limiter and returns the status and body
// of a 2xx answer (204 with an empty body included). A 401 refreshes the
// token once and repeats the request. A non-nil error is an *APIError, a
// *TransportError or a classified token error.
func (c *Client) do(ctx context.Context, r request) (int, []byte, error) {
	var payload []byte
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return 0, nil, &core.DeliveryError{Class: core.Permanent, Reason: "paysync could not encode the amoCRM request " + r.op(), Err: err}
		}
		payload = b
	}
	for attempt := 0; ; attempt++ {
		tok, err := c.tokens.Access(ctx)
		if err != nil {
			return 0, nil, err
		}
		c.secrets.Add(tok)
		status, body, hdr, err := c.send(ctx, r, payload, "Bearer "+tok)
		if err != nil {
			return 0, nil, err
		}
		if status/100 == 2 {
			return status, body, nil
		}
		ae := c.apiError(r.op(), status, hdr, body)
		ae.LongLived = c.tokens.LongLived()
		if status == http.StatusUnauthorized && attempt == 0 {
			if _, err := c.tokens.Refresh(ctx, tok); err != nil {
				return 0, nil, err
			}
			continue
		}
		return 0, nil, ae
	}
}

// send makes one HTTP exchange after waiting for the limiter.
func (c *Client) send(ctx context.Context, r request, payload []byte, auth string) (int, []byte, http.Header, error) {
	if c.blocked() {
		// Knocking on a blocked account only prolongs the block.
		return 0, nil, nil, &core.DeliveryError{Class: core.Paused, Reason: fixBlocked}
	}
	wctx := ctx
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		wctx, cancel = context.WithDeadline(ctx, dl.Add(-startMargin))
		defer cancel()
	}
	waitStart := time.Now()
	done, err := c.limiter.Wait(wctx)
	connectors.Waited(c.meter, time.Since(waitStart))
	if err != nil {
		if errors.Is(err, errNoSlot) || (ctx.Err() == nil && wctx.Err() != nil) {
			return 0, nil, nil, errNoSlot
		}
		return 0, nil, nil, &TransportError{Op: r.op(), Msg: "gave up waiting for a request slot: " + err.Error(), ctxErr: err}
	}
	defer done()
	rctx := ctx
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(ctx, max(time.Until(dl)/3, minRequestTime))
		defer cancel()
	}
	req := c.http.R().SetContext(rctx).SetHeader("Accept", "application/json")
	if auth != "" {
		req.SetHeader("Authorization", auth)
	}
	if payload != nil {
		req.SetHeader("Content-Type", "application/json").SetBody(payload)
	}
	u := r.path
	if r.query != "" {
		u += "?" + r.query
	}
	resp, err := req.Execute(r.method, u)
	if err != nil {
		core.ObserveRequest(ctx, core.RequestFailed)
		return 0, nil, nil, c.transportError(r.op(), err)
	}
	status := resp.StatusCode()
	connectors.ObserveStatus(ctx, status)
	switch status {
	case http.StatusTooManyRequests:
		c.limiter.Hold(time.Now().Add(max(retryAfter(resp.Header(), resp.Body()), time.Second)))
	case http.StatusForbidden:
		c.blockMu.Lock()
		c.blockedUntil = c.now().Add(blockHold)
		c.blockMu.Unlock()
	}
	return status, resp.Body(), resp.Header(), nil
}

func (c *Client) blocked() bool {
	c.blockMu.Lock()
	defer c.blockMu.Unlock()
	return c.now().Before(c.blockedUntil)
}

// apiError reads an error answer: problem+json, or any other body.
func (c *Client) apiError(op string, status int, hdr http.Header, body []byte) *APIError {
	ae := &APIError{Op: op, Status: status, RetryAfter: retryAfter(hdr, body)}
	var p struct {
		Title      string       `json:"title"`
		Detail     string       `json:"detail"`
		Hint       string       `json:"hint"`
		Validation []ItemErrors `json:"validation-errors"`
	}
	if json.Unmarshal(body, &p) != nil {
		ae.HTML = len(bytes.TrimSpace(body)) > 0
		return ae
	}
	ae.Title, ae.Detail, ae.Hint = c.secrets.String(p.Title), c.secrets.String(p.Detail), c.secrets.String(p.Hint)
	ae.Validation = p.Validation
	for i := range ae.Validation {
		for j := range ae.Validation[i].Errors {
			fe := &ae.Validation[i].Errors[j]
			fe.Detail = c.secrets.String(fe.Detail)
		}
	}
	return ae
}

// retryAfter reads retry_after from a JSON body, else the Retry-After
// header (seconds or an HTTP date); 0 when neither says.
func retryAfter(hdr http.Header, body []byte) time.Duration {
	var p struct {
		RetryAfter json.RawMessage `json:"retry_after"`
	}
	if json.Unmarshal(body, &p) == nil && len(p.RetryAfter) > 0 {
		s := strings.Trim(string(p.RetryAfter), `"`)
		if f, err := strconv.ParseFloat(s, 64); err == nil && f > 0 {
			return time.Duration(f * float64(time.Second))
		}
	}
	h := strings.TrimSpace(hdr.Get("Retry-After"))
	if h == "" {
		return 0
	}
	if n, err := strconv.Atoi(h); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

func (c *Client) transportError(op string, err error) *TransportError {
	msg, timeout, ctxErr := restclient.Failure(err)
	return &TransportError{Op: op, Msg: c.secrets.String(msg), Timeout: timeout, ctxErr: ctxErr}
}
