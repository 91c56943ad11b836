package ameria_test

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
	"github.com/paysync/paysync/providers/ameria"
	ameriadouble "github.com/paysync/paysync/sandbox/ameria"
)

// TestConformance runs the provider suite against the Ameriabank double:
// the bank calls nobody, the buyer's unsigned return prompts a lookup, and
// GetPaymentDetails decides.
func TestConformance(t *testing.T) {
	providertest.Run(t, &harness{})
}

type harness struct {
	env  providertest.Env
	bank *ameriadouble.Bank
	srv  *httptest.Server
}

func (h *harness) Features() providertest.Features {
	// Nothing the bank sends is signed, and it reports only the orders
	// paysync registered.
	return providertest.Features{ReportsCurrency: true}
}

func (h *harness) Provider(t *testing.T, env providertest.Env) core.Provider {
	h.env = env
	h.srv = httptest.NewUnstartedServer(nil)
	h.bank = ameriadouble.New(ameriadouble.Options{PublicURL: "http://" + h.srv.Listener.Addr().String()})
	h.srv.Config.Handler = h.bank
	h.srv.Start()
	t.Cleanup(func() { h.bank.Close(); h.srv.Close() })
	r, err := ameria.ParseRange(h.bank.OrderRange())
	if err != nil {
		t.Fatal(err)
	}
	p, err := ameria.New(ameria.Options{BaseURL: h.srv.URL + "/", ClientID: h.bank.ClientID(), Username: h.bank.Username(),
		Password: h.bank.Password(), OrderIDs: r, BackURL: env.PaysyncURL + "/webhooks/ameria/return", Store: env.Store,
		Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (h *harness) Pay(t *testing.T, o core.Order, amountMinor int64, currency string, copies int) {
	if err := h.bank.PayWith(o.ID, amountMinor, currency, ""); err != nil {
		t.Fatal(err)
	}
	for range copies - 1 { // the buyer reloads the return page
		if err := h.bank.ReturnForged(o.ID); err != nil {
			t.Fatal(err)
		}
	}
}

func (h *harness) PayUnknown(t *testing.T, orderID string, amountMinor int64, currency string) {
	t.Fatal("the bank reports only the orders paysync registered")
}

// PayAtBank is a payment under an OrderID of the merchant's other system
// (far outside paysync's range), naming orderID in its Opaque, that no
// buyer brings back to paysync (providertest.BankPayer).
func (h *harness) PayAtBank(t *testing.T, orderID string, amountMinor int64, currency string) {
	if _, err := h.bank.PayAtBank(990000001, amountMinor, currency, orderID); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) Forge(t *testing.T, o core.Order) *http.Request {
	p, ok := h.bank.Payment(o.ID)
	if !ok {
		t.Fatalf("the bank has no payment for %s", o.ID)
	}
	q := url.Values{"orderID": {strconv.FormatInt(p.OrderID, 10)}, "resposneCode": {"00"},
		"paymentID": {strings.ToLower(p.PaymentID)}, "opaque": {o.ID}, "description": {"Operation Approved "}}
	req, _ := http.NewRequest(http.MethodGet, h.env.PaysyncURL+"/webhooks/ameria/return?"+q.Encode(), nil)
	return req
}

func (h *harness) Tamper(t *testing.T, o core.Order) *http.Request {
	t.Fatal("nothing the bank sends is signed")
	return nil
}

func (h *harness) Replay(t *testing.T, o core.Order) *http.Request {
	t.Fatal("nothing the bank sends is signed")
	return nil
}

func (h *harness) Claim(t *testing.T, o core.Order) {
	t.Fatal("Ameriabank orders are decided by the lookup alone")
}

func (h *harness) PayOddly(t *testing.T, o core.Order) []byte {
	// The cardholder's name, as the bank echoes it: an escaped NUL, a
	// replacement character and Armenian letters.
	if err := h.bank.PayWith(o.ID, o.AmountMinor, o.Currency, "Ani \x00 \ufffd Պետրոսյան ֏"); err != nil {
		t.Fatal(err)
	}
	body, err := h.bank.Details(o.ID)
	if err != nil {
		t.Fatal(err)
	}
	return body
}
