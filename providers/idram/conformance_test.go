package idram_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/payments/providertest"
	"github.com/paysync/paysync/providers/idram"
	idramdouble "github.com/paysync/paysync/sandbox/idram"
)

// TestConformance runs the provider suite against the Idram double:
// confirmations checked by their MD5 over the order's own amount, each
// payment approved or declined by paysync's answer.
func TestConformance(t *testing.T) {
	providertest.Run(t, &harness{})
}

type harness struct {
	env providertest.Env
	d   *idramdouble.Double
	srv *httptest.Server
	seq int
}

func (h *harness) Features() providertest.Features {
	// Confirmations carry a date, not a time, and no currency (Idram takes
	// AMD only); a bill paysync never made is refused, so nobody pays for it.
	return providertest.Features{Signed: true, UnknownOrders: true}
}

func (h *harness) Provider(t *testing.T, env providertest.Env) core.Provider {
	h.env = env
	h.srv = httptest.NewUnstartedServer(nil)
	h.d = idramdouble.New(idramdouble.Options{ResultURL: env.PaysyncURL + "/webhooks/idram", PaysyncURL: env.PaysyncURL,
		PublicURL: "http://" + h.srv.Listener.Addr().String()})
	h.srv.Config.Handler = h.d
	h.srv.Start()
	t.Cleanup(func() { h.d.Close(); h.srv.Close() })
	p, err := idram.New(idram.Options{Account: h.d.Account(), SecretKey: h.d.SecretKey(), PaymentURL: h.d.PaymentURL(),
		PublicURL: env.PaysyncURL, Store: env.Store})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func amount(minor int64) string {
	return strconv.FormatInt(minor/100, 10) + "." + strconv.FormatInt(100+minor%100, 10)[1:]
}

func (h *harness) Pay(t *testing.T, o core.Order, amountMinor int64, currency string, copies int) {
	var tx idramdouble.Transaction
	var err error
	if amountMinor == o.AmountMinor {
		tx, err = h.d.PayBill(o.ID) // opens paysync's /pay page, prechecks, confirms
	} else {
		tx, err = h.d.PayOtherAmount(o.ID, amount(amountMinor))
	}
	if err != nil {
		t.Fatal(err)
	}
	for range copies - 1 {
		if _, err := h.d.Redeliver(tx.TransID); err != nil {
			t.Fatal(err)
		}
	}
}

func (h *harness) PayUnknown(t *testing.T, orderID string, amountMinor int64, currency string) {
	tx, err := h.d.Confirm(orderID, idramdouble.Forge{AmountMinor: amountMinor})
	if err != nil {
		t.Fatal(err)
	}
	if tx.State == "paid" {
		t.Fatalf("Idram counts a payment for a bill paysync never made: %+v", tx)
	}
}

// confirmation is a confirmation of o as Idram sends it, signed with key.
func (h *harness) confirmation(o core.Order, key string, extra url.Values) url.Values {
	h.seq++
	trans := strconv.FormatInt(time.Now().UnixMilli()%1e10*1e4+int64(h.seq), 10)
	date := time.Now().Format("02/01/2006")
	amt := amount(o.AmountMinor)
	f := url.Values{"EDP_BILL_NO": {o.ID}, "EDP_REC_ACCOUNT": {h.d.Account()}, "EDP_PAYER_ACCOUNT": {idramdouble.DefaultPayerAccount},
		"EDP_AMOUNT": {amt}, "EDP_TRANS_ID": {trans}, "EDP_TRANS_DATE": {date},
		"EDP_CHECKSUM": {idramdouble.Checksum(h.d.Account(), amt, key, o.ID, idramdouble.DefaultPayerAccount, trans, date)}}
	for k, v := range extra {
		f[k] = v
	}
	return f
}

func (h *harness) post(body string) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, h.env.PaysyncURL+"/webhooks/idram", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

func (h *harness) Forge(t *testing.T, o core.Order) *http.Request {
	return h.post(h.confirmation(o, "not-the-merchant's-key", nil).Encode())
}

func (h *harness) Tamper(t *testing.T, o core.Order) *http.Request {
	f := h.confirmation(o, h.d.SecretKey(), nil)
	f.Set("EDP_PAYER_ACCOUNT", "999999999")
	return h.post(f.Encode())
}

func (h *harness) Replay(t *testing.T, o core.Order) *http.Request {
	t.Fatal("Idram confirmations carry no time")
	return nil
}

func (h *harness) Claim(t *testing.T, o core.Order) { t.Fatal("Idram has no status lookup") }

func (h *harness) PayOddly(t *testing.T, o core.Order) []byte {
	// A field without the EDP_ prefix is passed back as the form had it;
	// this one holds an invalid byte and a NUL.
	body := h.confirmation(o, h.d.SecretKey(), url.Values{"note": {"Ani \xff\xfe \x00 ֏"}}).Encode()
	resp, err := h.env.Client.Do(h.post(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the odd confirmation was answered %d", resp.StatusCode)
	}
	return []byte(body)
}
