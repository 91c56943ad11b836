package vpos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/paysync/paysync/core"
)

type sessionRequest struct {
	MerchantOrderID string            `json:"merchantOrderId"`
	AmountMinor     int64             `json:"amountMinor"`
	Currency        string            `json:"currency"`
	Provider        string            `json:"provider,omitempty"`
	ReturnURL       string            `json:"returnUrl,omitempty"`
	Customer        *sessionCustomer  `json:"customer,omitempty"`
	Metadata        map[string]string `json:"metadata"`
}

type sessionCustomer struct {
	Email string `json:"email,omitempty"`
	Phone string `json:"phone,omitempty"`
	Name  string `json:"name,omitempty"`
}

// SessionRequest is the body CreateLink sends for an order (exported for
// `mapping render`-style inspection and tests).
func (p *Provider) SessionRequest(o core.Order) any {
	req := sessionRequest{MerchantOrderID: o.ID, AmountMinor: o.AmountMinor, Currency: o.Currency,
		Provider: p.o.ProviderName, Metadata: map[string]string{"order_id": o.ID, "source": "paysync"}}
	if p.o.ReturnURL != "" {
		req.ReturnURL = strings.ReplaceAll(p.o.ReturnURL, "{order_id}", url.QueryEscape(o.ID))
	}
	if c := o.Customer; c.Email != "" || c.Phone != "" || c.Name != "" {
		req.Customer = &sessionCustomer{Email: c.Email, Phone: c.Phone, Name: c.Name}
	}
	if o.Customer.Handle != "" {
		req.Metadata["instagram"] = o.Customer.Handle
	}
	return req
}

// CreateLink creates a payment session for the order and returns its
// checkout URL and session id. The Idempotency-Key makes a retry safe.
func (p *Provider) CreateLink(ctx context.Context, o core.Order) (core.PaymentLink, error) {
	if p.o.APIToken == "" {
		return core.PaymentLink{}, core.Errorf(core.EINVALID, "VPOS.am payment links need PAYSYNC_VPOS_API_TOKEN")
	}
	resp, err := p.client.R().SetContext(ctx).
		SetHeader("Content-Type", "application/json").
		SetHeader("Idempotency-Key", IdempotencyKey(o)).
		SetBody(p.SessionRequest(o)).
		Post(SessionsPath)
	if err := p.apiError(resp, err, "create a payment session"); err != nil {
		return core.PaymentLink{}, err
	}
	doc, err := decodeDoc(resp.Body())
	if err != nil {
		return core.PaymentLink{}, core.Errorf(core.EUNAVAILABLE, "VPOS.am answered the payment session with something that is not JSON")
	}
	link := core.PaymentLink{URL: p.str(doc, "checkout_url"), ProviderRef: p.str(doc, "session_id")}
	if link.URL == "" || link.ProviderRef == "" {
		missing, key := "checkout URL", "checkout_url"
		if link.ProviderRef == "" {
			missing, key = "session id", "session_id"
		}
		return core.PaymentLink{}, core.Errorf(core.EUNAVAILABLE,
			"VPOS.am created the session but its answer has no %s at %s; set providers.vpos.fields.%s to the right path (the answer has keys: %s)",
			missing, strings.Join(p.fields[key], " or "), key, strings.Join(topKeys(doc), ", "))
	}
	if u, err := url.Parse(link.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return core.PaymentLink{}, core.Errorf(core.EUNAVAILABLE, "VPOS.am returned a checkout URL that is not http(s)")
	}
	return link, nil
}

// Lookup asks VPOS.am where the order's payment session stands.
func (p *Provider) Lookup(ctx context.Context, o core.Order) (core.PaymentEvent, error) {
	if p.o.APIToken == "" {
		return core.PaymentEvent{}, core.Errorf(core.EINVALID, "VPOS.am status lookups need PAYSYNC_VPOS_API_TOKEN")
	}
	path := p.o.LookupPath
	if strings.Contains(path, "{id}") {
		if o.ProviderRef == "" {
			return core.PaymentEvent{}, core.Errorf(core.EINVALID, "order %s has no VPOS.am session id to look up (it has no payment link from VPOS.am)", o.ID)
		}
		path = strings.ReplaceAll(path, "{id}", url.PathEscape(o.ProviderRef))
	}
	path = strings.ReplaceAll(path, "{order_id}", url.PathEscape(o.ID))
	resp, err := p.client.R().SetContext(ctx).Get(path)
	if err := p.apiError(resp, err, "look up order "+o.ID); err != nil {
		return core.PaymentEvent{}, err
	}
	doc, err := decodeDoc(resp.Body())
	if err != nil {
		return core.PaymentEvent{}, core.Errorf(core.EUNAVAILABLE, "VPOS.am answered the status lookup with something that is not JSON")
	}
	ev, err := p.event(doc, resp.Body())
	if err != nil {
		return core.PaymentEvent{}, err
	}
	if ev.OrderID != "" && ev.OrderID != o.ID {
		return core.PaymentEvent{}, core.Errorf(core.EUNAVAILABLE, "VPOS.am answered the lookup of order %s with order %s; check providers.vpos.lookup_path", o.ID, ev.OrderID)
	}
	ev.OrderID = o.ID
	ev.Source = core.SourceLookup
	ev.Verified = true // asked over the authenticated API
	ev.EventID = ""    // the caller names lookup events
	ev.OccurredAt = time.Time{}
	if ref := p.str(doc, "session_id"); ref != "" {
		ev.ProviderRef = ref
	} else if ev.ProviderRef == "" {
		ev.ProviderRef = o.ProviderRef
	}
	if ev.Type == "" {
		ev.Type = "lookup"
	}
	return ev, nil
}

// apiError turns a transport error or a non-2xx answer into a typed error
// that says what to do. It never includes the token.
func (p *Provider) apiError(resp *resty.Response, err error, what string) error {
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) && ue.Timeout() || errors.Is(err, context.DeadlineExceeded) {
			return core.Errorf(core.EUNAVAILABLE, "VPOS.am did not answer in time to %s; it is retried later", what)
		}
		if errors.Is(err, resty.ErrResponseBodyTooLarge) {
			return core.Errorf(core.EUNAVAILABLE, "VPOS.am answered with a body larger than 1 MiB")
		}
		return &core.Error{Code: core.EUNAVAILABLE, Message: "cannot reach VPOS.am to " + what, Err: err}
	}
	code := resp.StatusCode()
	if code >= 200 && code < 300 {
		return nil
	}
	switch code {
	case http.StatusUnauthorized:
		return core.Errorf(core.EUNAUTHORIZED, "VPOS.am refused the API token (401) trying to %s: check PAYSYNC_VPOS_API_TOKEN (the merchant API token from the VPOS.am dashboard)", what)
	case http.StatusForbidden:
		return core.Errorf(core.EUNAUTHORIZED, "VPOS.am refused the request as coming from an untrusted origin (403) trying to %s: allow this server's IP address or origin in the VPOS.am merchant settings", what)
	case http.StatusTooManyRequests:
		wait := resp.Header().Get("Retry-After")
		if wait == "" {
			wait = "a while"
		} else if _, err := strconv.Atoi(wait); err == nil {
			wait += "s"
		}
		return core.Errorf(core.EUNAVAILABLE, "VPOS.am is rate limiting paysync (429) trying to %s; retry after %s", what, wait)
	case http.StatusNotFound:
		return core.Errorf(core.ENOTFOUND, "VPOS.am answered 404 trying to %s: the session does not exist, or providers.vpos.lookup_path (%s) is wrong", what, p.o.LookupPath)
	}
	if code >= 500 {
		return core.Errorf(core.EUNAVAILABLE, "VPOS.am answered %d trying to %s; it is retried later", code, what)
	}
	msg := ""
	if doc, err := decodeDoc(resp.Body()); err == nil {
		msg = p.str(doc, "message")
	}
	if msg == "" {
		msg = http.StatusText(code)
	}
	return core.Errorf(core.EINVALID, "VPOS.am refused to %s (%d): %s", what, code, truncate(msg, 200))
}

// decodeDoc parses JSON keeping numbers exact.
func decodeDoc(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

// lookupPath finds the first of field's paths present in doc.
func (p *Provider) lookupPath(doc any, field string) (any, bool) {
	for _, path := range p.fields[field] {
		if v, ok := at(doc, path); ok && v != nil {
			return v, true
		}
	}
	return nil, false
}

func at(doc any, path string) (any, bool) {
	cur := doc
	for _, part := range strings.Split(path, ".") {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[part]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// str reads a field as a string (numbers and booleans are formatted).
func (p *Provider) str(doc any, field string) string {
	v, ok := p.lookupPath(doc, field)
	if !ok {
		return ""
	}
	switch t := v.(type) {
	case string:
		return t
	case json.Number:
		return t.String()
	case bool:
		return strconv.FormatBool(t)
	}
	return ""
}

// int reads a field as an integer count of minor units; ok is false when
// the field is absent.
func (p *Provider) int(doc any, field string) (n int64, ok bool, err error) {
	v, found := p.lookupPath(doc, field)
	if !found {
		return 0, false, nil
	}
	var s string
	switch t := v.(type) {
	case json.Number:
		s = t.String()
	case string:
		s = strings.TrimSpace(t)
	default:
		return 0, true, core.Errorf(core.EINVALID, "%s is not a number", field)
	}
	n, err = strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, true, core.Errorf(core.EINVALID, "%s %q is not a whole number of minor units", field, truncate(s, 30))
	}
	return n, true, nil
}

func topKeys(doc any) []string {
	m, ok := doc.(map[string]any)
	if !ok {
		return []string{"(not an object)"}
	}
	return sortedKeys(m)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
