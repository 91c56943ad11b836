package ameria

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	ameriasandbox "github.com/paysync/paysync/sandbox/ameria"
)

// TestOperDateAsTheManualWritesIt: the manual's sample OperDate is a Java
// date's text in Armenian time.
func TestOperDateAsTheManualWritesIt(t *testing.T) {
	got, err := parseOperDate("Wed Mar 18 00:53:25 AMT 2015")
	if want := time.Date(2015, 3, 17, 20, 53, 25, 0, time.UTC); err != nil || !got.Equal(want) {
		t.Fatalf("OperDate read as %s (%v), want %s", got.UTC(), err, want)
	}
	if got, err := parseOperDate("26/08/2026 17:29:07"); err != nil || got.UTC().Hour() != 13 {
		t.Fatalf("dd/MM/yyyy OperDate read as %s (%v), want 13:29 UTC", got.UTC(), err)
	}
}

// TestTransactionListOverSOAP: the list is asked for with the SOAPAction
// header and no <Action> header, read with its amounts, currency, Opaque
// and PaymentID; wrong credentials are a fix to make, without the password.
func TestTransactionListOverSOAP(t *testing.T) {
	b := newBank(t, ameriasandbox.Options{})
	p := newProvider(t, b.options())
	paid, err := b.PayAtBank(990000007, 1250000, "AMD", "SHOP-7")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	txs, err := p.ListTransactions(context.Background(), now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(txs) != 1 || txs[0].OrderID != "SHOP-7" || txs[0].AmountMinor != 1250000 || txs[0].Currency != "AMD" ||
		txs[0].Status != core.StatusPaid || txs[0].ProviderRef != strings.ToUpper(paid.PaymentID) {
		t.Fatalf("listed %+v, want SHOP-7 paid 1250000 AMD under %s", txs, paid.PaymentID)
	}
	body := string(b.requests("TransactionsInformationService.svc")[0])
	if strings.Contains(body, "<Action") || !strings.Contains(body, "<d4p1:StartDate>") {
		t.Fatalf("the envelope carries the manual's Action header or lacks StartDate:\n%s", body)
	}
	o := b.options()
	o.Password = "wrong-password-42"
	_, err = newProvider(t, o).ListTransactions(context.Background(), now.Add(-time.Hour), now.Add(time.Hour))
	if core.ErrorCode(err) != core.EUNAUTHORIZED || strings.Contains(core.ErrorMessage(err), o.Password) {
		t.Fatalf("wrong credentials: %v, want EUNAUTHORIZED without the password", err)
	}
}

// TestReportingDoubleIsStrict: the double refuses what the service refuses.
func TestReportingDoubleIsStrict(t *testing.T) {
	b := newBank(t, ameriasandbox.Options{})
	envelope := func(header string) string {
		return `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header>` + header + `</s:Header><s:Body>` +
			`<GetTransactionList xmlns="http://payments.ameriabank.am/ITransactionsInformationService"><transclient xmlns:d4p1="payments.ameriabank.am/TransactionClient">` +
			`<d4p1:ClientID>` + ameriasandbox.DefaultClientID + `</d4p1:ClientID><d4p1:EndDate>2026/03/10 23:59</d4p1:EndDate><d4p1:Password>` + ameriasandbox.DefaultPassword +
			`</d4p1:Password><d4p1:StartDate>2026/03/10 00:00</d4p1:StartDate><d4p1:Username>` + ameriasandbox.DefaultUsername + `</d4p1:Username></transclient></GetTransactionList></s:Body></s:Envelope>`
	}
	post := func(ct, action, body string) int {
		req, _ := http.NewRequest(http.MethodPost, b.base+strings.TrimPrefix(ameriasandbox.ReportingPath, "/"), strings.NewReader(body))
		req.Header.Set("Content-Type", ct)
		if action != "" {
			req.Header.Set("SOAPAction", action)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	action := `"` + ameriasandbox.ActionGetTransactionList + `"`
	for name, c := range map[string]struct {
		ct, action, body string
		want             int
	}{
		"as it works":              {"text/xml; charset=utf-8", action, envelope(""), http.StatusOK},
		"the manual's Action":      {"text/xml; charset=utf-8", action, envelope(`<Action s:mustUnderstand="1" xmlns="http://schemas.microsoft.com/ws/2005/05/addressing/none">x</Action>`), http.StatusBadRequest},
		"SOAP 1.2":                 {"application/soap+xml; charset=utf-8", action, envelope(""), http.StatusUnsupportedMediaType},
		"no SOAPAction":            {"text/xml; charset=utf-8", "", envelope(""), http.StatusInternalServerError},
		"another operation's body": {"text/xml; charset=utf-8", action, strings.ReplaceAll(envelope(""), "GetTransactionList", "GetProblemTransactions"), http.StatusInternalServerError},
	} {
		if got := post(c.ct, c.action, c.body); got != c.want {
			t.Errorf("%s: HTTP %d, want %d", name, got, c.want)
		}
	}
}
