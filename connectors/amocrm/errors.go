package amocrm

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/core"
)

// APIError is an answer of amoCRM other than 2xx: application/problem+json
// ({"title","type","status","detail"}, "validation-errors" on a 400,
// "hint" from the OAuth server, "retry_after" on a 429), or a page of HTML
// from amoCRM's front when the body is not JSON.
type APIError struct {
	Op         string // "PATCH /api/v4/leads", "POST /oauth2/access_token"
	Status     int
	Title      string
	Detail     string
	Hint       string
	Validation []ItemErrors
	RetryAfter time.Duration // from retry_after or Retry-After; 0 when none
	HTML       bool          // the body was not JSON
	// LongLived is set when the request carried a long-lived token.
	LongLived bool
}

// ItemErrors are the validation errors of one item of a request, keyed by
// the request_id the item was sent with (or its index).
type ItemErrors struct {
	RequestID string       `json:"request_id"`
	Errors    []FieldError `json:"errors"`
}

// FieldError is one refused value: {"code":"NotSupportedChoice","path":"custom_fields_values.0.field_id","detail":"…"}.
type FieldError struct {
	Code   string `json:"code"`
	Path   string `json:"path"`
	Detail string `json:"detail"`
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "amocrm %s: HTTP %d", e.Op, e.Status)
	for _, s := range []string{e.Title, e.Detail, e.Hint} {
		if s != "" {
			b.WriteString(": " + s)
		}
	}
	if e.HTML {
		b.WriteString(" (an HTML page, not amoCRM's JSON)")
	}
	for _, it := range e.Validation {
		for _, fe := range it.Errors {
			fmt.Fprintf(&b, "; item %s %s: %s (%s)", it.RequestID, fe.Path, fe.Code, fe.Detail)
		}
	}
	return b.String()
}

// TransportError is a request that got no answer: a network failure or a
// timeout. A create that ends this way may have happened. Its message is redacted.
type TransportError struct {
	Op      string
	Msg     string
	Timeout bool
	ctxErr  error // context.Canceled or DeadlineExceeded, for errors.Is
}

func (e *TransportError) Error() string { return "amocrm " + e.Op + ": " + e.Msg }
func (e *TransportError) Unwrap() error { return e.ctxErr }

// Fixes shown to the operator. They say where to click or what to set.
const (
	fixLongLived = "amoCRM refused the long-lived token in PAYSYNC_AMOCRM_ACCESS_TOKEN (expired or revoked): " +
		"create a new one in amoCRM > Settings > Integrations > your private integration > Keys and scopes, " +
		"set PAYSYNC_AMOCRM_ACCESS_TOKEN and restart paysync"
	fixReauth = "re-authorise paysync: open the integration in amoCRM > Settings > Integrations, copy a fresh " +
		"authorization code, exchange it for tokens at /oauth2/access_token (docs/amocrm.md shows the request), " +
		"set PAYSYNC_AMOCRM_REFRESH_TOKEN to the new refresh token and restart paysync"
	fixClient = "amoCRM refused the integration's client_id/client_secret/redirect_uri: copy them again from " +
		"amoCRM > Settings > Integrations > your integration > Keys and scopes into PAYSYNC_AMOCRM_CLIENT_ID, " +
		"PAYSYNC_AMOCRM_CLIENT_SECRET and PAYSYNC_AMOCRM_REDIRECT_URI"
	fixUnpaid = "amoCRM answered 402 Payment Required: the account's subscription has run out; pay for it " +
		"in amoCRM > Settings > Billing, and deliveries resume by themselves"
	fixBlocked = "amoCRM blocked this integration's requests (HTTP 403), usually after too many requests: " +
		"ask amoCRM support to lift the block (and check Settings > Security for an IP allow-list); " +
		"paysync sends nothing until then, apart from one probe every few minutes"
)

// Classify turns an error of this package into a *core.DeliveryError that
// tells the dispatcher what to do and the operator how to fix it. Errors
// that are already classified are returned as they are.
func Classify(err error) *core.DeliveryError {
	if err == nil {
		return nil
	}
	var de *core.DeliveryError
	if errors.As(err, &de) {
		return de
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return classifyAPI(ae)
	}
	var te *TransportError
	sent := errors.As(err, &te)
	return connectors.Unanswered("amoCRM", err, sent, sent && te.Timeout, "a lead it may have created is looked up first")
}

func classifyAPI(e *APIError) *core.DeliveryError {
	d := func(class core.ErrorClass, reason string) *core.DeliveryError {
		return &core.DeliveryError{Class: class, Reason: reason, Err: e}
	}
	if strings.HasSuffix(e.Op, "/oauth2/access_token") {
		switch {
		case e.Status >= 500 || e.Status == http.StatusTooManyRequests:
		case strings.Contains(strings.ToLower(e.Hint), "client"):
			return d(core.NeedsReauth, fixClient)
		case e.Status == http.StatusBadRequest || e.Status == http.StatusUnauthorized:
			hint := e.Hint
			if hint == "" {
				hint = e.Detail
			}
			return d(core.NeedsReauth, fmt.Sprintf("amoCRM refused the refresh token (%s): it was used already, is older "+
				"than 3 months, or the integration was disconnected; %s", hint, fixReauth))
		}
	}
	switch {
	case e.Status == http.StatusTooManyRequests:
		de := d(core.Retryable, "amoCRM rate limit reached (HTTP 429); the connector slows down")
		de.SlowDown, de.RetryAfter = true, e.RetryAfter
		return de
	case e.Status == http.StatusUnauthorized:
		if e.LongLived {
			return d(core.NeedsReauth, fixLongLived)
		}
		return d(core.NeedsReauth, "amoCRM refused the access token right after it was refreshed: "+fixReauth)
	case e.Status == http.StatusPaymentRequired:
		return d(core.Paused, fixUnpaid)
	case e.Status == http.StatusForbidden:
		return d(core.Paused, fixBlocked)
	case e.Status >= 500:
		return d(core.Retryable, fmt.Sprintf("amoCRM answered HTTP %d; will retry", e.Status))
	case e.Status == http.StatusUnprocessableEntity:
		return d(core.Permanent, "amoCRM refused "+e.Op+" as too large ("+e.Detail+"): a bug in paysync, please report it")
	case e.Status == http.StatusNotFound:
		return d(core.Permanent, "amoCRM does not know "+e.Op+" (HTTP 404): check PAYSYNC_AMOCRM_BASE_URL (https://SUBDOMAIN.amocrm.ru)")
	}
	if len(e.Validation) > 0 {
		var parts []string
		for _, it := range e.Validation {
			for _, fe := range it.Errors {
				parts = append(parts, fmt.Sprintf("%s: %s (%s)", fe.Path, fe.Code, fe.Detail))
			}
		}
		return d(core.Permanent, "amoCRM refused the request: "+strings.Join(parts, "; ")+": fix mapping/amocrm.yaml "+
			"(`paysync connectors check` lists the account's ids)")
	}
	desc := e.Detail
	if desc == "" {
		desc = e.Title
	}
	if desc == "" {
		desc = fmt.Sprintf("HTTP %d", e.Status)
	}
	return d(core.Permanent, "amoCRM refused "+e.Op+": "+desc)
}
