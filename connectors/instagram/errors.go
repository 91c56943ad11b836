package instagram

import (
	"errors"

	"github.com/paysync/paysync/core"
)

// Fixes the reasons point to.
const (
	fixToken = "refresh the token: log in to the app with the Instagram account again (docs/instagram.md, \"The token\") " +
		"and set PAYSYNC_INSTAGRAM_ACCESS_TOKEN to the new long-lived token"
	fixPermission = "give the app instagram_business_basic and instagram_business_manage_messages (Meta App Dashboard > " +
		"your app > Instagram > API setup), then log in again and set the new token"
)

var errTokenRefused = &core.DeliveryError{Class: core.NeedsReauth,
	Reason: "Instagram refused the access token (expired or revoked): " + fixToken}

// outcome is what a failed send means for the message.
type outcome int

const (
	notSent   outcome = iota // Instagram answered: nothing went out; send again when the error allows
	uncertain                // no answer, or one that does not say: the message may be in the thread
	refused                  // a rule says never (outside the window, the person unavailable): a skip
)

// judge classifies a failed send: what it means for the message, and the
// delivery error (nil for refused, which is a skip with reason).
func judge(err error) (outcome, *core.DeliveryError, string) {
	var de *core.DeliveryError
	if errors.As(err, &de) {
		return notSent, de, "" // the token store or the refresh: nothing was sent
	}
	var ne *netError
	if errors.As(err, &ne) {
		return uncertain, &core.DeliveryError{Class: core.Retryable,
			Reason: "the answer to the send was lost (" + ne.Error() + "); paysync looks for the message in the thread before it sends it again"}, ""
	}
	var ae *APIError
	if !errors.As(err, &ae) {
		return uncertain, &core.DeliveryError{Class: core.Retryable, Reason: "the send failed; paysync looks for the message in the thread before it sends it again", Err: err}, ""
	}
	switch {
	case ae.outsideWindow():
		return refused, nil, "Instagram refused it as outside the 24-hour messaging window (" + ae.Error() + ")"
	case ae.Code == codeUnavailable:
		return refused, nil, "Instagram says this person isn't available right now (they blocked the shop or left Instagram)"
	case ae.rateLimited():
		return notSent, &core.DeliveryError{Class: core.Retryable, SlowDown: true, RetryAfter: ae.Retry,
			Reason: "Instagram's rate limit (" + ae.Error() + "); paysync waits and sends again"}, ""
	case ae.Code == codeToken:
		return notSent, &core.DeliveryError{Class: core.NeedsReauth, Reason: "Instagram refused the access token (" + ae.Error() + "): " + fixToken}, ""
	case ae.Code == codePermission || ae.Code == codePermissionAlt:
		return notSent, &core.DeliveryError{Class: core.Paused, Reason: "Instagram refused the app's permission (" + ae.Error() + "): " + fixPermission}, ""
	case ae.uncertain():
		return uncertain, &core.DeliveryError{Class: core.Retryable,
			Reason: ae.Error() + "; paysync looks for the message in the thread before it sends it again"}, ""
	case ae.Code == codeParam:
		return notSent, &core.DeliveryError{Class: core.Permanent, Reason: "Instagram refused the message (" + ae.Error() + "): " +
			"check the customer's id (customer.id must be the IGSID from a Direct message) and the text in mapping/instagram.yaml"}, ""
	case ae.Status >= 400 && ae.Status < 500:
		return notSent, &core.DeliveryError{Class: core.Permanent, Reason: "Instagram refused the message (" + ae.Error() + ")"}, ""
	}
	return uncertain, &core.DeliveryError{Class: core.Retryable, Reason: ae.Error() + "; paysync looks for the message in the thread before it sends it again"}, ""
}

// readError classifies a failed read (the profile or the thread): nothing
// was written, so it is only ever retried or paused.
func readError(what string, err error) *core.DeliveryError {
	var de *core.DeliveryError
	if errors.As(err, &de) {
		return de
	}
	var ae *APIError
	if errors.As(err, &ae) {
		switch {
		case ae.rateLimited():
			return &core.DeliveryError{Class: core.Retryable, SlowDown: true, RetryAfter: ae.Retry, Reason: "Instagram's rate limit while " + what + " (" + ae.Error() + ")"}
		case ae.Code == codeToken:
			return &core.DeliveryError{Class: core.NeedsReauth, Reason: "Instagram refused the access token while " + what + " (" + ae.Error() + "): " + fixToken}
		}
	}
	return &core.DeliveryError{Class: core.Retryable, Reason: "could not finish " + what + ": " + err.Error()}
}
