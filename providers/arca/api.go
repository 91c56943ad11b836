package arca

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-resty/resty/v2"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/restclient"
)

// RBS error codes paysync reacts to.
const (
	errOrderNumberUsed = "1" // register.do: the order number was already used
	errAccessDenied    = "5" // wrong credentials (also some bad parameters)
	errUnknownOrder    = "6" // getOrderStatusExtended.do: no such order
)

// flexString reads a JSON string or number as text.
type flexString = restclient.FlexString

// flexInt reads a JSON number or a string of digits.
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	var s flexString
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	if s == "" {
		*f = 0
		return nil
	}
	n, err := strconv.ParseInt(string(s), 10, 64)
	if err != nil {
		return err
	}
	*f = flexInt(n)
	return nil
}

type registerResponse struct {
	ErrorCode    flexString `json:"errorCode"`
	ErrorMessage string     `json:"errorMessage"`
	OrderID      string     `json:"orderId"`
	FormURL      string     `json:"formUrl"`
}

// StatusResponse is the part of getOrderStatusExtended.do paysync reads.
type StatusResponse struct {
	ErrorCode             flexString `json:"errorCode"`
	ErrorMessage          string     `json:"errorMessage"`
	OrderNumber           string     `json:"orderNumber"`
	OrderStatus           *flexInt   `json:"orderStatus"`
	ActionCode            flexInt    `json:"actionCode"`
	ActionCodeDescription string     `json:"actionCodeDescription"`
	Amount                flexInt    `json:"amount"`
	Currency              flexString `json:"currency"`
	Date                  flexInt    `json:"date"`
	// PaymentAmountInfo is in the answer only from the getOrderStatusExtended
	// version 2 on (the merchant's setting at the bank); nil without it.
	PaymentAmountInfo *PaymentAmountInfo `json:"paymentAmountInfo"`
	Attributes        []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"attributes"`
}

// PaymentAmountInfo is how much was approved, deposited and refunded.
type PaymentAmountInfo struct {
	PaymentState    string  `json:"paymentState"`
	ApprovedAmount  flexInt `json:"approvedAmount"`
	DepositedAmount flexInt `json:"depositedAmount"`
	RefundedAmount  flexInt `json:"refundedAmount"`
}

func (r *StatusResponse) mdOrder() string {
	for _, a := range r.Attributes {
		if a.Name == "mdOrder" {
			return a.Value
		}
	}
	return ""
}

func (p *Provider) auth() url.Values {
	return url.Values{"userName": {p.o.Username}, "password": {p.o.Password}, "language": {p.o.Language}}
}

func fill(tmpl, orderID string) string {
	return strings.ReplaceAll(tmpl, "{order_id}", url.QueryEscape(orderID))
}

// RegisterParams are the register.do parameters for an order, without the
// credentials (for inspection and tests).
func (p *Provider) RegisterParams(o core.Order) (url.Values, error) {
	cur, ok := core.LookupCurrency(o.Currency)
	if !ok {
		return nil, core.Errorf(core.EINVALID, "ArCa cannot take %q: unknown currency", o.Currency)
	}
	v := url.Values{
		"orderNumber":        {o.ID},
		"amount":             {strconv.FormatInt(o.AmountMinor, 10)}, // minor units: AMD x 100
		"currency":           {cur.Numeric},
		"description":        {"Order " + o.ID},
		"sessionTimeoutSecs": {strconv.Itoa(int(p.o.SessionTimeout.Seconds()))},
	}
	if p.o.ReturnURL != "" {
		v.Set("returnUrl", fill(p.o.ReturnURL, o.ID))
		v.Set("failUrl", fill(p.o.FailURL, o.ID))
	}
	if p.o.CallbackURL != "" {
		v.Set("dynamicCallbackUrl", p.o.CallbackURL)
	}
	return v, nil
}

// CreateLink registers the order with register.do and returns the payment
// page. When ArCa already knows the order number (errorCode 1, e.g. after a
// lost answer), the order is looked up instead: the link then carries its
// mdOrder but no URL, because RBS does not hand a payment page out twice.
func (p *Provider) CreateLink(ctx context.Context, o core.Order) (core.PaymentLink, error) {
	params, err := p.RegisterParams(o)
	if err != nil {
		return core.PaymentLink{}, err
	}
	form := p.auth()
	for k, vs := range params {
		form[k] = vs
	}
	var rr registerResponse
	resp, err := p.client.R().SetContext(ctx).SetFormDataFromValues(form).Post("/register.do")
	if err := p.transportError(resp, err, "register order "+o.ID); err != nil {
		return core.PaymentLink{}, err
	}
	if err := json.Unmarshal(resp.Body(), &rr); err != nil {
		return core.PaymentLink{}, core.Errorf(core.EUNAVAILABLE, "ArCa answered register.do with something that is not JSON")
	}
	switch code := string(rr.ErrorCode); code {
	case "", "0":
	case errOrderNumberUsed:
		st, err := p.status(ctx, url.Values{"orderNumber": {o.ID}}, o.ID)
		if err != nil {
			return core.PaymentLink{}, err
		}
		return core.PaymentLink{ProviderRef: st.mdOrder()}, nil
	default:
		return core.PaymentLink{}, p.rbsError(code, rr.ErrorMessage, "register order "+o.ID)
	}
	if rr.OrderID == "" || rr.FormURL == "" {
		return core.PaymentLink{}, core.Errorf(core.EUNAVAILABLE, "ArCa accepted order %s but sent no orderId or formUrl", o.ID)
	}
	if u, err := url.Parse(rr.FormURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return core.PaymentLink{}, core.Errorf(core.EUNAVAILABLE, "ArCa returned a formUrl that is not http(s)")
	}
	return core.PaymentLink{URL: rr.FormURL, ProviderRef: rr.OrderID}, nil
}

// Lookup asks getOrderStatusExtended.do where the order stands, by mdOrder
// when paysync has it, else by order number.
func (p *Provider) Lookup(ctx context.Context, o core.Order) (core.PaymentEvent, error) {
	q := url.Values{"orderNumber": {o.ID}}
	if o.ProviderRef != "" {
		q = url.Values{"orderId": {o.ProviderRef}}
	}
	st, err := p.status(ctx, q, o.ID)
	if err != nil {
		return core.PaymentEvent{}, err
	}
	ev, err := EventFromStatus(st, o)
	if err != nil {
		return core.PaymentEvent{}, err
	}
	if ev.ProviderRef == "" {
		ev.ProviderRef = o.ProviderRef
	}
	return ev, nil
}

func (p *Provider) status(ctx context.Context, q url.Values, orderID string) (*StatusResponse, error) {
	form := p.auth()
	for k, vs := range q {
		form[k] = vs
	}
	resp, err := p.client.R().SetContext(ctx).SetFormDataFromValues(form).Post("/getOrderStatusExtended.do")
	if err := p.transportError(resp, err, "look up order "+orderID); err != nil {
		return nil, err
	}
	var st StatusResponse
	if err := json.Unmarshal(resp.Body(), &st); err != nil {
		return nil, core.Errorf(core.EUNAVAILABLE, "ArCa answered getOrderStatusExtended.do with something paysync cannot read: %v", err)
	}
	if code := string(st.ErrorCode); code != "" && code != "0" {
		return nil, p.rbsError(code, st.ErrorMessage, "look up order "+orderID)
	}
	if st.OrderNumber != "" && st.OrderNumber != orderID {
		return nil, core.Errorf(core.EUNAVAILABLE, "ArCa answered the lookup of order %s with order %s", orderID, st.OrderNumber)
	}
	if st.OrderStatus == nil {
		return nil, core.Errorf(core.EUNAVAILABLE, "ArCa answered the lookup of order %s without an orderStatus", orderID)
	}
	return &st, nil
}

// EventFromStatus turns a getOrderStatusExtended.do answer into a verified
// lookup event for o (see the package comment for the mapping). The answer
// holds what the getOrderStatusExtended version set for the merchant holds:
// only errorCode, orderStatus and amount are read as always there. A refund
// amount the answer does not state is never inferred: the event sends the
// order to a person (core.PaymentEvent.ReviewReason).
func EventFromStatus(st *StatusResponse, o core.Order) (core.PaymentEvent, error) {
	ev := core.PaymentEvent{Provider: Name, OrderID: o.ID, Source: core.SourceLookup, Verified: true,
		ProviderRef: st.mdOrder(), AmountMinor: int64(st.Amount)}
	if st.Currency != "" {
		cur, ok := core.LookupCurrency(string(st.Currency))
		if !ok {
			return ev, core.Errorf(core.EUNAVAILABLE, "ArCa reported order %s in currency %q, which paysync does not know", o.ID, st.Currency)
		}
		ev.Currency = cur.Code
	}
	if ev.AmountMinor < 0 {
		return ev, core.Errorf(core.EUNAVAILABLE, "ArCa reported a negative amount for order %s", o.ID)
	}
	info := st.PaymentAmountInfo
	code := int64(*st.OrderStatus)
	ev.Type = "orderStatus=" + strconv.FormatInt(code, 10)
	switch code {
	case 0, 1, 5:
		ev.Status = core.StatusPending
	case 2:
		ev.Status = core.StatusPaid
		if info != nil && info.DepositedAmount > 0 {
			ev.AmountMinor = int64(info.DepositedAmount)
		}
		if info != nil && info.RefundedAmount > 0 {
			// Refunded in part, the order still deposited: the running
			// total is in the answer.
			ev.Status, ev.RefundedMinor = core.StatusRefunded, int64(info.RefundedAmount)
		}
	case 3:
		// A reversal cancels the whole authorisation.
		ev.Status = core.StatusFailed
		if o.Status.HasPayment() {
			ev.Status, ev.RefundedMinor = core.StatusRefunded, o.AmountMinor
		}
	case 4:
		switch {
		case info != nil && info.RefundedAmount > 0:
			ev.Status, ev.RefundedMinor = core.StatusRefunded, int64(info.RefundedAmount)
		case o.Status == core.StatusRefunded:
			// All of it is refunded already: nothing new, whatever the amount.
			ev.Status, ev.RefundedMinor = core.StatusRefunded, o.RefundedMinor
		default:
			// "Refunded", but how much? Version 1 answers do not say, and a
			// partial refund read as a full one would be wrong money.
			ev.Status = core.StatusManualReview
			ev.ReviewReason = fmt.Sprintf("ArCa reports order %s refunded (orderStatus 4) but its answer does not say how much: the "+
				"getOrderStatusExtended version set for the merchant has no paymentAmountInfo. Check the refunds in the ArCa merchant "+
				"console and settle the order; ask the bank to set getOrderStatusExtended version 2 or later, so that paysync reads "+
				"refunds itself", o.ID)
		}
	case 6:
		ev.Status = core.StatusFailed
	default:
		ev.Status = "" // a status RBS added later: journaled as ignored
	}
	if ev.Status == core.StatusPaid && ev.Currency == "" {
		return ev, core.Errorf(core.EUNAVAILABLE, "ArCa reported order %s paid without a currency", o.ID)
	}
	return ev, nil
}

func (p *Provider) transportError(resp *resty.Response, err error, what string) error {
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) && ue.Timeout() || errors.Is(err, context.DeadlineExceeded) {
			return core.Errorf(core.EUNAVAILABLE, "ArCa did not answer in time to %s; it is retried later", what)
		}
		// url.Error names the URL only; the password travels in the body.
		return &core.Error{Code: core.EUNAVAILABLE, Message: "cannot reach ArCa to " + what, Err: err}
	}
	if code := resp.StatusCode(); code < 200 || code > 299 {
		return core.Errorf(core.EUNAVAILABLE, "ArCa answered HTTP %d trying to %s; it is retried later", code, what)
	}
	return nil
}

func (p *Provider) rbsError(code, msg, what string) error {
	if p.o.Password != "" {
		msg = strings.ReplaceAll(msg, p.o.Password, "[redacted]")
	}
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	switch code {
	case errAccessDenied:
		if strings.Contains(strings.ToLower(msg), "access") || strings.Contains(strings.ToLower(msg), "password") || strings.Contains(strings.ToLower(msg), "user") {
			return core.Errorf(core.EUNAUTHORIZED, "ArCa refused the credentials trying to %s (errorCode 5: %s): check PAYSYNC_ARCA_USERNAME and PAYSYNC_ARCA_PASSWORD (the API user, usually ending in -api)", what, msg)
		}
	case errUnknownOrder:
		return core.Errorf(core.ENOTFOUND, "ArCa does not know the order trying to %s (errorCode 6: %s)", what, msg)
	case "7":
		return core.Errorf(core.EUNAVAILABLE, "ArCa had a system error trying to %s (errorCode 7: %s); it is retried later", what, msg)
	}
	return core.Errorf(core.EINVALID, "ArCa refused to %s (errorCode %s: %s)", what, code, msg)
}
