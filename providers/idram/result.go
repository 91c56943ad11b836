package idram

import (
	"context"
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/paysync/paysync/core"
)

// Fields of Idram's requests to RESULT_URL.
const (
	FieldPrecheck     = "EDP_PRECHECK"
	FieldBillNo       = "EDP_BILL_NO"
	FieldRecAccount   = "EDP_REC_ACCOUNT"
	FieldPayerAccount = "EDP_PAYER_ACCOUNT"
	FieldAmount       = "EDP_AMOUNT"
	FieldTransID      = "EDP_TRANS_ID"
	FieldTransDate    = "EDP_TRANS_DATE"
	FieldChecksum     = "EDP_CHECKSUM"
)

// EventConfirmation is the journal's event type of a confirmation.
const EventConfirmation = "confirmation"

// AnswerOK is the whole body of an answer that takes the request.
const AnswerOK = "OK"

// maxFields bounds what a request may carry; Idram sends at most eight
// fields, plus whatever the form passed back (fields without EDP_).
const maxFields = 64

// Bounds on the confirmation's text fields. EDP_TRANS_ID is char(14) and
// EDP_TRANS_DATE dd/mm/yyyy by the document, but no real value has been
// seen: they are bounded, not matched.
const (
	maxTransIDLen   = 64
	maxTransDateLen = 32
	maxPayerLen     = 32
)

// Checksum is a confirmation's EDP_CHECKSUM: the MD5 of
// EDP_REC_ACCOUNT:EDP_AMOUNT:SECRET_KEY:EDP_BILL_NO:EDP_PAYER_ACCOUNT:EDP_TRANS_ID:EDP_TRANS_DATE,
// in lower-case hex (Idram does not say which case it sends; it is
// compared case-insensitively).
func Checksum(account, amount, secretKey, billNo, payerAccount, transID, transDate string) string {
	sum := checksum(account, amount, secretKey, billNo, payerAccount, transID, transDate)
	return hex.EncodeToString(sum[:])
}

func checksum(parts ...string) [md5.Size]byte {
	return md5.Sum([]byte(strings.Join(parts, ":")))
}

// amountRe is an EDP_AMOUNT: "greater than zero. Fraction must be
// separated by period (dot)"; AMD has two decimals (luma).
var amountRe = regexp.MustCompile(`^[0-9]{1,16}(\.[0-9]{1,2})?$`)

// ParseAmount reads an EDP_AMOUNT ("1900", "1900.5", "1900.00") into minor
// units (1 AMD = 100), exactly: never through a float.
func ParseAmount(s string) (int64, error) {
	if !amountRe.MatchString(s) {
		return 0, core.Errorf(core.EINVALID, "%s %q is not an amount: Idram sends digits with a dot before at most two decimals, such as 1900.00", FieldAmount, clip(s, 24))
	}
	whole, frac, _ := strings.Cut(s, ".")
	frac += strings.Repeat("0", 2-len(frac))
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil || n > core.MaxAmountMinor {
		return 0, core.Errorf(core.EINVALID, "%s %q is larger than any order", FieldAmount, clip(s, 24))
	}
	if n == 0 {
		return 0, core.Errorf(core.EINVALID, "%s %q must be greater than zero", FieldAmount, s)
	}
	return n, nil
}

// FormatAmount writes minor units the way the checkout form sends them:
// major units, a dot, two decimals ("1900.00").
func FormatAmount(amountMinor int64) string { return core.FormatDecimal(amountMinor, Currency) }

// amountForms are the strings Idram may have hashed for an amount. Which
// one it uses is UNCONFIRMED: the received EDP_AMOUNT as it came, the
// "0.00" form the document names, or the whole number the vendor's form
// example shows ("1900").
func amountForms(received string, amountMinor int64) []string {
	forms := []string{received}
	add := func(s string) {
		for _, f := range forms {
			if f == s {
				return
			}
		}
		forms = append(forms, s)
	}
	add(FormatAmount(amountMinor))
	if amountMinor%100 == 0 {
		add(strconv.FormatInt(amountMinor/100, 10))
	}
	return forms
}

// Verify reads one of Idram's requests to RESULT_URL. A precheck becomes a
// core.EventPrecheck event, which the payments service answers from the
// order. A confirmation verifies only when its checksum matches and its
// amount is the order's (Idram's 16.10.2025 document has the merchant hash
// its own order amount): then it is a paid event; otherwise it is refused,
// and the answer without "OK" makes Idram cancel the payment.
func (p *Provider) Verify(ctx context.Context, req core.InboundRequest) ([]core.PaymentEvent, error) {
	f, err := readForm(req)
	if err != nil {
		return nil, err
	}
	kind := "Idram confirmation"
	precheck := false
	if v, ok := f[FieldPrecheck]; ok {
		if v != "YES" {
			return nil, core.Errorf(core.EINVALID, "Idram request has %s=%q; Idram sends YES or leaves the field out", FieldPrecheck, clip(v, 16))
		}
		kind, precheck = "Idram precheck", true
	}
	get := func(name string) (string, error) {
		v := f[name]
		if v == "" {
			return "", core.Errorf(core.EINVALID, "%s has no %s", kind, name)
		}
		return v, nil
	}
	account, err := get(FieldRecAccount)
	if err != nil {
		return nil, err
	}
	if account != p.o.Account {
		return nil, core.Errorf(core.EUNAUTHORIZED, "%s is for %s %s, not this shop's IdramID: check PAYSYNC_IDRAM_ACCOUNT, and that RESULT_URL at Idram is this paysync's", kind, FieldRecAccount, clip(account, 24))
	}
	billNo, err := get(FieldBillNo)
	if err != nil {
		return nil, err
	}
	if err := core.ValidateOrderID(billNo); err != nil {
		return nil, core.Errorf(core.EINVALID, "%s %s: %s", kind, FieldBillNo, core.ErrorMessage(err))
	}
	amountStr, err := get(FieldAmount)
	if err != nil {
		return nil, err
	}
	amount, err := ParseAmount(amountStr)
	if err != nil {
		return nil, core.Errorf(core.EINVALID, "%s: %s", kind, core.ErrorMessage(err))
	}
	if precheck {
		return []core.PaymentEvent{{Provider: Name, Source: core.SourceWebhook, Type: core.EventPrecheck, OrderID: billNo,
			AmountMinor: amount, Currency: Currency, Payload: req.Body}}, nil
	}

	var vals [4]string
	for i, c := range []struct {
		name string
		max  int
	}{{FieldPayerAccount, maxPayerLen}, {FieldTransID, maxTransIDLen}, {FieldTransDate, maxTransDateLen}, {FieldChecksum, 64}} {
		v, err := get(c.name)
		if err != nil {
			return nil, err
		}
		if len(v) > c.max {
			return nil, core.Errorf(core.EINVALID, "%s %s is %d bytes long; at most %d are accepted", kind, c.name, len(v), c.max)
		}
		if err := core.CheckText(c.name, v); err != nil {
			return nil, core.Errorf(core.EINVALID, "%s: %s", kind, core.ErrorMessage(err))
		}
		vals[i] = v
	}
	payer, transID, transDate, sumHex := vals[0], vals[1], vals[2], vals[3]
	got, herr := hex.DecodeString(sumHex)
	if herr != nil || len(got) != md5.Size {
		return nil, core.Errorf(core.EINVALID, "%s %s is not an MD5 in hex (32 characters 0-9, a-f)", kind, FieldChecksum)
	}
	// The checksum comes first, so that a forgery learns nothing of orders.
	// Any accepted form of the amount stands for the same number, which must
	// be the order's below; decoding the hex makes the comparison
	// case-insensitive, and ConstantTimeCompare keeps its timing flat.
	signed := false
	for _, a := range amountForms(amountStr, amount) {
		want := checksum(account, a, p.o.SecretKey, billNo, payer, transID, transDate)
		if subtle.ConstantTimeCompare(got, want[:]) == 1 {
			signed = true
		}
	}
	if !signed {
		return nil, core.Errorf(core.EUNAUTHORIZED, "%s %s for order %s does not match: check PAYSYNC_IDRAM_SECRET_KEY against the SECRET_KEY Idram configured for IdramID %s (Idram cancels this payment)", kind, FieldChecksum, billNo, p.o.Account)
	}
	if p.o.Store == nil {
		return nil, core.Errorf(core.EUNAVAILABLE, "%s cannot be checked: the Idram adapter was built without an order store", kind)
	}
	o, err := p.o.Store.GetOrder(ctx, billNo)
	switch {
	case core.ErrorCode(err) == core.ENOTFOUND:
		return nil, core.Errorf(core.EUNAUTHORIZED, "%s %s is for order %s, which paysync does not know: not taken, so Idram cancels the payment", kind, transID, billNo)
	case err != nil:
		return nil, &core.Error{Code: core.EUNAVAILABLE, Message: kind + " cannot be checked: the order could not be read, so it is not taken (Idram cancels the payment)", Err: err}
	case o.Provider != Name:
		return nil, core.Errorf(core.EUNAUTHORIZED, "%s %s is for order %s, which is to be paid with %s, not Idram: not taken, so Idram cancels the payment", kind, transID, billNo, providerName(o.Provider))
	case o.Currency != Currency || o.AmountMinor != amount:
		return nil, core.Errorf(core.EUNAUTHORIZED, "%s %s says %s %s, but order %s costs %s: not taken, so Idram cancels the payment", kind, transID, amountStr, Currency, billNo, o.Money())
	}
	// Idram calls while the buyer pays and EDP_TRANS_DATE is only a date:
	// the moment paysync received the confirmation is the payment's time,
	// to the second.
	at := req.ReceivedAt
	if at.IsZero() {
		at = p.now()
	}
	return []core.PaymentEvent{{Provider: Name, Source: core.SourceWebhook, EventID: transID, Type: EventConfirmation, OrderID: billNo,
		Status: core.StatusPaid, AmountMinor: o.AmountMinor, Currency: Currency, ProviderRef: transID,
		OccurredAt: at.UTC().Truncate(time.Second), Precision: time.Second, Verified: true, Payload: req.Body}}, nil
}

// readForm parses a form-encoded body; a field given twice is refused, so
// that what is checked is what is read.
func readForm(req core.InboundRequest) (map[string]string, error) {
	// Idram sends application/x-www-form-urlencoded; a request without a
	// Content-Type is read as a form too rather than risk refusing a payment.
	if ct := req.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/x-www-form-urlencoded" {
			return nil, core.Errorf(core.EINVALID, "Idram requests are application/x-www-form-urlencoded, not %q", clip(ct, 64))
		}
	}
	vals, err := url.ParseQuery(string(req.Body))
	if err != nil {
		return nil, core.Errorf(core.EINVALID, "Idram request body is not form-encoded: %v", err)
	}
	if len(vals) == 0 {
		return nil, core.Errorf(core.EINVALID, "Idram request carries no fields (expected %s, %s, %s, …)", FieldBillNo, FieldRecAccount, FieldAmount)
	}
	if len(vals) > maxFields {
		return nil, core.Errorf(core.EINVALID, "Idram request has more than %d fields", maxFields)
	}
	out := make(map[string]string, len(vals))
	for k, v := range vals {
		if len(v) != 1 {
			return nil, core.Errorf(core.EINVALID, "Idram request gives %q more than once", clip(core.CleanText(k), 40))
		}
		out[k] = v[0]
	}
	return out, nil
}

// maxAnswerReason bounds the reason in a refusal's body.
const maxAnswerReason = 300

// Answer writes paysync's answer to Idram. It is always HTTP 200, as
// Idram's 16.10.2025 rules read a non-2xx answer to a confirmation as "the
// payment stands" (and alert its support), and a 200 without "OK" as
// "cancel it": the body is exactly "OK" when the request is taken, and
// "REFUSED: <reason>" otherwise, for prechecks and confirmations alike.
func (p *Provider) Answer(w http.ResponseWriter, a core.WebhookAnswer) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	body := AnswerOK
	if !a.Taken {
		reason := a.Reason
		if reason == "" {
			reason = core.ErrorMessage(a.Err)
		}
		if reason == "" {
			reason = "not taken"
		}
		body = "REFUSED: " + oneLine(reason, maxAnswerReason)
		p.logNotTaken(a, reason)
	}
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, body)
}

// logNotTaken says what the shop and the buyer see of an answer without OK.
func (p *Provider) logNotTaken(a core.WebhookAnswer, reason string) {
	var seen string
	switch code := core.ErrorCode(a.Err); {
	case len(a.Verdicts) > 0:
		// Only a confirmation reaches the journal.
		seen = "Idram cancels this payment: the buyer is not charged, and the order stays as it was"
	case code == core.ENOTFOUND || code == core.ECONFLICT:
		// Only a precheck is refused with these (core.Precheck).
		seen = "Idram blocks this payment at its precheck: the buyer sees Idram's failure page and pays nothing"
	default:
		seen = "a precheck not answered OK blocks the payment (the buyer pays nothing); a confirmation not answered OK is cancelled by Idram (the buyer is not charged)"
	}
	p.log.Warn("Idram request not answered OK", "provider", Name, "reason", reason, "code", core.ErrorCode(a.Err), "verdicts", a.Verdicts, "what_the_buyer_sees", seen)
}

// oneLine makes s one line of at most n bytes (cut on a character).
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(core.CleanText(s)), " ")
	return clip(s, n)
}

// clip cuts s to at most n bytes on a character boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func providerName(s string) string {
	if s == "" {
		return "no provider"
	}
	return s
}
