package arca

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/recorded"
	arcasandbox "github.com/paysync/paysync/sandbox/arca"
)

// The documented examples in testdata/exchanges are parsed by the adapter
// and answered in the same shape by the gateway double (internal/recorded).
func TestRecordedExchanges(t *testing.T) {
	for _, ex := range recorded.Load(t, "testdata/exchanges") {
		t.Run(ex.Name+"/adapter", func(t *testing.T) { replayAdapter(t, ex) })
		if ex.ToDouble() {
			t.Run(ex.Name+"/double", func(t *testing.T) { replayDouble(t, ex) })
		}
	}
}

func replayAdapter(t *testing.T, ex recorded.Exchange) {
	p := newProvider(t, Options{BaseURL: recorded.Serve(t, ex), ReturnURL: "https://shop.example/ok"})
	ctx := context.Background()
	form, _ := url.ParseQuery(ex.Request.Form)
	switch ex.Name {
	case "register":
		link, err := p.CreateLink(ctx, core.Order{ID: form.Get("orderNumber"), AmountMinor: 100000, Currency: "AMD"})
		if err != nil || link.ProviderRef != "70906e55-7114-41d6-8332-4609dc6590f4" || !strings.HasSuffix(link.URL, "mdOrder="+link.ProviderRef) {
			t.Fatalf("parsed %+v, %v", link, err)
		}
	case "register-used":
		// The adapter then looks the order up (CreateLink): the answer
		// itself is what is read here.
		var rr registerResponse
		if err := json.Unmarshal(ex.Response.Body, &rr); err != nil || rr.ErrorCode != errOrderNumberUsed {
			t.Fatalf("read %+v, %v", rr, err)
		}
	case "status-v1", "status-v2":
		ev, err := p.Lookup(ctx, core.Order{ID: "1421", Status: core.StatusPending, AmountMinor: 1040000, Currency: "RUB"})
		if err != nil || ev.Status != core.StatusPaid || ev.AmountMinor != 1040000 || ev.Currency != "RUB" ||
			ev.ProviderRef != "a169a819-b051-7c3d-a169-a81904b1d67d" {
			t.Fatalf("parsed %+v, %v", ev, err)
		}
	case "status-not-found":
		if _, err := p.Lookup(ctx, core.Order{ID: "NO-SUCH-ORDER"}); core.ErrorCode(err) != core.ENOTFOUND {
			t.Fatalf("read %v", err)
		}
	default:
		t.Fatalf("no adapter replay for %s", ex.Name)
	}
}

func replayDouble(t *testing.T, ex recorded.Exchange) {
	g, base := sandbox(t, arcasandbox.Options{})
	post := func(path, form string) []byte {
		t.Helper()
		v, _ := url.ParseQuery(form)
		v.Set("userName", arcasandbox.DefaultUsername)
		v.Set("password", arcasandbox.DefaultPassword)
		resp, err := http.PostForm(base+path, v)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != ex.Response.Status {
			t.Fatalf("the double answers HTTP %d, the docs %d", resp.StatusCode, ex.Response.Status)
		}
		b, _ := io.ReadAll(resp.Body)
		return b
	}
	switch ex.Name {
	case "register-used":
		post("/register.do", ex.Request.Form)
	case "status-v1", "status-v2":
		post("/register.do", "orderNumber=1421&amount=1040000&currency=643&returnUrl=https%3A%2F%2Fshop.example%2Fok")
		if err := g.Pay("1421"); err != nil {
			t.Fatal(err)
		}
		if ex.Name == "status-v1" {
			g.SetStatusVersion(1)
		}
	}
	got := post(ex.Request.Path, ex.Request.Form)
	if diffs := recorded.SameShape(ex.Response.Body, got); len(diffs) > 0 {
		t.Fatalf("the double's answer differs from the documented one:\n%s\n%s", strings.Join(diffs, "\n"), got)
	}
	if ex.Name == "status-v1" && strings.Contains(string(got), "paymentAmountInfo") {
		t.Fatalf("version 1 answers with paymentAmountInfo: %s", got)
	}
}
