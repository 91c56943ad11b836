package bitrix24_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/connectors/bitrix24"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/setting"
	sandbox "github.com/paysync/paysync/sandbox/bitrix24"
)

// The console links to the deal's page: the portal's address and the deal
// id, never the webhook's secret code; the sandbox serves that page.
func TestRecordURLLinksToTheDeal(t *testing.T) {
	t.Parallel()
	spec, ok := connectors.Lookup(bitrix24.Name)
	if !ok || spec.RecordURL == nil {
		t.Fatal("bitrix24 registers no RecordURL")
	}
	link := core.CRMLink{Connector: bitrix24.Name, OrderID: "IG-1", ExternalID: "42"}
	cases := []struct {
		s    *bitrix24.Settings
		want string
	}{
		{&bitrix24.Settings{WebhookURL: "https://shop.bitrix24.ru/rest/1/s3cretcode/"}, "https://shop.bitrix24.ru/crm/deal/details/42/"},
		{&bitrix24.Settings{WebhookURL: "http://127.0.0.1:8090/bitrix24/rest/1/s3cretcode/"}, "http://127.0.0.1:8090/bitrix24/crm/deal/details/42/"},
		{&bitrix24.Settings{ClientID: "app", ClientSecret: "x", PortalURL: "https://shop.bitrix24.am/"}, "https://shop.bitrix24.am/crm/deal/details/42/"},
		{&bitrix24.Settings{}, ""},
	}
	for _, c := range cases {
		if got := spec.RecordURL(c.s, link); got != c.want || strings.Contains(got, "s3cretcode") {
			t.Errorf("RecordURL(%+v) = %q, want %q", c.s, got, c.want)
		}
	}
	if got := spec.RecordURL(&bitrix24.Settings{WebhookURL: "https://shop.bitrix24.ru/rest/1/c/"}, core.CRMLink{}); got != "" {
		t.Errorf("a link without a deal id: %q", got)
	}

	// Against the sandbox: the link lands on the deal paysync made.
	p := sandbox.New(sandbox.Options{})
	mux := http.NewServeMux()
	mux.Handle("/bitrix24/", http.StripPrefix("/bitrix24", p))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer p.Close()
	resp, err := http.PostForm(p.WebhookURL(srv.URL+"/bitrix24")+"crm.deal.add.json", map[string][]string{"fields[TITLE]": {"Order <IG-1>"}, "fields[STAGE_ID]": {"NEW"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	deals := p.Deals()
	if len(deals) != 1 {
		t.Fatalf("%d deals", len(deals))
	}
	u := spec.RecordURL(&bitrix24.Settings{WebhookURL: setting.Secret(p.WebhookURL(srv.URL + "/bitrix24"))}, core.CRMLink{ExternalID: strconv.Itoa(deals[0].ID)})
	resp, err = http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Order &lt;IG-1&gt;") || !strings.Contains(string(body), "NEW") {
		t.Fatalf("GET %s: %d\n%s", u, resp.StatusCode, body)
	}
	if resp, _ := http.Get(srv.URL + "/bitrix24/crm/deal/details/999/"); resp.StatusCode != 404 {
		t.Fatalf("a missing deal: %d", resp.StatusCode)
	}
}
