package sheets

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/core"
)

// APIError is an error answer of the Sheets API:
// {"error":{"code":403,"message":"…","status":"PERMISSION_DENIED","details":[…]}}.
type APIError struct {
	Op      string // "values.append", "values.batchGet", …
	Range   string // the range the request named, "" for several or none
	Status  int    // HTTP status
	Code    string // Google's status: PERMISSION_DENIED, INVALID_ARGUMENT, …
	Message string
	Reason  string // the google.rpc.ErrorInfo reason: RATE_LIMIT_EXCEEDED, SERVICE_DISABLED, …
	// Account and Spreadsheet name what to share with whom in the fix.
	Account     string
	Spreadsheet string
	// RetryAfter is the client's backoff for a 429.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "google sheets %s: HTTP %d", e.Op, e.Status)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

// TokenError is an error answer of Google's token endpoint:
// {"error":"invalid_grant","error_description":"Invalid JWT Signature."}.
type TokenError struct {
	Status      int
	Code        string
	Description string
	Account     string
}

func (e *TokenError) Error() string {
	s := fmt.Sprintf("google oauth token for %s: HTTP %d %s", e.Account, e.Status, e.Code)
	if e.Description != "" {
		s += ": " + e.Description
	}
	return s
}

// TransportError is a request that got no usable answer: network failure,
// timeout, or a body that is not Google's JSON.
type TransportError struct {
	Op      string
	Msg     string
	Timeout bool
	ctxErr  error
}

func (e *TransportError) Error() string { return "google sheets " + e.Op + ": " + e.Msg }
func (e *TransportError) Unwrap() error { return e.ctxErr }

// isRangeParse reports whether err is Google's answer to a range on a tab
// that does not exist.
func isRangeParse(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusBadRequest && strings.HasPrefix(ae.Message, "Unable to parse range")
}

const keyHelp = "Google Cloud console > IAM & Admin > Service accounts > %s > Keys > Add key > JSON, and point PAYSYNC_SHEETS_CREDENTIALS_FILE at the new file"

// Classify turns an error of this package into a *core.DeliveryError that
// tells the dispatcher what to do and the operator how to fix it.
func Classify(err error) *core.DeliveryError {
	if err == nil {
		return nil
	}
	var de *core.DeliveryError
	if errors.As(err, &de) {
		return de
	}
	d := func(class core.ErrorClass, reason string) *core.DeliveryError {
		return &core.DeliveryError{Class: class, Reason: reason, Err: err}
	}
	var te *TokenError
	if errors.As(err, &te) {
		desc := te.Description
		switch {
		case te.Status >= 500 || te.Status == http.StatusTooManyRequests:
			return d(core.Retryable, fmt.Sprintf("Google's token endpoint answered HTTP %d; will retry", te.Status))
		case strings.Contains(desc, "iat and exp"):
			return d(core.Paused, "Google refused the service account's token request because this machine's clock is off: set the clock right (enable NTP), then resume the connector")
		case strings.Contains(desc, "account not found"):
			return d(core.NeedsReauth, fmt.Sprintf("Google does not know the service account %s (deleted or disabled): create a service account and a JSON key for it ("+keyHelp+"), then share the spreadsheet with it", te.Account, te.Account))
		case strings.Contains(desc, "audience"):
			return d(core.NeedsReauth, "Google refused the token request's audience: token_uri in the key file is wrong; download the key file again ("+fmt.Sprintf(keyHelp, te.Account)+")")
		case te.Code == "invalid_grant" || te.Code == "invalid_client" || te.Code == "unauthorized_client":
			return d(core.NeedsReauth, fmt.Sprintf("Google refused the key of service account %s (%s: %s): the key was deleted or replaced; create a new key ("+keyHelp+")", te.Account, te.Code, desc, te.Account))
		}
		return d(core.NeedsReauth, fmt.Sprintf("Google refused the service account's token request (%s): check the key file in PAYSYNC_SHEETS_CREDENTIALS_FILE ("+keyHelp+")", te.Code, te.Account))
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return classifyAPI(ae, err)
	}
	var tr *TransportError
	sent := errors.As(err, &tr)
	return connectors.Unanswered("Google Sheets", err, sent, sent && tr.Timeout,
		"a write may have landed: rows are looked up by order id before anything is appended again")
}

func classifyAPI(e *APIError, err error) *core.DeliveryError {
	d := func(class core.ErrorClass, reason string) *core.DeliveryError {
		return &core.DeliveryError{Class: class, Reason: reason, Err: err}
	}
	msg := strings.ToLower(e.Message)
	where := ""
	if e.Range != "" {
		where = " (range " + e.Range + ")"
	}
	switch {
	case e.Status == http.StatusTooManyRequests || e.Code == "RESOURCE_EXHAUSTED":
		de := d(core.Retryable, "Google Sheets quota exceeded (429 RESOURCE_EXHAUSTED: 60 write requests a minute per service account); slowing down. "+
			"If another program uses the same service account, give paysync its own, or lower connectors.sheets.writes_per_minute")
		de.SlowDown, de.RetryAfter = true, e.RetryAfter
		return de
	case e.Status == http.StatusUnauthorized:
		return d(core.NeedsReauth, fmt.Sprintf("Google Sheets refused the access token of service account %s (UNAUTHENTICATED): check that the account and its key still exist; if not, create a new key ("+keyHelp+")", e.Account, e.Account))
	case e.Status == http.StatusForbidden && strings.Contains(msg, "scope"):
		return d(core.NeedsReauth, "Google issued a token without the spreadsheets scope: this is a paysync bug or a restricted service account; create a new key ("+fmt.Sprintf(keyHelp, e.Account)+")")
	case e.Status == http.StatusForbidden && (e.Reason == "SERVICE_DISABLED" || strings.Contains(msg, "has not been used") || strings.Contains(msg, "is disabled")):
		return d(core.Paused, "the Google Sheets API is not enabled for the service account's project: enable it (Google Cloud console > APIs & Services > Library > Google Sheets API > Enable), then resume the connector")
	case e.Status == http.StatusForbidden:
		return d(core.Paused, fmt.Sprintf("Google Sheets denied access to spreadsheet %s (403 PERMISSION_DENIED): share the spreadsheet with %s as an editor (Share button in the sheet), then resume the connector", e.Spreadsheet, e.Account))
	case e.Status == http.StatusNotFound:
		return d(core.Paused, fmt.Sprintf("spreadsheet %s was not found (404): check PAYSYNC_SHEETS_SPREADSHEET_ID (the id in the sheet's address, between /d/ and /edit) and that the sheet was not deleted", e.Spreadsheet))
	case e.Status == http.StatusRequestTimeout || e.Status >= 500:
		code := e.Code
		if code == "" {
			code = http.StatusText(e.Status)
		}
		return d(core.Retryable, fmt.Sprintf("Google Sheets answered HTTP %d (%s); will retry (a write may have landed: rows are looked up by order id before anything is appended again)", e.Status, code))
	case e.Status == http.StatusRequestEntityTooLarge || strings.Contains(msg, "payload size exceeds"):
		return d(core.Permanent, "the Google Sheets request is too large"+where+": "+e.Message+"; shorten the long fields of mapping/sheets.yaml (max_length)")
	case strings.HasPrefix(e.Message, "Unable to parse range"):
		return d(core.Permanent, "Google Sheets cannot use the range"+where+": "+e.Message+"; check connectors.sheets.sheet and that the tab exists")
	case strings.Contains(msg, "exceeds grid limits") || strings.Contains(msg, "requested writing within range"):
		return d(core.Permanent, "Google Sheets refused the range"+where+": "+e.Message)
	}
	m := e.Message
	if m == "" {
		m = fmt.Sprintf("HTTP %d", e.Status)
	}
	return d(core.Permanent, "Google Sheets refused "+e.Op+where+": "+m)
}
