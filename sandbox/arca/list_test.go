package arca_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	arca "github.com/paysync/paysync/sandbox/arca"
)

// TestLastOrdersIsStrict: getLastOrdersForMerchants.do checks the
// credentials and its parameters as RBS does, and lists by payment date in
// the gateway's zone; /_sandbox/bank-payments makes a payment no callback
// tells of.
func TestLastOrdersIsStrict(t *testing.T) {
	paid := time.Date(2026, 3, 10, 15, 0, 0, 0, arca.Yerevan)
	g := arca.New(arca.Options{CallbackKey: "-", Now: func() time.Time { return paid }})
	srv := httptest.NewServer(g)
	t.Cleanup(func() { srv.Close(); g.Close() })
	resp, err := http.Post(srv.URL+"/_sandbox/bank-payments?order=SHOP-9&amount=990000", "", nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("bank payment: %v %v", resp, err)
	}
	resp.Body.Close()
	list := func(change func(url.Values)) map[string]any {
		f := url.Values{"userName": {arca.DefaultUsername}, "password": {arca.DefaultPassword}, "size": {"200"}, "page": {"0"},
			"from": {"20260310000000"}, "to": {"20260310235959"}, "transactionStates": {"DEPOSITED,REFUNDED"}, "merchants": {""}, "searchByCreatedDate": {"false"}}
		change(f)
		resp, err := http.Post(srv.URL+arca.RESTPath+"/getLastOrdersForMerchants.do", "application/x-www-form-urlencoded", strings.NewReader(f.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return out
	}
	if got := list(func(url.Values) {}); got["totalCount"] != float64(1) || len(got["orderStatuses"].([]any)) != 1 {
		t.Fatalf("the day's list: %v, want SHOP-9", got)
	}
	for name, c := range map[string]struct {
		change func(url.Values)
		code   string
	}{
		"wrong password":      {func(f url.Values) { f.Set("password", "x") }, "5"},
		"size over 200":       {func(f url.Values) { f.Set("size", "500") }, "4"},
		"ISO date":            {func(f url.Values) { f.Set("from", "2026-03-10") }, "4"},
		"unknown state":       {func(f url.Values) { f.Set("transactionStates", "PAID") }, "4"},
		"no transactionState": {func(f url.Values) { f.Del("transactionStates") }, "4"},
	} {
		if got := list(c.change); got["errorCode"] != c.code {
			t.Errorf("%s: errorCode %v, want %s", name, got["errorCode"], c.code)
		}
	}
	// The day before, in Yerevan, lists nothing.
	if got := list(func(f url.Values) { f.Set("from", "20260309000000"); f.Set("to", "20260309235959") }); got["totalCount"] != float64(0) {
		t.Fatalf("the day before lists %v", got["totalCount"])
	}
}
