package bitrix24

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/core"
)

// APIError is an error answer of the portal or of the OAuth server:
// {"error":"CODE","error_description":"…"}. Method errors have an empty Code.
type APIError struct {
	Method      string // REST method, or "oauth" for the token server
	Status      int    // HTTP status; 0 for a command inside a batch
	Code        string // the "error" string; classification keys on it
	Description string // the portal's "error_description"
	// RetryAfter is the wait until operating_reset_at for OPERATION_TIME_LIMIT.
	RetryAfter time.Duration
	// Currency is the CURRENCY_ID that was sent, to name it in the fix.
	Currency string
	// OAuth is set when the request was made with an OAuth token, not a webhook.
	OAuth bool
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("bitrix24 ")
	b.WriteString(e.Method)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Code != "" {
		b.WriteString(" ")
		b.WriteString(e.Code)
	}
	if e.Description != "" {
		b.WriteString(": ")
		b.WriteString(e.Description)
	}
	return b.String()
}

// TransportError is a request that got no usable answer: network failure,
// timeout, or a body that is not the portal's JSON. Its message is redacted.
type TransportError struct {
	Method  string
	Msg     string
	Timeout bool
	ctxErr  error // context.Canceled or DeadlineExceeded, kept for errors.Is
}

func (e *TransportError) Error() string { return "bitrix24 " + e.Method + ": " + e.Msg }
func (e *TransportError) Unwrap() error { return e.ctxErr }

// Fixes shown to the operator. They name the setting to change. Bitrix24's
// docs disagree on what the auth codes mean (the Russian pages: NO_AUTH_FOUND
// is a wrong token or webhook code, INVALID_CREDENTIALS a user without the
// rights; the latest English page: NO_AUTH_FOUND is no credentials at all,
// INVALID_CREDENTIALS no active webhook with that user id and code), so
// each fix covers both readings.
const (
	fixWebhookAuth = "Bitrix24 does not accept the incoming webhook in PAYSYNC_BITRIX24_WEBHOOK_URL (NO_AUTH_FOUND): its code is wrong, " +
		"the webhook was deleted, or the URL is not the webhook's (…/rest/{user_id}/{code}/); create a new incoming webhook with the crm scope " +
		"(Bitrix24 > Developer resources > Other > Inbound webhook) and put its URL in PAYSYNC_BITRIX24_WEBHOOK_URL"
	fixWebhookCredentials = "Bitrix24 found no active incoming webhook with the user id and code in PAYSYNC_BITRIX24_WEBHOOK_URL, or the user " +
		"behind it lacks the rights (INVALID_CREDENTIALS): check in Bitrix24 > Developer resources > Other > Inbound webhook that the webhook " +
		"still exists, and that its user is active and may add and edit CRM deals and contacts; else create a new webhook and put its URL " +
		"in PAYSYNC_BITRIX24_WEBHOOK_URL"
	fixWebhookScope = "the incoming webhook in PAYSYNC_BITRIX24_WEBHOOK_URL lacks the crm scope (insufficient_scope): tick CRM (crm) in " +
		"the webhook's settings (Bitrix24 > Developer resources > Other > Inbound webhook) and save it"
	fixOAuthToken  = "Bitrix24 refused the OAuth access token (NO_AUTH_FOUND): re-authorise the paysync app in Bitrix24"
	fixOAuthRights = "the Bitrix24 user who authorised the paysync app lacks the rights (INVALID_CREDENTIALS): give that user access to " +
		"CRM deals and contacts, or re-authorise the app as a user who has it"
	fixOAuthScope = "the paysync app lacks the crm scope (insufficient_scope): add crm to the app's scopes in its settings in Bitrix24 " +
		"(Developer resources, or the Market app's card) and reinstall it"
	fixGrant = "the Bitrix24 refresh token is no longer valid (already used, older than 180 days, or the app was removed): " +
		"reinstall or re-authorise the paysync app in Bitrix24"
	fixClient  = "Bitrix24 refused the OAuth client_id/client_secret: copy them again from the app's settings in Bitrix24"
	fixRights  = "the Bitrix24 user behind the webhook may not edit CRM deals: create the webhook as a user with CRM rights"
	fixPlan    = "Bitrix24 denied REST access (ACCESS_DENIED): REST is only on commercial plans; upgrade the portal's plan, then resume the connector"
	fixBlock   = "Bitrix24 blocked REST for this portal (OVERLOAD_LIMIT): ask Bitrix24 support to lift the block, then resume the connector"
	fixHTTPS   = "Bitrix24 requires https: use an https:// URL in PAYSYNC_BITRIX24_WEBHOOK_URL"
	fixPayment = "Bitrix24 answered PAYMENT_REQUIRED: the paysync app's paid period, or the portal's Bitrix24 Market subscription, " +
		"has lapsed; renew it in Bitrix24 > Market, and deliveries resume by themselves (orders wait meanwhile, no attempt counted)"
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
	return connectors.Unanswered("Bitrix24", err, sent, sent && te.Timeout, "a create may have landed: it is looked up before retrying")
}

func classifyAPI(e *APIError) *core.DeliveryError {
	d := func(class core.ErrorClass, reason string) *core.DeliveryError {
		return &core.DeliveryError{Class: class, Reason: reason, Err: e}
	}
	switch e.Code {
	case "QUERY_LIMIT_EXCEEDED":
		de := d(core.Retryable, "Bitrix24 rate limit reached (QUERY_LIMIT_EXCEEDED); slowing down")
		de.SlowDown, de.RetryAfter = true, time.Second
		return de
	case "OPERATION_TIME_LIMIT":
		// The method is blocked for every item until operating_reset_at
		// of the last successful answer (Client.resetWait).
		de := d(core.Retryable, "Bitrix24 blocked "+e.Method+" for using too much processing time (OPERATION_TIME_LIMIT); waiting until the limit resets")
		de.SlowDown, de.RetryAfter = true, e.RetryAfter
		if de.RetryAfter <= 0 {
			de.RetryAfter = operatingBucket
		}
		return de
	case "expired_token":
		return d(core.Retryable, "Bitrix24 access token expired; it is refreshed before the retry")
	case "INVALID_CREDENTIALS":
		if e.OAuth {
			return d(core.NeedsReauth, fixOAuthRights)
		}
		return d(core.NeedsReauth, fixWebhookCredentials)
	case "NO_AUTH_FOUND":
		if e.OAuth {
			return d(core.NeedsReauth, fixOAuthToken)
		}
		return d(core.NeedsReauth, fixWebhookAuth)
	case "PAYMENT_REQUIRED":
		// The OAuth server (and, per the SDKs, the REST API) says the app
		// must be paid for: nothing is wrong with the orders.
		return d(core.Paused, fixPayment)
	case "invalid_token", "WRONG_AUTH_TYPE":
		return d(core.NeedsReauth, fixOAuthToken)
	case "invalid_grant":
		return d(core.NeedsReauth, fixGrant)
	case "invalid_client":
		return d(core.NeedsReauth, fixClient)
	case "insufficient_scope", "invalid_scope":
		if e.OAuth {
			return d(core.NeedsReauth, fixOAuthScope)
		}
		return d(core.NeedsReauth, fixWebhookScope)
	case "user_access_error":
		return d(core.NeedsReauth, fixRights)
	case "ACCESS_DENIED":
		return d(core.Paused, fixPlan)
	case "OVERLOAD_LIMIT":
		return d(core.Paused, fixBlock)
	case "ERROR_CORE", "INTERNAL_SERVER_ERROR", "ERROR_UNEXPECTED_ANSWER":
		return d(core.Retryable, "Bitrix24 had an internal error; will retry")
	case "INVALID_REQUEST":
		if strings.Contains(strings.ToLower(e.Description), "https") {
			return d(core.NeedsReauth, fixHTTPS)
		}
		return d(core.Permanent, "Bitrix24 refused the request to "+e.Method+": "+e.Description)
	case "ERROR_METHOD_NOT_FOUND":
		return d(core.Permanent, "Bitrix24 does not know "+e.Method+": check that the CRM is enabled on the portal")
	case "ERROR_BATCH_LENGTH_EXCEEDED", "ERROR_BATCH_METHOD_NOT_ALLOWED":
		return d(core.Permanent, "Bitrix24 refused the batch: "+e.Description)
	}
	switch {
	case e.Status >= 500 || e.Status == http.StatusTooManyRequests:
		return d(core.Retryable, fmt.Sprintf("Bitrix24 answered HTTP %d; will retry", e.Status))
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
		if e.OAuth {
			return d(core.NeedsReauth, fixOAuthToken)
		}
		return d(core.NeedsReauth, fixWebhookAuth)
	case e.Status == http.StatusOK && e.Code == "" && e.Description == "":
		return d(core.Retryable, "Bitrix24 sent an answer paysync cannot read; will retry")
	}
	if strings.Contains(e.Description, `"Currency"`) {
		if e.Currency != "" {
			return d(core.Permanent, fmt.Sprintf("Bitrix24 rejected CURRENCY_ID %s: enable %s in CRM > Settings > Currencies", e.Currency, e.Currency))
		}
		return d(core.Permanent, "Bitrix24 rejected CURRENCY_ID: enable the order's currency in CRM > Settings > Currencies")
	}
	desc := e.Description
	if desc == "" {
		desc = e.Code
	}
	if desc == "" {
		desc = fmt.Sprintf("HTTP %d", e.Status)
	}
	return d(core.Permanent, "Bitrix24 refused "+e.Method+": "+desc)
}

// IsNotFound reports whether err is the portal's "Not found" answer, for
// example crm.deal.update of a deal a manager deleted.
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == "" && strings.EqualFold(strings.TrimSpace(ae.Description), "Not found")
}
