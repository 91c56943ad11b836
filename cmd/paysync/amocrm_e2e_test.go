package main

import (
	"fmt"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	amocrmsandbox "github.com/paysync/paysync/sandbox/amocrm"
	"github.com/paysync/paysync/storage/testdb"
)

// startAmoE2E runs serve with only the amoCRM connector, pointed at a
// sandbox account with its long-lived token.
func startAmoE2E(t testing.TB, dialect string, opts amocrmsandbox.Options) (*e2e, *amocrmsandbox.Account) {
	acc := amocrmsandbox.New(opts)
	srv := httptest.NewServer(acc)
	t.Cleanup(func() { srv.Close(); acc.Close() })
	e := startE2E(t, dialect, map[string]string{
		"PAYSYNC_GENERIC_WEBHOOK_SECRET": e2eSecret,
		"PAYSYNC_BITRIX24_WEBHOOK_URL":   "",
		"PAYSYNC_AMOCRM_BASE_URL":        srv.URL,
		"PAYSYNC_AMOCRM_ACCESS_TOKEN":    acc.AccessToken(),
	})
	return e, acc
}

func (e *e2e) paidWebhook(orderID, eventID string) {
	e.t.Helper()
	body := []byte(`{"event_id":"` + eventID + `","order_id":"` + orderID + `","status":"paid","amount_minor":1500000,"currency":"AMD",` +
		`"provider_ref":"pay_` + eventID + `","occurred_at":"` + time.Now().UTC().Format(time.RFC3339) + `"}`)
	if code := e.webhook(body); code/100 != 2 {
		e.t.Fatalf("webhook answered %d", code)
	}
}

func (e *e2e) createOrder(id, phone string) {
	e.t.Helper()
	code, out := e.api("POST", "/v1/orders", map[string]any{
		"order_id": id, "amount_minor": 1500000, "currency": "AMD",
		"customer": map[string]any{"handle": "anna.shop", "name": "Anna", "phone": phone, "email": "anna@example.am"},
		"items":    []map[string]any{{"sku": "D1", "name": "Dress", "quantity": 1, "price_minor": 1500000}},
	})
	if code != 201 {
		e.t.Fatalf("create %s: %d %v", id, code, out)
	}
}

// TestOrderBecomesAmoCRMLead: through the real daemon, an order becomes a
// lead with its contact, a payment moves the lead to the mapped status with
// a note, and a lead a manager moved further is not moved back.
func TestOrderBecomesAmoCRMLead(t *testing.T) {
	for _, dialect := range testdb.Dialects {
		t.Run(dialect, func(t *testing.T) {
			if dialect == "postgres" {
				testdb.PostgresURL(t)
			}
			e, acc := startAmoE2E(t, dialect, amocrmsandbox.Options{})
			e.createOrder("IG-77", "091 23-45-67")
			e.eventually("the lead in amoCRM", func() bool { return len(acc.LeadsByOrder("IG-77")) == 1 })
			lead := acc.LeadsByOrder("IG-77")[0]
			if lead.Price != 15000 || lead.StatusID != amocrmsandbox.StatusAwaiting || lead.PipelineID != amocrmsandbox.PipelineID ||
				len(lead.ContactIDs) != 1 {
				t.Fatalf("lead %+v", lead)
			}
			contact, _ := acc.Contact(lead.ContactIDs[0])
			if contact.Name != "Anna" || strings.Join(contact.Phones, ",") != "+37491234567" || strings.Join(contact.Emails, ",") != "anna@example.am" {
				t.Fatalf("contact %+v", contact)
			}
			e.eventually("the delivery recorded with the lead id", func() bool {
				_, view := e.api("GET", "/v1/orders/IG-77", nil)
				ds, _ := view["deliveries"].([]any)
				return len(ds) == 1 && ds[0].(map[string]any)["state"] == "delivered" && ds[0].(map[string]any)["external_id"] == strconv.Itoa(lead.ID)
			})

			if ns := acc.Notes(lead.ID); len(ns) != 1 || ns[0].Text != "Order created, awaiting payment" {
				t.Fatalf("notes of the new lead: %+v", ns)
			}
			e.paidWebhook("IG-77", "evt_77")
			e.eventually("the lead at the paid status with its note", func() bool {
				l, _ := acc.Lead(lead.ID)
				return l.StatusID == amocrmsandbox.StatusPaid && len(acc.Notes(lead.ID)) == 2
			})
			if n := acc.Notes(lead.ID)[1].Text; n != "Paid 15000.00 AMD (ref pay_evt_77)" {
				t.Fatalf("note %q", n)
			}

			// A manager ships the next order before its payment arrives.
			e.createOrder("IG-78", "+37491000078")
			e.eventually("the second lead", func() bool { return len(acc.LeadsByOrder("IG-78")) == 1 })
			second := acc.LeadsByOrder("IG-78")[0]
			if err := acc.SetLeadStatus(second.ID, amocrmsandbox.StatusShipped); err != nil {
				t.Fatal(err)
			}
			e.paidWebhook("IG-78", "evt_78")
			e.eventually("the payment's note on the shipped lead", func() bool { return len(acc.Notes(second.ID)) == 2 })
			if l, _ := acc.Lead(second.ID); l.StatusID != amocrmsandbox.StatusShipped {
				t.Fatalf("the late payment moved the lead from Shipped to %d", l.StatusID)
			}
			if n := len(acc.Leads()); n != 2 {
				t.Fatalf("%d leads for 2 orders", n)
			}
			if st := acc.Stats(); st.Rejected != 0 || st.MaxPerWindow > amocrmsandbox.DefaultLimit {
				t.Fatalf("the account refused %d requests, busiest second %d", st.Rejected, st.MaxPerWindow)
			}
		})
	}
}

func TestConnectorsCheckAmoCRM(t *testing.T) {
	acc := amocrmsandbox.New(amocrmsandbox.Options{})
	srv := httptest.NewServer(acc)
	defer srv.Close()
	defer acc.Close()
	t.Setenv("PAYSYNC_DATA_DIR", t.TempDir())
	t.Setenv("PAYSYNC_MAPPING_DIR", "../../mapping")
	t.Setenv("PAYSYNC_BITRIX24_WEBHOOK_URL", "")
	t.Setenv("PAYSYNC_AMOCRM_BASE_URL", srv.URL)
	t.Setenv("PAYSYNC_AMOCRM_ACCESS_TOKEN", acc.AccessToken())
	code, out, errs := cli(t, "connectors", "check")
	for _, want := range []string{"amoCRM (", "7412345 Instagram shop, main: 61234560 Incoming leads, 61234561 New inquiry",
		"142 Closed - won, 143 Closed - lost", "1093765 Payment status (select): 845571 Pending, 845573 Paid", "\nok\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q", want)
		}
	}
	if code != 0 {
		t.Fatalf("check of the shipped mapping: %d\n%s\n%s", code, out, errs)
	}
	// A manager deletes the "Paid" choice and the payment link field.
	acc.DeleteEnum(amocrmsandbox.FieldPayStatus, 845573)
	acc.DeleteLeadField(amocrmsandbox.FieldPayURL)
	code, out, errs = cli(t, "connectors", "check")
	if code != 1 {
		t.Fatalf("check with a deleted choice: %d\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{
		"lead field 1093765 (Payment status) has no choice 845573 (sent for status paid): use one of 845571 Pending, 845575 Failed",
		"lead custom field 1093767 does not exist in the account",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("problems lack %q:\n%s", want, errs)
		}
	}
	if strings.Contains(out+errs, acc.AccessToken()) {
		t.Fatal("the token reached the output")
	}
}

// TestAmoCRMOAuthThroughServe: serve wires the OAuth integration to the
// database: it starts from PAYSYNC_AMOCRM_REFRESH_TOKEN, and a 401 later is
// answered by one refresh.
func TestAmoCRMOAuthThroughServe(t *testing.T) {
	acc := amocrmsandbox.New(amocrmsandbox.Options{})
	srv := httptest.NewServer(acc)
	t.Cleanup(func() { srv.Close(); acc.Close() })
	_, seed := acc.IssueTokens()
	e := startE2E(t, "sqlite", map[string]string{
		"PAYSYNC_GENERIC_WEBHOOK_SECRET": e2eSecret,
		"PAYSYNC_BITRIX24_WEBHOOK_URL":   "",
		"PAYSYNC_AMOCRM_BASE_URL":        srv.URL,
		"PAYSYNC_AMOCRM_CLIENT_ID":       acc.ClientID(),
		"PAYSYNC_AMOCRM_CLIENT_SECRET":   acc.ClientSecret(),
		"PAYSYNC_AMOCRM_REDIRECT_URI":    acc.RedirectURI(),
		"PAYSYNC_AMOCRM_REFRESH_TOKEN":   seed,
	})
	e.createOrder("IG-90", "+37491000090")
	e.eventually("the lead in amoCRM", func() bool { return len(acc.LeadsByOrder("IG-90")) == 1 })
	acc.ExpireAccessTokens()
	e.paidWebhook("IG-90", "evt_90")
	e.eventually("the lead at the paid status", func() bool {
		ls := acc.LeadsByOrder("IG-90")
		return len(ls) == 1 && ls[0].StatusID == amocrmsandbox.StatusPaid
	})
	if n := acc.Stats().Refreshes; n != 2 {
		t.Fatalf("%d refreshes, want 2 (the configured refresh token, then after the 401)", n)
	}
	_, view := e.api("GET", "/v1/orders/IG-90", nil)
	if strings.Contains(fmt.Sprint(view), seed) {
		t.Fatal("the refresh token reached the API")
	}
}
