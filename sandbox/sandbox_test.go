package sandbox_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/sandbox"
	_ "github.com/paysync/paysync/sandbox/all"
	"github.com/paysync/paysync/sandbox/chaos"
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

// TestChaosSwitch: POST /_sandbox/chaos makes every CRM double fail as the
// profile says, each with its own CRM's answer; DELETE stops it; GET counts
// what was injected.
func TestChaosSwitch(t *testing.T) {
	var sb *sandbox.Sandbox
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { sb.ServeHTTP(w, r) }))
	defer srv.Close()
	sb = sandbox.New(sandbox.Options{BaseURL: srv.URL, Dir: t.TempDir()})
	defer sb.Close()
	env := sb.Env()
	bitrix := func() (int, string) {
		resp, err := http.Post(env["PAYSYNC_BITRIX24_WEBHOOK_URL"]+"crm.currency.list.json", "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	amo := func() int {
		req, _ := http.NewRequest(http.MethodGet, env["PAYSYNC_AMOCRM_BASE_URL"]+"/api/v4/account", nil)
		req.Header.Set("Authorization", "Bearer "+env["PAYSYNC_AMOCRM_ACCESS_TOKEN"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	post := func(method, body string) string {
		req, _ := http.NewRequest(method, srv.URL+"/_sandbox/chaos", strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s /_sandbox/chaos %s: %d %s", method, body, resp.StatusCode, b)
		}
		return string(b)
	}

	post(http.MethodPost, `{"seed":1,"server_errors":1,"timeouts":0,"lost_answers":0,"bursts":0}`)
	if code, body := bitrix(); code != 500 || !strings.Contains(body, "INTERNAL_SERVER_ERROR") {
		t.Fatalf("bitrix24 under server_errors 1: %d %s", code, body)
	}
	if code := amo(); code != 502 {
		t.Fatalf("amoCRM under server_errors 1: %d", code)
	}
	post(http.MethodPost, `{"seed":1,"server_errors":0,"timeouts":0,"lost_answers":0,"bursts":1}`)
	if code, body := bitrix(); code != 503 || !strings.Contains(body, "QUERY_LIMIT_EXCEEDED") {
		t.Fatalf("bitrix24 in a burst: %d %s", code, body)
	}
	if code := amo(); code != 429 {
		t.Fatalf("amoCRM in a burst: %d", code)
	}
	got := post(http.MethodDelete, "")
	if code, _ := bitrix(); code != 200 {
		t.Fatalf("bitrix24 after DELETE: %d", code)
	}
	if code := amo(); code != 200 {
		t.Fatalf("amoCRM after DELETE: %d", code)
	}
	var out struct {
		Profile  any                       `json:"profile"`
		Injected map[string]map[string]int `json:"injected"`
	}
	if err := json.Unmarshal([]byte(got), &out); err != nil {
		t.Fatal(err)
	}
	if out.Profile != nil || out.Injected["bitrix24"]["server_errors"] != 1 || out.Injected["bitrix24"]["rate_limited"] != 1 ||
		out.Injected["amocrm"]["server_errors"] != 1 || out.Injected["amocrm"]["rate_limited"] != 1 {
		t.Fatalf("GET after DELETE: %s", got)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/_sandbox/chaos", strings.NewReader(`{"server_errors":2}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("a share above 1: %d", resp.StatusCode)
	}
}

// TestLostAnswerStillStored: a write whose answer the chaos profile loses
// is stored, and Records lists it with its stage history.
func TestLostAnswerStillStored(t *testing.T) {
	var sb *sandbox.Sandbox
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { sb.ServeHTTP(w, r) }))
	defer srv.Close()
	sb = sandbox.New(sandbox.Options{BaseURL: srv.URL, Dir: t.TempDir()})
	defer sb.Close()
	sb.SetChaos(&chaos.Profile{Seed: 5, LostAnswers: 1})
	client := &http.Client{Timeout: time.Second} // a lost answer may hang
	form := url.Values{"fields[TITLE]": {"Order LOST-1"}, "fields[ORIGINATOR_ID]": {"paysync"}, "fields[ORIGIN_ID]": {"LOST-1"},
		"fields[STAGE_ID]": {"PREPAYMENT_INVOICE"}, "fields[UF_CRM_PAYMENT_STATUS]": {"101"}}
	resp, err := client.PostForm(sb.Env()["PAYSYNC_BITRIX24_WEBHOOK_URL"]+"crm.deal.add.json", form)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("the answer was not lost")
		}
	}
	recs := sb.CRMs["bitrix24"].Records()
	if len(recs) != 1 || recs[0].OrderID != "LOST-1" || recs[0].Stage != "PREPAYMENT_INVOICE" || recs[0].Status != core.StatusPending ||
		len(recs[0].Stages) != 1 {
		t.Fatalf("records after a lost answer: %+v", recs)
	}
	if s := sb.ChaosStats()["bitrix24"]; s.LostAnswers != 1 {
		t.Fatalf("bitrix24 chaos stats %+v", s)
	}
}
