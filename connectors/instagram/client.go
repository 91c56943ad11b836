package instagram

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/internal/redact"
	"github.com/paysync/paysync/internal/restclient"
)

// Tokens hands out the access token; *oauthtoken.Source has the shape
// through tokenSource, tests a fixed one.
type Tokens interface {
	// Access returns the token to send.
	Access(ctx context.Context) (string, error)
	// Refresh replaces stale, which Instagram just refused, with a newer
	// one another replica stored, if any; its errors are classified.
	Refresh(ctx context.Context, stale string) (string, error)
}

// fixedToken is a token that never changes (tests, `config check`).
type fixedToken string

func (t fixedToken) Access(context.Context) (string, error) { return string(t), nil }
func (t fixedToken) Refresh(context.Context, string) (string, error) {
	return "", errTokenRefused
}

// APIError is an error answer of the Graph API:
// {"error":{"message","type","code","error_subcode","fbtrace_id"}}.
type APIError struct {
	Status    int // HTTP status
	Code      int
	Subcode   int
	Type      string
	Message   string
	Transient bool          // is_transient: Meta says a retry may work
	Retry     time.Duration // Retry-After, when given
}

func (e *APIError) Error() string {
	code := strconv.Itoa(e.Code)
	if e.Subcode != 0 {
		code += "/" + strconv.Itoa(e.Subcode)
	}
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("Instagram answered HTTP %d, error %s: %s", e.Status, code, msg)
}

// Error codes that matter (../shared/reference/instagram.md).
const (
	codeUnknown       = 1
	codeTemporary     = 2
	codeRateApp       = 4
	codePermission    = 10 // with subcode 2534022: outside the messaging window
	codeRateUser      = 17
	codeRatePage      = 32
	codeParam         = 100
	codeToken         = 190
	codePermissionAlt = 200
	codeUnavailable   = 551
	codeRateCustom    = 613

	subcodeWindow          = 2534022 // Instagram; Messenger's is 2018278
	subcodeWindowMessenger = 2018278
)

// outsideWindow reports Instagram's "This message is sent outside of allowed window".
func (e *APIError) outsideWindow() bool {
	return e.Subcode == subcodeWindow || e.Subcode == subcodeWindowMessenger ||
		e.Code == codePermission && strings.Contains(strings.ToLower(e.Message), "outside of allowed window")
}

func (e *APIError) rateLimited() bool {
	switch e.Code {
	case codeRateApp, codeRateUser, codeRatePage, codeRateCustom:
		return true
	}
	return e.Status == http.StatusTooManyRequests
}

// uncertain reports an answer that does not tell whether the message was
// sent: a 5xx, or Meta's "unexpected" and "temporary" errors.
func (e *APIError) uncertain() bool {
	return e.Status >= 500 || e.Code == codeUnknown || e.Code == codeTemporary || e.Transient && !e.rateLimited()
}

// Client calls the Graph API for one Instagram professional account. It is
// safe for concurrent use.
type Client struct {
	base    string // with a trailing slash
	version string
	account string
	http    *http.Client
	tokens  Tokens
	meter   connectors.Meter
	sends   *rate.Limiter // the Send API
	reads   *rate.Limiter // the Conversations API: 2 calls a second
	secrets *redact.Redactor
}

// ClientConfig configures a Client.
type ClientConfig struct {
	BaseURL    string // default DefaultBaseURL
	Version    string // default DefaultAPIVersion
	AccountID  string
	Tokens     Tokens
	HTTPClient *http.Client
	Meter      connectors.Meter
	Rate       int // sends a second (default DefaultRate)
	Timeout    time.Duration
	Secrets    []string // values no error may show
}

// NewClient returns a Client.
func NewClient(cfg ClientConfig) *Client {
	base := cfg.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	version := strings.Trim(cfg.Version, "/")
	if version == "" {
		version = DefaultAPIVersion
	}
	r := cfg.Rate
	if r <= 0 {
		r = DefaultRate
	}
	hc := &http.Client{}
	if cfg.HTTPClient != nil {
		cp := *cfg.HTTPClient
		hc = &cp
	}
	hc.Timeout = cfg.Timeout
	if hc.Timeout <= 0 {
		hc.Timeout = 20 * time.Second
	}
	return &Client{base: base, version: version, account: cfg.AccountID, http: hc, tokens: cfg.Tokens, meter: cfg.Meter,
		sends: rate.NewLimiter(rate.Limit(r), r), reads: rate.NewLimiter(2, 2), secrets: redact.New(cfg.Secrets...)}
}

// String keeps credentials out of logs.
func (c *Client) String() string { return "instagram.Client{" + c.account + "}" }

// url is {base}{version}/{path}.
func (c *Client) url(path string, q url.Values) string {
	u := c.base + c.version + "/" + strings.TrimPrefix(path, "/")
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// call sends one request with the bearer token and decodes a 2xx answer
// into out. A refused token is refreshed once from the store (another
// replica may have renewed it) before the call is given up.
func (c *Client) call(ctx context.Context, lim *rate.Limiter, method, u string, body, out any) error {
	tok, err := c.tokens.Access(ctx)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		err := c.once(ctx, lim, method, u, tok, body, out)
		var ae *APIError
		if attempt > 0 || !errors.As(err, &ae) || ae.Code != codeToken {
			return err
		}
		fresh, rerr := c.tokens.Refresh(ctx, tok)
		if rerr != nil || fresh == "" || fresh == tok {
			return err
		}
		tok = fresh
	}
}

func (c *Client) once(ctx context.Context, lim *rate.Limiter, method, u, tok string, body, out any) error {
	if lim != nil {
		start := time.Now()
		if err := lim.Wait(ctx); err != nil {
			return &netError{msg: "waited for the rate budget: " + err.Error(), ctxErr: ctx.Err()}
		}
		connectors.Waited(c.meter, time.Since(start)-time.Millisecond)
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "paysync")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		msg, timeout, ctxErr := restclient.Failure(err)
		return &netError{msg: c.secrets.String(msg), timeout: timeout, ctxErr: ctxErr}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, restclient.MaxAnswer))
	if err != nil {
		return &netError{msg: "the answer was cut short: " + c.secrets.String(err.Error())}
	}
	if resp.StatusCode/100 != 2 {
		return c.apiError(resp, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return &APIError{Status: resp.StatusCode, Code: codeUnknown, Message: "the answer is not the JSON the Graph API sends"}
	}
	return nil
}

// netError is a request that got no answer: it may or may not have reached
// Instagram.
type netError struct {
	msg     string
	timeout bool
	ctxErr  error
}

func (e *netError) Error() string {
	if e.timeout {
		return "no answer from Instagram in time: " + e.msg
	}
	return "no answer from Instagram: " + e.msg
}

func (c *Client) apiError(resp *http.Response, data []byte) error {
	var doc struct {
		Error struct {
			Message     string `json:"message"`
			Type        string `json:"type"`
			Code        int    `json:"code"`
			Subcode     int    `json:"error_subcode"`
			IsTransient bool   `json:"is_transient"`
		} `json:"error"`
	}
	_ = json.Unmarshal(data, &doc)
	e := &APIError{Status: resp.StatusCode, Code: doc.Error.Code, Subcode: doc.Error.Subcode, Type: doc.Error.Type,
		Message: c.secrets.String(doc.Error.Message), Transient: doc.Error.IsTransient}
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
		e.Retry = time.Duration(secs) * time.Second
	}
	return e
}

// SendResult is what the Send API answered.
type SendResult struct {
	RecipientID string `json:"recipient_id"`
	MessageID   string `json:"message_id"`
}

// Send writes text to the customer: POST {base}{version}/{account}/messages
// with recipient.id and message.text. humanAgent tags it HUMAN_AGENT (a
// person's reply up to 7 days after the customer's last message).
func (c *Client) Send(ctx context.Context, igsid, text string, humanAgent bool) (string, error) {
	body := map[string]any{"recipient": map[string]string{"id": igsid}, "message": map[string]string{"text": text}}
	if humanAgent {
		body["messaging_type"], body["tag"] = "MESSAGE_TAG", "HUMAN_AGENT"
	}
	var out SendResult
	if err := c.call(ctx, c.sends, http.MethodPost, c.url(c.account+"/messages", nil), body, &out); err != nil {
		return "", err
	}
	if out.MessageID == "" {
		return "", &APIError{Status: http.StatusOK, Code: codeUnknown, Message: "the Send API answered without a message_id"}
	}
	return out.MessageID, nil
}

// Profile is what the profile API says of a customer.
type Profile struct {
	Username string `json:"username"`
	Name     string `json:"name"`
}

// Profile asks for a customer's username: GET /{IGSID}?fields=name,username.
// It answers only for someone who has written to the account.
func (c *Client) Profile(ctx context.Context, igsid string) (Profile, error) {
	var p Profile
	err := c.call(ctx, c.reads, http.MethodGet, c.url(url.PathEscape(igsid), url.Values{"fields": {"name,username"}}), nil, &p)
	return p, err
}

// Account is the professional account the token belongs to.
type Account struct {
	ID       string `json:"id"`
	UserID   string `json:"user_id"`
	Username string `json:"username"`
	Name     string `json:"name"`
}

// Me reads the account behind the token: GET /me?fields=user_id,username,name.
func (c *Client) Me(ctx context.Context) (Account, error) {
	var a Account
	err := c.call(ctx, c.reads, http.MethodGet, c.url("me", url.Values{"fields": {"user_id,username,name"}}), nil, &a)
	return a, err
}

// graphTime reads the Graph API's times ("2026-03-01T10:00:00+0000").
func graphTime(s string) (time.Time, bool) {
	for _, layout := range []string{"2006-01-02T15:04:05-0700", time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// FindSent looks for a message the account sent to igsid at or after since
// whose text has digest, through the Conversations API: the conversation
// with the customer, its latest messages, then each recent one's sender and
// text. It returns the message's id, or "" when the thread has none.
func (c *Client) FindSent(ctx context.Context, igsid, digest string, since time.Time, textDigest func(string) string) (string, error) {
	var convs struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	q := url.Values{"platform": {"instagram"}, "user_id": {igsid}}
	if err := c.call(ctx, c.reads, http.MethodGet, c.url(c.account+"/conversations", q), nil, &convs); err != nil {
		return "", err
	}
	for _, conv := range convs.Data {
		var thread struct {
			Messages struct {
				Data []struct {
					ID          string `json:"id"`
					CreatedTime string `json:"created_time"`
				} `json:"data"`
			} `json:"messages"`
		}
		if err := c.call(ctx, c.reads, http.MethodGet, c.url(url.PathEscape(conv.ID), url.Values{"fields": {"messages"}}), nil, &thread); err != nil {
			return "", err
		}
		looked := 0
		for _, m := range thread.Messages.Data { // newest first
			if at, ok := graphTime(m.CreatedTime); ok && at.Before(since) {
				break
			}
			if looked++; looked > 10 {
				break // the send was moments ago; more is not it
			}
			var msg struct {
				ID      string `json:"id"`
				Message string `json:"message"`
				From    struct {
					ID string `json:"id"`
				} `json:"from"`
			}
			q := url.Values{"fields": {"id,created_time,from,to,message"}}
			if err := c.call(ctx, c.reads, http.MethodGet, c.url(url.PathEscape(m.ID), q), nil, &msg); err != nil {
				return "", err
			}
			if msg.From.ID != igsid && textDigest(msg.Message) == digest {
				return msg.ID, nil
			}
		}
	}
	return "", nil
}

// ProbeMessaging lists one conversation of the account: it answers only
// for a token with the messaging permission.
func (c *Client) ProbeMessaging(ctx context.Context) error {
	q := url.Values{"platform": {"instagram"}, "limit": {"1"}}
	return c.call(ctx, c.reads, http.MethodGet, c.url(c.account+"/conversations", q), nil, nil)
}

// RefreshToken exchanges a long-lived token for a new one:
// GET {base}refresh_access_token?grant_type=ig_refresh_token&access_token=…
// (Instagram Login). It answers the new token and its lifetime.
func (c *Client) RefreshToken(ctx context.Context, current string) (string, time.Duration, error) {
	c.secrets.Add(current)
	u := c.base + "refresh_access_token?" + url.Values{"grant_type": {"ig_refresh_token"}, "access_token": {current}}.Encode()
	var out struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	// This endpoint takes the token in the query, not the header.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		msg, timeout, ctxErr := restclient.Failure(err)
		return "", 0, &netError{msg: c.secrets.String(msg), timeout: timeout, ctxErr: ctxErr}
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, restclient.MaxAnswer))
	if resp.StatusCode/100 != 2 {
		return "", 0, c.apiError(resp, data)
	}
	if json.Unmarshal(data, &out) != nil || out.AccessToken == "" {
		return "", 0, &APIError{Status: resp.StatusCode, Code: codeUnknown, Message: "the refresh answered no access_token"}
	}
	c.secrets.Add(out.AccessToken)
	return out.AccessToken, time.Duration(out.ExpiresIn) * time.Second, nil
}
