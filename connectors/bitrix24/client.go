// Package bitrix24 connects paysync to a Bitrix24 portal: a REST client
// (incoming-webhook or OAuth auth, the portal's rate budget, batch), the
// classification of the portal's errors, and the CRM connector.
package bitrix24

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-resty/resty/v2"
	"golang.org/x/time/rate"

	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/oauthtoken"
	"github.com/paysync/paysync/internal/redact"
	"github.com/paysync/paysync/internal/restclient"
)

// Name is the connector's name in config, the outbox and links.
const Name = "bitrix24"

// Client defaults.
const (
	DefaultTimeout = 30 * time.Second
	MaxBatch       = 50
	maxAnswer      = 16 << 20
)

// Config configures a Client. Set WebhookURL or OAuth, not both.
type Config struct {
	// Meter hears rate-budget waits and token refreshes (nil: nobody).
	Meter connectors.Meter
	// WebhookURL is an incoming webhook, https://portal/rest/{user_id}/{code}/.
	// The whole URL is a secret: it never appears in logs or errors.
	WebhookURL string
	// OAuth authenticates as an OAuth application instead.
	OAuth *OAuthConfig
	// Timeout bounds one HTTP request (default 30 s).
	Timeout time.Duration
	// Rate is the portal's drain rate in requests per second (default 2;
	// Enterprise plans 5). rate.Inf disables the client-side budget (tests).
	Rate rate.Limit
	// BucketSize is the portal's bucket: the level above which it refuses
	// requests (default 50; Enterprise plans 250).
	BucketSize int
	// BurstShare is the share of BucketSize that paysync may fill in a burst
	// (default 0.5: 25 requests at once on a standard plan); the rest stays
	// free for the shop's other integrations. It is never exceeded.
	BurstShare float64
	// HTTPClient supplies the transport; it is copied, not modified.
	HTTPClient *http.Client
	// Now is the clock of the rate budget and of OPERATION_TIME_LIMIT waits
	// (default time.Now).
	Now func() time.Time
}

// String keeps the webhook URL and OAuth secrets out of logs.
func (c Config) String() string {
	mode := "webhook"
	if c.OAuth != nil {
		mode = "oauth"
	}
	return "bitrix24.Config{auth:" + mode + ", credentials:[redacted]}"
}

// LogValue keeps secrets out of slog output.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// OAuthConfig is an OAuth application's credentials and token storage.
type OAuthConfig struct {
	ClientID     string
	ClientSecret string
	// TokenURL is the OAuth server (default https://oauth.bitrix.info/oauth/token/).
	TokenURL string
	// PortalURL is the REST endpoint, https://portal/rest/; default the
	// token's client_endpoint.
	PortalURL string
	// Store persists the rotated token pair; required. StateTokenStore keeps
	// it in paysync's database.
	Store oauthtoken.Store
	// Leases serialise refreshes across replicas; default Store when it has
	// them (StateTokenStore does).
	Leases oauthtoken.Leases
}

// Client calls one Bitrix24 portal's REST API. It is safe for concurrent use.
type Client struct {
	meter   connectors.Meter
	http    *resty.Client
	budget  *budget
	sleep   func(ctx context.Context, d time.Duration) error
	webhook string // base URL ending in "/", a secret
	oauth   *OAuthConfig
	now     func() time.Time

	tokens *oauthtoken.Source // OAuth only

	secrets redact.Redactor // what errors must never show

	resetMu sync.Mutex
	resets  map[string]time.Time // method -> operating_reset_at of its last successful answer
}

// operatingBucket is the span of one of the ten buckets Bitrix24 sums a
// method's operating time over: a method blocked again once its
// operating_reset_at has passed waits for the next bucket to drop.
const operatingBucket = time.Minute

// noteReset keeps operating_reset_at (unix seconds, 0 when the answer has
// none) of a successful answer to method.
func (c *Client) noteReset(method string, at float64) {
	if at <= 0 {
		return
	}
	c.resetMu.Lock()
	defer c.resetMu.Unlock()
	if c.resets == nil {
		c.resets = map[string]time.Time{}
	}
	c.resets[strings.ToLower(method)] = time.Unix(int64(at), 0)
}

// resetWait is how long method stays blocked after OPERATION_TIME_LIMIT:
// until operating_reset_at of its last successful answer, as Bitrix24's
// docs advise (an error answer need not carry one); once that has passed
// and the method is blocked again, until the next bucket drops.
func (c *Client) resetWait(method string) time.Duration {
	c.resetMu.Lock()
	at := c.resets[strings.ToLower(method)]
	c.resetMu.Unlock()
	if wait := at.Sub(c.now()); wait > 0 {
		return wait.Truncate(time.Second) + time.Second
	}
	return operatingBucket
}

// observe reports one answered request to the dispatcher's breaker: a
// rate-limit or operating-time answer says nothing of the portal's health.
func observe(ctx context.Context, status int, e *APIError) {
	switch {
	case e == nil:
		core.ObserveRequest(ctx, core.RequestAnswered)
	case e.Code == "QUERY_LIMIT_EXCEEDED" || e.Code == "OPERATION_TIME_LIMIT":
		core.ObserveRequest(ctx, core.RequestThrottled)
	case status >= 500 || e.Code == "ERROR_CORE" || e.Code == "INTERNAL_SERVER_ERROR":
		core.ObserveRequest(ctx, core.RequestFailed)
	default:
		core.ObserveRequest(ctx, core.RequestAnswered)
	}
}

// String keeps the webhook URL out of logs.
func (c *Client) String() string   { return "bitrix24.Client{credentials:[redacted]}" }
func (c *Client) GoString() string { return c.String() }

// New validates cfg and returns a Client. Its errors never echo the URL.
func New(cfg Config) (*Client, error) {
	if (cfg.WebhookURL == "") == (cfg.OAuth == nil) {
		return nil, core.Errorf(core.EINVALID, "bitrix24: set either PAYSYNC_BITRIX24_WEBHOOK_URL or the OAuth app credentials")
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
	r := cfg.Rate
	if r == 0 {
		r = DefaultRate
	}
	size, share := cfg.BucketSize, cfg.BurstShare
	if size == 0 {
		size = DefaultBucketSize
	}
	if share == 0 {
		share = DefaultBurstShare
	}
	if r < 0 || size < 1 || !(share > 0 && share <= 1) {
		return nil, core.Errorf(core.EINVALID, "bitrix24: the rate budget needs rate_limit > 0 (requests per second the portal drains: 2, Enterprise 5), "+
			"bucket_size ≥ 1 (50, Enterprise 250) and burst_share in (0, 1] (default 0.5)")
	}
	c := &Client{
		meter: cfg.Meter,
		http: resty.NewWithClient(hc).
			SetTimeout(timeout).
			SetRetryCount(0).
			SetLogger(restclient.Quiet{}).
			SetDisableWarn(true).
			SetResponseBodyLimit(maxAnswer),
		now:   cfg.Now,
		sleep: sleepCtx,
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.budget = newBudget(r, size, share, c.now())
	if cfg.WebhookURL != "" {
		base, secrets, err := parseWebhook(cfg.WebhookURL)
		if err != nil {
			return nil, err
		}
		c.webhook = base
		c.secrets.Add(secrets...)
		return c, nil
	}
	if cfg.OAuth.Store == nil || cfg.OAuth.ClientID == "" || cfg.OAuth.ClientSecret == "" {
		return nil, core.Errorf(core.EINVALID, "bitrix24: the OAuth app needs a client id, a client secret and a token store")
	}
	o := *cfg.OAuth
	c.oauth = &o
	c.secrets.Add(o.ClientSecret)
	src, err := c.newTokenSource(&o)
	if err != nil {
		return nil, err
	}
	c.tokens = src
	return c, nil
}

// parseWebhook accepts the URL Bitrix24 shows for an incoming webhook, with or
// without a trailing example method (".../rest/1/abc/profile.json").
func parseWebhook(raw string) (base string, secrets []string, err error) {
	bad := core.Errorf(core.EINVALID, "PAYSYNC_BITRIX24_WEBHOOK_URL must be the incoming webhook URL, "+
		"like https://your-portal.bitrix24.com/rest/1/abcdef123456/")
	raw = strings.TrimSpace(raw)
	u, perr := url.Parse(raw)
	if perr != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", nil, bad
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	for i, s := range segs {
		if s != "rest" || i+2 >= len(segs) {
			continue
		}
		user, code := segs[i+1], segs[i+2]
		if _, err := strconv.Atoi(user); err != nil || code == "" {
			return "", nil, bad
		}
		base = u.Scheme + "://" + u.Host + "/" + strings.Join(segs[:i+3], "/") + "/"
		return base, []string{raw, base, strings.TrimSuffix(base, "/"), code}, nil
	}
	return "", nil, bad
}

// Response is a successful answer.
type Response struct {
	Result json.RawMessage
	// Total is the row count of a list method; Next the start of the next
	// page, nil on the last page.
	Total int
	Next  *int
	Time  Time
}

// Decode unmarshals Result into v.
func (r *Response) Decode(v any) error { return json.Unmarshal(r.Result, v) }

// Time is the answer's "time" object. Operating* are cloud-only.
type Time struct {
	Start            float64 `json:"start"`
	Finish           float64 `json:"finish"`
	Duration         float64 `json:"duration"`
	Processing       float64 `json:"processing"`
	DateStart        string  `json:"date_start"`
	DateFinish       string  `json:"date_finish"`
	OperatingResetAt float64 `json:"operating_reset_at"`
	Operating        float64 `json:"operating"`
}

type envelope struct {
	Result      json.RawMessage `json:"result"`
	Total       *int            `json:"total"`
	Next        *int            `json:"next"`
	Time        Time            `json:"time"`
	Error       *string         `json:"error"`
	Description string          `json:"error_description"`
}

// Call runs one REST method. A non-nil error is a *core.DeliveryError
// wrapping an *APIError or a *TransportError.
func (c *Client) Call(ctx context.Context, method string, params map[string]any) (*Response, error) {
	env, err := c.post(ctx, method, func(auth string) ([]byte, error) {
		body := make(map[string]any, len(params)+1)
		for k, v := range params {
			body[k] = v
		}
		if auth != "" {
			body["auth"] = auth
		}
		return json.Marshal(body)
	})
	if err != nil {
		var ae *APIError
		if errors.As(err, &ae) {
			ae.Currency = currencyOf(params)
		}
		return nil, Classify(err)
	}
	resp := &Response{Result: env.Result, Next: env.Next, Time: env.Time}
	if env.Total != nil {
		resp.Total = *env.Total
	}
	return resp, nil
}

// nextSlot is how long a request would now wait for the rate budget.
func (c *Client) nextSlot() time.Duration { return c.budget.delay(c.now()) }

// waitSlot waits until the rate budget lets one request start. When the
// deadline comes first it returns at once, without waiting or sending.
func (c *Client) waitSlot(ctx context.Context, method string) error {
	now := c.now()
	wait := c.budget.reserve(now)
	if wait <= 0 {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
		c.budget.cancel(now)
		return &core.DeliveryError{Class: core.Retryable, SlowDown: true,
			Reason: "paysync's share of the Bitrix24 request budget leaves no slot before the deadline; slowing down"}
	}
	if err := c.sleep(ctx, wait); err != nil {
		c.budget.cancel(c.now())
		return &TransportError{Method: method, Msg: "gave up waiting for a request slot: " + err.Error(), ctxErr: err}
	}
	connectors.Waited(c.meter, wait)
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Result is one command's outcome in a batch.
type Result struct {
	Key    string
	Result json.RawMessage // nil when the command failed or did not run
	Total  int
	Next   *int
	// Err is a *core.DeliveryError wrapping the command's *APIError, or a
	// retryable error when a halted batch did not run the command.
	Err error
}

// Batch runs up to 50 commands in one request, in order; later commands may
// reference earlier results as "$result[key]". With halt, the portal stops
// at the first failing command. It returns one Result per command, in order;
// the error is for the request as a whole (rate limit, auth, network).
func (c *Client) Batch(ctx context.Context, cmds []Command, halt bool) ([]Result, error) {
	if len(cmds) == 0 {
		return nil, nil
	}
	if len(cmds) > MaxBatch {
		return nil, &core.DeliveryError{Class: core.Permanent, Reason: fmt.Sprintf("a Bitrix24 batch holds at most %d commands, got %d", MaxBatch, len(cmds))}
	}
	cmds = append([]Command(nil), cmds...)
	seen := map[string]bool{}
	for i := range cmds {
		if cmds[i].Key == "" {
			cmds[i].Key = "c" + strconv.Itoa(i)
		}
		if seen[cmds[i].Key] {
			return nil, &core.DeliveryError{Class: core.Permanent, Reason: "duplicate batch command key " + cmds[i].Key}
		}
		seen[cmds[i].Key] = true
	}
	env, err := c.post(ctx, "batch", func(auth string) ([]byte, error) {
		return batchBody(cmds, halt, auth), nil
	})
	if err != nil {
		return nil, Classify(err)
	}
	var body struct {
		Result json.RawMessage `json:"result"`
		Errors json.RawMessage `json:"result_error"`
		Total  json.RawMessage `json:"result_total"`
		Next   json.RawMessage `json:"result_next"`
		Times  json.RawMessage `json:"result_time"`
	}
	if err := json.Unmarshal(env.Result, &body); err != nil {
		return nil, Classify(&APIError{Method: "batch", Status: http.StatusOK, Code: "ERROR_UNEXPECTED_ANSWER"})
	}
	results, err1 := phpMap(body.Result)
	errs, err2 := phpMap(body.Errors)
	totals, _ := phpMap(body.Total)
	nexts, _ := phpMap(body.Next)
	times, _ := phpMap(body.Times)
	for _, cmd := range cmds {
		// Each command counts against its own method's operating time.
		var t Time
		if raw, ok := times[cmd.Key]; ok && json.Unmarshal(raw, &t) == nil {
			c.noteReset(cmd.Method, t.OperatingResetAt)
		}
	}
	if err1 != nil || err2 != nil {
		return nil, Classify(&APIError{Method: "batch", Status: http.StatusOK, Code: "ERROR_UNEXPECTED_ANSWER"})
	}
	out := make([]Result, len(cmds))
	for i, cmd := range cmds {
		r := Result{Key: cmd.Key}
		if raw, ok := results[cmd.Key]; ok {
			r.Result = raw
			if t, ok := totals[cmd.Key]; ok {
				_ = json.Unmarshal(t, &r.Total)
			}
			if n, ok := nexts[cmd.Key]; ok {
				var next int
				if json.Unmarshal(n, &next) == nil {
					r.Next = &next
				}
			}
		} else if raw, ok := errs[cmd.Key]; ok {
			r.Err = Classify(c.commandError(cmd, raw))
		} else {
			r.Err = &core.DeliveryError{Class: core.Retryable, Reason: "not run: the Bitrix24 batch stopped at an earlier failing command"}
		}
		out[i] = r
	}
	return out, nil
}

func (c *Client) commandError(cmd Command, raw json.RawMessage) *APIError {
	ae := &APIError{Method: cmd.Method, Currency: currencyOf(cmd.Params), OAuth: c.oauth != nil}
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(raw, &e) == nil {
		ae.Code, ae.Description = e.Error, c.secrets.String(e.Description)
		if ae.Code == "OPERATION_TIME_LIMIT" {
			ae.RetryAfter = c.resetWait(cmd.Method)
		}
		return ae
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		ae.Description = c.secrets.String(s)
	}
	return ae
}

// post sends one request and decodes the envelope. With OAuth, an
// expired_token answer refreshes the token and retries once.
func (c *Client) post(ctx context.Context, method string, body func(auth string) ([]byte, error)) (*envelope, error) {
	for attempt := 0; ; attempt++ {
		if err := c.waitSlot(ctx, method); err != nil {
			return nil, err
		}
		endpoint, auth := c.webhook, ""
		if c.oauth != nil {
			var err error
			if endpoint, auth, err = c.oauthCredentials(ctx); err != nil {
				return nil, err
			}
		}
		b, err := body(auth)
		if err != nil {
			return nil, &core.DeliveryError{Class: core.Permanent, Reason: "paysync could not encode the Bitrix24 request for " + method, Err: err}
		}
		resp, err := c.http.R().SetContext(ctx).
			SetHeader("Content-Type", "application/json").
			SetHeader("Accept", "application/json").
			SetBody(b).
			Post(endpoint + method + ".json")
		if err != nil {
			core.ObserveRequest(ctx, core.RequestFailed)
			return nil, c.transportError(method, err)
		}
		env, apiErr := c.decode(method, resp.StatusCode(), resp.Body())
		observe(ctx, resp.StatusCode(), apiErr)
		if apiErr == nil {
			c.noteReset(method, env.Time.OperatingResetAt)
			return env, nil
		}
		if apiErr.Code == "QUERY_LIMIT_EXCEEDED" {
			// Others filled the bucket: count it as full until it drains.
			c.budget.fill(c.now())
		}
		if apiErr.Code == "expired_token" && c.oauth != nil && attempt == 0 {
			if err := c.refresh(ctx, auth); err != nil {
				return nil, err
			}
			continue
		}
		return nil, apiErr
	}
}

func (c *Client) decode(method string, status int, body []byte) (*envelope, *APIError) {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		code := "ERROR_UNEXPECTED_ANSWER"
		if status >= 500 {
			code = ""
		}
		return nil, &APIError{Method: method, Status: status, Code: code, Description: "the answer is not Bitrix24 JSON", OAuth: c.oauth != nil}
	}
	failed := status != http.StatusOK || (env.Error != nil && (*env.Error != "" || env.Description != ""))
	if !failed {
		return &env, nil
	}
	ae := &APIError{Method: method, Status: status, Description: c.secrets.String(env.Description), OAuth: c.oauth != nil}
	if env.Error != nil {
		ae.Code = *env.Error
	}
	if ae.Code == "OPERATION_TIME_LIMIT" {
		ae.RetryAfter = c.resetWait(method)
		if env.Time.OperatingResetAt > 0 {
			// An answer that does say when is believed.
			if wait := time.Unix(int64(env.Time.OperatingResetAt), 0).Sub(c.now()); wait > 0 {
				ae.RetryAfter = wait.Truncate(time.Second) + time.Second
			}
		}
	}
	return nil, ae
}

func (c *Client) transportError(method string, err error) *TransportError {
	msg, timeout, ctxErr := restclient.Failure(err)
	return &TransportError{Method: method, Msg: c.secrets.String(msg), Timeout: timeout, ctxErr: ctxErr}
}

// currencyOf finds fields.CURRENCY_ID in a call's params, to name it in the fix.
func currencyOf(params map[string]any) string {
	fields, ok := params["fields"].(map[string]any)
	if !ok {
		return ""
	}
	s, _ := fields["CURRENCY_ID"].(string)
	return s
}
