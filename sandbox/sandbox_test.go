package sandbox_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/paysync/paysync/sandbox"
)

func TestMountsEveryDouble(t *testing.T) {
	var sb *sandbox.Sandbox
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { sb.ServeHTTP(w, r) }))
	defer srv.Close()
	sb = sandbox.New(sandbox.Options{BaseURL: srv.URL})
	defer sb.Close()
	env := sb.Env()
	// Bitrix24 answers on the webhook URL it hands out, and refuses a wrong code.
	resp, err := http.Post(env["PAYSYNC_BITRIX24_WEBHOOK_URL"]+"crm.currency.list.json", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "AMD") {
		t.Fatalf("bitrix24: %d %s", resp.StatusCode, b)
	}
	resp, _ = http.Post(srv.URL+"/bitrix24/rest/1/wrongcode/crm.currency.list.json", "application/json", strings.NewReader("{}"))
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("wrong webhook code: %d", resp.StatusCode)
	}
	// VPOS refuses a missing bearer token.
	resp, _ = http.Post(env["PAYSYNC_VPOS_BASE_URL"]+"/v1/payment-sessions", "application/json", strings.NewReader("{}"))
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("vpos without token: %d", resp.StatusCode)
	}
	// ArCa answers register.do with an RBS error for bad credentials.
	resp, err = http.PostForm(env["PAYSYNC_ARCA_BASE_URL"]+"/register.do", url.Values{"userName": {"x"}, "password": {"y"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "errorCode") || strings.Contains(string(b), `"errorCode":0`) {
		t.Fatalf("arca bad credentials: %s", b)
	}
}
