package idram_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/providers"
	"github.com/paysync/paysync/providers/idram"
)

// The vector of /work/research/exchanges/idram-confirmation.json: the
// vendor's account and bill with an invented secret, payer, transaction
// and date. Its checksum was computed by the researchers, not taken from
// Idram: no real confirmation with a checksum has been published.
const (
	vecAccount   = "100000114"
	vecSecret    = "EXAMPLE_SECRET"
	vecBill      = "1806"
	vecPayer     = "100000001"
	vecTrans     = "00000000000001"
	vecDate      = "01/02/2025"
	vecSum       = "76f6c3d05e695561e784c933e11f30f9" // over "1900.00" (computed, not from Idram)
	vecSumWhole  = "5561f8dadd0454e92f878e8c54919408" // over "1900" (computed, not from Idram)
	vecAmountMin = 190000
)

// orders is a core.Store that knows only GetOrder; any other call panics.
type orders struct {
	core.Store
	m   map[string]core.Order
	err error
}

func (s *orders) GetOrder(_ context.Context, id string) (core.Order, error) {
	if s.err != nil {
		return core.Order{}, s.err
	}
	o, ok := s.m[id]
	if !ok {
		return core.Order{}, core.Errorf(core.ENOTFOUND, "order %s not found", id)
	}
	return o, nil
}

func newStore(os ...core.Order) *orders {
	s := &orders{m: map[string]core.Order{}}
	for _, o := range os {
		s.m[o.ID] = o
	}
	return s
}

func pending(id string, amount int64) core.Order {
	return core.Order{ID: id, Status: core.StatusPending, AmountMinor: amount, Currency: "AMD", Provider: idram.Name}
}

func newProvider(t *testing.T, store core.Store, mut ...func(*idram.Options)) *idram.Provider {
	t.Helper()
	o := idram.Options{Account: vecAccount, SecretKey: vecSecret, PublicURL: "https://pay.example.am/", Store: store,
		Logger: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))}
	for _, m := range mut {
		m(&o)
	}
	p, err := idram.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// confirmation is the vector's confirmation, changed by mut.
func confirmation(mut ...func(url.Values)) url.Values {
	v := url.Values{
		"EDP_BILL_NO": {vecBill}, "EDP_REC_ACCOUNT": {vecAccount}, "EDP_PAYER_ACCOUNT": {vecPayer}, "EDP_AMOUNT": {"1900.00"},
		"EDP_TRANS_ID": {vecTrans}, "EDP_TRANS_DATE": {vecDate}, "EDP_CHECKSUM": {vecSum},
	}
	for _, m := range mut {
		m(v)
	}
	return v
}

// signed sets EDP_AMOUNT to amount and the checksum over hashed with secret.
func signed(amount, hashed, secret string) func(url.Values) {
	return func(v url.Values) {
		v.Set("EDP_AMOUNT", amount)
		v.Set("EDP_CHECKSUM", idram.Checksum(v.Get("EDP_REC_ACCOUNT"), hashed, secret, v.Get("EDP_BILL_NO"), v.Get("EDP_PAYER_ACCOUNT"), v.Get("EDP_TRANS_ID"), v.Get("EDP_TRANS_DATE")))
	}
}

var received = time.Date(2025, 2, 1, 10, 30, 15, 987654321, time.UTC)

func inbound(v url.Values) core.InboundRequest {
	h := http.Header{}
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	return core.InboundRequest{Method: http.MethodPost, Header: h, Body: []byte(v.Encode()), ReceivedAt: received}
}

func TestChecksumVector(t *testing.T) {
	t.Parallel()
	// Computed by the researchers, not from Idram (see the constants).
	if got := idram.Checksum(vecAccount, "1900.00", vecSecret, vecBill, vecPayer, vecTrans, vecDate); got != vecSum {
		t.Errorf("checksum over 1900.00 = %s, want %s", got, vecSum)
	}
	if got := idram.Checksum(vecAccount, "1900", vecSecret, vecBill, vecPayer, vecTrans, vecDate); got != vecSumWhole {
		t.Errorf("checksum over 1900 = %s, want %s", got, vecSumWhole)
	}
}

func TestParseAmount(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]int64{"1900": 190000, "1900.00": 190000, "1900.5": 190050, "0.01": 1, "01900.10": 190010} {
		if got, err := idram.ParseAmount(s); err != nil || got != want {
			t.Errorf("ParseAmount(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "1900,00", "1900.001", "-5", "+5", " 5", "5 ", "1e3", "0", "0.00", ".5", "5.", "99999999999999999999", "１９００"} {
		if got, err := idram.ParseAmount(s); core.ErrorCode(err) != core.EINVALID {
			t.Errorf("ParseAmount(%q) = %d, %v; want EINVALID", s, got, err)
		}
	}
	if got := idram.FormatAmount(190005); got != "1900.05" {
		t.Errorf("FormatAmount = %q", got)
	}
}

func TestVerifyConfirmation(t *testing.T) {
	t.Parallel()
	store := newStore(pending(vecBill, vecAmountMin), core.Order{ID: "V-1", Status: core.StatusPending, AmountMinor: vecAmountMin, Currency: "AMD", Provider: "vpos"})
	p := newProvider(t, store)
	for name, mut := range map[string]func(url.Values){
		"vector, lower-case hex":              nil,
		"upper-case hex":                      func(v url.Values) { v.Set("EDP_CHECKSUM", strings.ToUpper(vecSum)) },
		"1900 sent, hashed as sent":           signed("1900", "1900", vecSecret),
		"1900 sent, order amount 1900.00":     signed("1900", "1900.00", vecSecret),
		"1900.00 sent, order amount 1900":     signed("1900.00", "1900", vecSecret),
		"1900.0 sent, hashed as sent":         signed("1900.0", "1900.0", vecSecret),
		"1900.00 sent, vector whole checksum": func(v url.Values) { v.Set("EDP_CHECKSUM", vecSumWhole) },
	} {
		v := confirmation()
		if mut != nil {
			mut(v)
		}
		req := inbound(v)
		evs, err := p.Verify(context.Background(), req)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		want := core.PaymentEvent{Provider: "idram", Source: core.SourceWebhook, EventID: vecTrans, Type: "confirmation", OrderID: vecBill,
			Status: core.StatusPaid, AmountMinor: vecAmountMin, Currency: "AMD", ProviderRef: vecTrans,
			OccurredAt: received.Truncate(time.Second), Precision: time.Second, Verified: true}
		if len(evs) != 1 {
			t.Errorf("%s: %d events", name, len(evs))
			continue
		}
		got := evs[0]
		if !bytes.Equal(got.Payload, req.Body) {
			t.Errorf("%s: payload %q, want the body", name, got.Payload)
		}
		got.Payload = nil
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, got, want)
		}
	}

	refused := map[string]struct {
		mut  func(url.Values)
		code string
		says string
	}{
		"wrong key":               {signed("1900.00", "1900.00", "OTHER_SECRET"), core.EUNAUTHORIZED, "check PAYSYNC_IDRAM_SECRET_KEY"},
		"hashed over 1900.000":    {signed("1900.00", "1900.000", vecSecret), core.EUNAUTHORIZED, "does not match"},
		"another transaction":     {func(v url.Values) { v.Set("EDP_TRANS_ID", "00000000000002") }, core.EUNAUTHORIZED, "does not match"},
		"wrong account":           {func(v url.Values) { v.Set("EDP_REC_ACCOUNT", "100000999") }, core.EUNAUTHORIZED, "check PAYSYNC_IDRAM_ACCOUNT"},
		"amount not the order's":  {signed("1800.00", "1800.00", vecSecret), core.EUNAUTHORIZED, "says 1800.00 AMD, but order 1806 costs 1900.00 AMD"},
		"amount a luma off":       {signed("1900.01", "1900.01", vecSecret), core.EUNAUTHORIZED, "costs 1900.00 AMD"},
		"unknown order":           {func(v url.Values) { v.Set("EDP_BILL_NO", "NOPE-1"); signed("1900.00", "1900.00", vecSecret)(v) }, core.EUNAUTHORIZED, "paysync does not know"},
		"another provider's":      {func(v url.Values) { v.Set("EDP_BILL_NO", "V-1"); signed("1900.00", "1900.00", vecSecret)(v) }, core.EUNAUTHORIZED, "paid with vpos, not Idram"},
		"no checksum":             {func(v url.Values) { v.Del("EDP_CHECKSUM") }, core.EINVALID, "has no EDP_CHECKSUM"},
		"no transaction":          {func(v url.Values) { v.Del("EDP_TRANS_ID") }, core.EINVALID, "has no EDP_TRANS_ID"},
		"no date":                 {func(v url.Values) { v.Del("EDP_TRANS_DATE") }, core.EINVALID, "has no EDP_TRANS_DATE"},
		"no payer":                {func(v url.Values) { v.Del("EDP_PAYER_ACCOUNT") }, core.EINVALID, "has no EDP_PAYER_ACCOUNT"},
		"no amount":               {func(v url.Values) { v.Del("EDP_AMOUNT") }, core.EINVALID, "has no EDP_AMOUNT"},
		"no bill":                 {func(v url.Values) { v.Del("EDP_BILL_NO") }, core.EINVALID, "has no EDP_BILL_NO"},
		"no account":              {func(v url.Values) { v.Del("EDP_REC_ACCOUNT") }, core.EINVALID, "has no EDP_REC_ACCOUNT"},
		"comma amount":            {func(v url.Values) { v.Set("EDP_AMOUNT", "1900,00") }, core.EINVALID, "EDP_AMOUNT"},
		"checksum not hex":        {func(v url.Values) { v.Set("EDP_CHECKSUM", strings.Repeat("z", 32)) }, core.EINVALID, "EDP_CHECKSUM is not an MD5"},
		"checksum too short":      {func(v url.Values) { v.Set("EDP_CHECKSUM", vecSum[:30]) }, core.EINVALID, "EDP_CHECKSUM is not an MD5"},
		"bill with a space":       {func(v url.Values) { v.Set("EDP_BILL_NO", "18 06") }, core.EINVALID, "EDP_BILL_NO"},
		"transaction id too long": {func(v url.Values) { v.Set("EDP_TRANS_ID", strings.Repeat("1", 65)) }, core.EINVALID, "EDP_TRANS_ID is 65 bytes long"},
		"field twice":             {func(v url.Values) { v.Add("EDP_AMOUNT", "1.00") }, core.EINVALID, "more than once"},
		"precheck not YES":        {func(v url.Values) { v.Set("EDP_PRECHECK", "NO") }, core.EINVALID, "EDP_PRECHECK"},
	}
	for name, c := range refused {
		evs, err := p.Verify(context.Background(), inbound(confirmation(c.mut)))
		if core.ErrorCode(err) != c.code || !strings.Contains(core.ErrorMessage(err), c.says) {
			t.Errorf("%s: %v (%s), %d events; want %s saying %q", name, err, core.ErrorCode(err), len(evs), c.code, c.says)
		}
		if strings.Contains(core.ErrorMessage(err), vecSecret) {
			t.Errorf("%s: the message shows the secret key: %v", name, err)
		}
	}

	// Not form-encoded at all.
	req := inbound(confirmation())
	req.Header.Set("Content-Type", "application/json")
	if _, err := p.Verify(context.Background(), req); core.ErrorCode(err) != core.EINVALID || !strings.Contains(err.Error(), "x-www-form-urlencoded") {
		t.Errorf("JSON content: %v", err)
	}
	req.Body = []byte("%zz")
	req.Header.Del("Content-Type")
	if _, err := p.Verify(context.Background(), req); core.ErrorCode(err) != core.EINVALID {
		t.Errorf("garbled body: %v", err)
	}
	// A form without a Content-Type is still read: refusing it would cancel a payment.
	req = inbound(confirmation())
	req.Header.Del("Content-Type")
	if _, err := p.Verify(context.Background(), req); err != nil {
		t.Errorf("form without Content-Type: %v", err)
	}
}

// TestVerifyStoreDown: an order that cannot be read is not a refusal: the
// confirmation is "unavailable", answered without OK all the same.
func TestVerifyStoreDown(t *testing.T) {
	t.Parallel()
	store := newStore()
	store.err = errors.New("sql: database is closed")
	p := newProvider(t, store)
	_, err := p.Verify(context.Background(), inbound(confirmation()))
	if core.ErrorCode(err) != core.EUNAVAILABLE || strings.Contains(core.ErrorMessage(err), "database is closed") {
		t.Fatalf("store down: %v (%s)", err, core.ErrorCode(err))
	}
	// A forged confirmation is refused before the store is asked.
	_, err = p.Verify(context.Background(), inbound(confirmation(signed("1900.00", "1900.00", "GUESS"))))
	if core.ErrorCode(err) != core.EUNAUTHORIZED {
		t.Fatalf("forgery while the store is down: %v", err)
	}
}

func TestVerifyPrecheck(t *testing.T) {
	t.Parallel()
	// A precheck needs no order: the payments service answers it.
	p := newProvider(t, nil)
	for amount, minor := range map[string]int64{"1900": 190000, "1900.00": 190000, "1900.5": 190050} {
		v := url.Values{"EDP_PRECHECK": {"YES"}, "EDP_BILL_NO": {vecBill}, "EDP_REC_ACCOUNT": {vecAccount}, "EDP_AMOUNT": {amount}}
		evs, err := p.Verify(context.Background(), inbound(v))
		if err != nil || len(evs) != 1 {
			t.Fatalf("precheck %s: %v %v", amount, evs, err)
		}
		ev := evs[0]
		if ev.Type != core.EventPrecheck || ev.Status != "" || ev.OrderID != vecBill || ev.AmountMinor != minor || ev.Currency != "AMD" || ev.Verified || ev.EventID != "" {
			t.Errorf("precheck %s: %+v", amount, ev)
		}
	}
	for name, c := range map[string]struct {
		v    url.Values
		code string
	}{
		"other account": {url.Values{"EDP_PRECHECK": {"YES"}, "EDP_BILL_NO": {vecBill}, "EDP_REC_ACCOUNT": {"1"}, "EDP_AMOUNT": {"1900"}}, core.EUNAUTHORIZED},
		"no amount":     {url.Values{"EDP_PRECHECK": {"YES"}, "EDP_BILL_NO": {vecBill}, "EDP_REC_ACCOUNT": {vecAccount}}, core.EINVALID},
		"zero amount":   {url.Values{"EDP_PRECHECK": {"YES"}, "EDP_BILL_NO": {vecBill}, "EDP_REC_ACCOUNT": {vecAccount}, "EDP_AMOUNT": {"0"}}, core.EINVALID},
		"no bill":       {url.Values{"EDP_PRECHECK": {"YES"}, "EDP_REC_ACCOUNT": {vecAccount}, "EDP_AMOUNT": {"1900"}}, core.EINVALID},
		"empty":         {url.Values{}, core.EINVALID},
	} {
		if _, err := p.Verify(context.Background(), inbound(c.v)); core.ErrorCode(err) != c.code {
			t.Errorf("%s: %v, want %s", name, err, c.code)
		}
	}
}

func TestAnswer(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	p := newProvider(t, nil, func(o *idram.Options) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	answer := func(a core.WebhookAnswer) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		p.Answer(rec, a)
		return rec
	}
	rec := answer(core.WebhookAnswer{Taken: true, Verdicts: []core.Verdict{core.VerdictAccepted}})
	if rec.Code != 200 || rec.Body.String() != "OK" || rec.Header().Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Fatalf("taken: %d %q %q", rec.Code, rec.Body.String(), rec.Header().Get("Content-Type"))
	}
	if logs.Len() != 0 {
		t.Errorf("a taken request logged: %s", logs.String())
	}
	for name, c := range map[string]struct {
		a    core.WebhookAnswer
		says string
		logs string
	}{
		"declined": {core.WebhookAnswer{Verdicts: []core.Verdict{core.VerdictDeclined}, Reason: "order is already paid; declined"}, "order is already paid", "Idram cancels this payment"},
		"precheck refused": {core.WebhookAnswer{Err: core.Errorf(core.ECONFLICT, "order 1806 is paid, not awaiting payment"), Reason: "order 1806 is paid, not awaiting payment"},
			"not awaiting payment", "blocks this payment at its precheck"},
		"forged":      {core.WebhookAnswer{Err: core.Errorf(core.EUNAUTHORIZED, "checksum does not match"), Reason: "checksum does not match"}, "checksum does not match", "precheck not answered OK"},
		"database":    {core.WebhookAnswer{Err: &core.Error{Code: core.EUNAVAILABLE, Message: "could not be recorded", Err: errors.New("secret dsn postgres://u:" + vecSecret)}}, "could not be recorded", "is cancelled by Idram"},
		"throttled":   {core.WebhookAnswer{Err: core.Errorf(core.ETOOMANY, "too many failing webhook requests")}, "too many", "blocks the payment"},
		"wrong verb":  {core.WebhookAnswer{Err: core.Errorf(core.EMETHOD, "Idram webhooks are sent with POST, not GET")}, "POST, not GET", "WARN"},
		"multi-line":  {core.WebhookAnswer{Reason: "one\ntwo\r\nthree"}, "one two three", "WARN"},
		"no reason":   {core.WebhookAnswer{}, "not taken", "WARN"},
		"long reason": {core.WebhookAnswer{Reason: strings.Repeat("ա", 400)}, "…", "WARN"},
	} {
		logs.Reset()
		rec := answer(c.a)
		body := rec.Body.String()
		if rec.Code != 200 || body == "OK" || !strings.HasPrefix(body, "REFUSED: ") || !strings.Contains(body, c.says) {
			t.Errorf("%s: %d %q, want 200 REFUSED saying %q", name, rec.Code, body, c.says)
		}
		if strings.ContainsAny(body, "\r\n") || len(body) > 320 || strings.Contains(body, vecSecret) || strings.Contains(body, "<") {
			t.Errorf("%s: body %q is not one short plain line without secrets", name, body)
		}
		if rec.Header().Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Errorf("%s: Content-Type %q", name, rec.Header().Get("Content-Type"))
		}
		if l := logs.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, c.logs) {
			t.Errorf("%s: log %q, want a warning saying %q", name, l, c.logs)
		}
	}
}

func TestValidateOrderAndLink(t *testing.T) {
	t.Parallel()
	p := newProvider(t, nil)
	if err := p.ValidateOrder(core.Order{ID: "A", Currency: "USD"}); core.ErrorCode(err) != core.EINVALID || !strings.Contains(err.Error(), "AMD only") {
		t.Errorf("USD order: %v", err)
	}
	for _, c := range []string{"AMD", "amd"} {
		if err := p.ValidateOrder(core.Order{ID: "A", Currency: c}); err != nil {
			t.Errorf("%s order: %v", c, err)
		}
	}
	link, err := p.CreateLink(context.Background(), core.Order{ID: "IG/1?x"})
	if err != nil || link.URL != "https://pay.example.am/pay/IG%2F1%3Fx" || link.ProviderRef != "" {
		t.Errorf("link %+v %v", link, err)
	}
	if _, err := p.Lookup(context.Background(), core.Order{ID: "A"}); err == nil || !strings.Contains(err.Error(), "no status API") {
		t.Errorf("lookup: %v", err)
	}
	c := p.Capabilities()
	if c.Title != "Idram" || !c.CreatesLinks || c.LooksUp || c.ConfirmsByLookup || !c.ApprovesPayments || len(c.WebhookMethods) != 1 || c.WebhookMethods[0] != "POST" {
		t.Errorf("capabilities %+v", c)
	}
	if got := p.ReturnOrderID(url.Values{"EDP_BILL_NO": {"B-1"}, "order_id": {"O-1"}}); got != "B-1" {
		t.Errorf("return order %q", got)
	}
}

func TestSettings(t *testing.T) {
	t.Parallel()
	spec, ok := providers.Lookup("idram")
	if !ok || spec.Title != "Idram" || spec.Enable != "PAYSYNC_IDRAM_ACCOUNT and PAYSYNC_IDRAM_SECRET_KEY" {
		t.Fatalf("registration %+v %v", spec, ok)
	}
	s := spec.Settings().(*idram.Settings)
	if s.Enabled() || s.PaymentURL != idram.DefaultPaymentURL {
		t.Fatalf("defaults %+v", s)
	}
	problems := func(s *idram.Settings) map[string]string {
		out := map[string]string{}
		s.Validate(func(k, r string) { out[k] = r })
		return out
	}
	if ps := problems(s); len(ps) != 0 {
		t.Fatalf("defaults have problems: %v", ps)
	}
	s.Account, s.SecretKey = vecAccount, vecSecret
	if !s.Enabled() || len(problems(s)) != 0 {
		t.Fatalf("configured: %v", problems(s))
	}
	bad := &idram.Settings{Account: "IDRAM-1", PaymentURL: "banking.idram.am/Payment", Language: "de"}
	ps := problems(bad)
	for key, says := range map[string]string{"account": "not an IdramID", "payment_url": "not an http(s) URL", "secret_key": "PAYSYNC_IDRAM_SECRET_KEY is not", "language": "AM, RU or EN"} {
		if !strings.Contains(ps[key], says) {
			t.Errorf("%s: %q, want %q", key, ps[key], says)
		}
	}
	if ps := problems(&idram.Settings{SecretKey: "k"}); !strings.Contains(ps["account"], "PAYSYNC_IDRAM_ACCOUNT is not") {
		t.Errorf("key without account: %v", ps)
	}
	// `config check` builds the provider without a store.
	pr, err := spec.New(context.Background(), providers.Deps{Settings: s, PublicURL: "https://pay.example.am"})
	if err != nil || pr.Name() != "idram" {
		t.Fatalf("built: %v %v", pr, err)
	}
	if _, err := idram.New(idram.Options{Account: vecAccount, SecretKey: "k", PaymentURL: "ftp://x"}); core.ErrorField(err) != "payment_url" {
		t.Errorf("ftp payment URL: %v", err)
	}
	if _, err := idram.New(idram.Options{Account: vecAccount}); core.ErrorField(err) != "account" {
		t.Errorf("no key: %v", err)
	}
}
