package arca

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/paysync/paysync/core"
)

// Checksum computes the RBS callback checksum: every parameter except
// checksum and sign_alias, sorted by name, concatenated as "name;value;",
// HMAC-SHA256 with the shared key, in uppercase hex.
func Checksum(params map[string]string, key []byte) string {
	return strings.ToUpper(hex.EncodeToString(checksum(params, key)))
}

func checksum(params map[string]string, key []byte) []byte {
	names := make([]string, 0, len(params))
	for n := range params {
		if n == "checksum" || n == "sign_alias" {
			continue
		}
		names = append(names, n)
	}
	sort.Strings(names)
	m := hmac.New(sha256.New, key)
	for _, n := range names {
		m.Write([]byte(n))
		m.Write([]byte{';'})
		m.Write([]byte(params[n]))
		m.Write([]byte{';'})
	}
	return m.Sum(nil)
}

// CallbackString is the string the checksum signs, for diagnostics.
func CallbackString(params map[string]string) string {
	names := make([]string, 0, len(params))
	for n := range params {
		if n != "checksum" && n != "sign_alias" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n + ";" + params[n] + ";")
	}
	return b.String()
}

// maxCallbackParams bounds what a callback may carry.
const maxCallbackParams = 64

// callbackParams merges the query and, for a POST, the form body; a name
// given twice is refused so that what is checked is what is read.
func callbackParams(req core.InboundRequest) (map[string]string, error) {
	out := map[string]string{}
	add := func(vs url.Values) error {
		for k, v := range vs {
			if _, dup := out[k]; dup || len(v) != 1 {
				return core.Errorf(core.EINVALID, "callback parameter %q is given more than once", truncate(k, 40))
			}
			out[k] = v[0]
		}
		return nil
	}
	if err := add(req.Query); err != nil {
		return nil, err
	}
	if len(req.Body) > 0 {
		form, err := url.ParseQuery(string(req.Body))
		if err != nil {
			return nil, core.Errorf(core.EINVALID, "callback body is not form-encoded: %v", err)
		}
		if err := add(form); err != nil {
			return nil, err
		}
	}
	if len(out) > maxCallbackParams {
		return nil, core.Errorf(core.EINVALID, "callback has more than %d parameters", maxCallbackParams)
	}
	return out, nil
}

// Verify checks a callback's checksum (when a callback key is configured)
// and parses it. The event says what the bank claims; paysync confirms it
// with getOrderStatusExtended.do before anything moves. Without a key the
// event is not Verified: it only prompts that lookup.
func (p *Provider) Verify(ctx context.Context, req core.InboundRequest) ([]core.PaymentEvent, error) {
	params, err := callbackParams(req)
	if err != nil {
		return nil, err
	}
	if len(params) == 0 {
		return nil, core.Errorf(core.EINVALID, "callback carries no parameters (expected mdOrder, orderNumber, operation, status)")
	}
	verified := false
	if len(p.keys) > 0 || p.pub != nil {
		got := params["checksum"]
		if got == "" {
			return nil, core.Errorf(core.EUNAUTHORIZED, "callback has no checksum, but a callback key is configured: ask the bank to sign callbacks, "+
				"or unset PAYSYNC_ARCA_CALLBACK_KEY and PAYSYNC_ARCA_CALLBACK_PUBLIC_KEY")
		}
		gotBytes, derr := hex.DecodeString(strings.ToUpper(got))
		for _, k := range p.keys {
			// Decoding hex makes the comparison case-insensitive; hmac.Equal is constant time.
			if derr == nil && hmac.Equal(gotBytes, checksum(params, k)) {
				verified = true
			}
		}
		if !verified && p.pub != nil && derr == nil {
			// The asymmetric checksum: the gateway's RSA signature (SHA-512)
			// over the same string.
			sum := sha512.Sum512([]byte(CallbackString(params)))
			verified = rsa.VerifyPKCS1v15(p.pub, crypto.SHA512, sum[:], gotBytes) == nil
		}
		if !verified {
			return nil, core.Errorf(core.EUNAUTHORIZED, "callback checksum does not match: check PAYSYNC_ARCA_CALLBACK_KEY (HMAC) or "+
				"PAYSYNC_ARCA_CALLBACK_PUBLIC_KEY (the gateway's certificate, for RSA-signed callbacks) against what the bank configured")
		}
	}
	ev, err := ParseCallback(params)
	if err != nil {
		return nil, err
	}
	ev.Verified = verified
	ev.OccurredAt = req.ReceivedAt.UTC()
	kept := url.Values{}
	for k, v := range params {
		kept.Set(k, v)
	}
	ev.Payload = []byte(kept.Encode()) // for the journal: GET callbacks have no body
	return []core.PaymentEvent{ev}, nil
}

// ParseCallback reads callback parameters into an event (not yet trusted).
func ParseCallback(params map[string]string) (core.PaymentEvent, error) {
	ev := core.PaymentEvent{Provider: Name, Source: core.SourceWebhook, OrderID: params["orderNumber"],
		ProviderRef: params["mdOrder"], Type: params["operation"]}
	if err := core.ValidateOrderID(ev.OrderID); err != nil {
		return ev, core.Errorf(core.EINVALID, "callback orderNumber: %s", core.ErrorMessage(err))
	}
	ok := false
	switch s := params["status"]; s {
	case "1":
		ok = true
	case "0":
	default:
		return ev, core.Errorf(core.EINVALID, "callback status %q must be 1 or 0", truncate(s, 20))
	}
	if a, has := params["amount"]; has {
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil || n < 0 || n > core.MaxAmountMinor {
			return ev, core.Errorf(core.EINVALID, "callback amount %q is not a whole, non-negative number of minor units", truncate(a, 30))
		}
		ev.AmountMinor = n
	}
	// A failed operation (status 0) is reported as failed: it only prompts
	// the lookup, which says whether the buyer may still pay.
	switch strings.ToLower(ev.Type) {
	case "deposited":
		ev.Status = core.StatusFailed
		if ok {
			ev.Status = core.StatusPaid
		}
	case "approved":
		ev.Status = core.StatusFailed
		if ok {
			ev.Status = core.StatusPending // held, not taken
		}
	case "reversed":
		if ok {
			ev.Status = core.StatusFailed
		}
	case "declinedbytimeout", "declinedcardpresent":
		ev.Status = core.StatusFailed // the decline is the news, whatever status says
	case "refunded":
		if ok {
			// A callback reports the amount of this one refund.
			ev.Status = core.StatusRefunded
			ev.RefundMinor = ev.AmountMinor
		}
	}
	ref := ev.ProviderRef
	if ref == "" {
		ref = ev.OrderID
	}
	// A callback has no id of its own; this one repeats exactly when the bank
	// repeats the same notification (a second partial refund differs by amount).
	ev.EventID = "callback:" + ref + ":" + ev.Type + ":" + params["status"]
	if a, has := params["amount"]; has {
		ev.EventID += ":" + a
	}
	return ev, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
