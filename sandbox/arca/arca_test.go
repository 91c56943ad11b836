package arca_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paysync/paysync/providers/arca"
	arcasandbox "github.com/paysync/paysync/sandbox/arca"
)

type hits struct {
	mu     sync.Mutex
	method []string
	params []url.Values
}

func setup(t *testing.T, method string) (*arcasandbox.Gateway, string, *hits) {
	t.Helper()
	h := &hits{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		h.mu.Lock()
		h.method = append(h.method, r.Method)
		h.params = append(h.params, r.Form)
		h.mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	g := arcasandbox.New(arcasandbox.Options{CallbackURL: hook.URL, CallbackMethod: method, CallbackRetryDelay: time.Millisecond})
	srv := httptest.NewServer(g)
	t.Cleanup(func() { g.Close(); srv.Close() })
	return g, srv.URL, h
}

func rest(t *testing.T, base, method string, form url.Values) map[string]any {
	t.Helper()
	resp, err := http.PostForm(base+arcasandbox.RESTPath+"/"+method, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func creds(extra url.Values) url.Values {
	v := url.Values{"userName": {arcasandbox.DefaultUsername}, "password": {arcasandbox.DefaultPassword}}
	for k, vs := range extra {
		v[k] = vs
	}
	return v
}

func TestRegisterStatusCallbacks(t *testing.T) {
	for _, method := range []string{"GET", "POST"} {
		t.Run(method, func(t *testing.T) {
			g, base, h := setup(t, method)
			reg := url.Values{"orderNumber": {"89312"}, "amount": {"1500"}, "currency": {"051"}, "returnUrl": {"https://shop/r"}}
			if m := rest(t, base, "register.do", url.Values{"userName": {"x"}, "password": {"y"}}); m["errorCode"] != "5" {
				t.Fatalf("bad credentials: %v", m)
			}
			m := rest(t, base, "register.do", creds(reg))
			md, _ := m["orderId"].(string)
			if md == "" || !strings.Contains(m["formUrl"].(string), "mdOrder="+md) {
				t.Fatalf("register: %v", m)
			}
			if m := rest(t, base, "register.do", creds(reg)); m["errorCode"] != "1" {
				t.Fatalf("duplicate number: %v", m)
			}
			if m := rest(t, base, "getOrderStatusExtended.do", creds(url.Values{"orderId": {md}})); m["orderStatus"] != float64(0) {
				t.Fatalf("status: %v", m)
			}
			resp, _ := http.Post(base+"/_sandbox/orders/89312/pay", "", nil)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("pay: %d", resp.StatusCode)
			}
			g.WaitCallbacks() // callbacks are asynchronous: keep their order for the checks below
			m = rest(t, base, "getOrderStatusExtended.do", creds(url.Values{"orderNumber": {"89312"}}))
			info := m["paymentAmountInfo"].(map[string]any)
			if m["orderStatus"] != float64(2) || info["depositedAmount"] != float64(1500) {
				t.Fatalf("after pay: %v", m)
			}
			g.Refund("89312", 500)
			g.WaitCallbacks()
			h.mu.Lock()
			defer h.mu.Unlock()
			if len(h.params) != 2 {
				t.Fatalf("%d callbacks", len(h.params))
			}
			for i, p := range h.params {
				if h.method[i] != method {
					t.Fatalf("callback method %s", h.method[i])
				}
				flat := map[string]string{}
				for k := range p {
					flat[k] = p.Get(k)
				}
				if p.Get("checksum") != arca.Checksum(flat, []byte(arcasandbox.DefaultCallbackKey)) {
					t.Fatalf("callback %d checksum does not verify: %v", i, p)
				}
			}
			if h.params[0].Get("operation") != "deposited" || h.params[1].Get("operation") != "refunded" || h.params[1].Get("amount") != "500" {
				t.Fatalf("callbacks %v", h.params)
			}
		})
	}
}

func TestFaultsAndPages(t *testing.T) {
	g, base, h := setup(t, "GET")
	reg := creds(url.Values{"orderNumber": {"A-1"}, "amount": {"1000"}, "returnUrl": {"https://shop/r?o=A-1"}})
	resp, _ := http.Post(base+"/_sandbox/faults", "application/json", strings.NewReader(`{"error_next":1,"fail_next":1,"status":502}`))
	resp.Body.Close()
	r2, _ := http.PostForm(base+arcasandbox.RESTPath+"/register.do", reg)
	r2.Body.Close()
	if r2.StatusCode != 502 {
		t.Fatalf("502: %d", r2.StatusCode)
	}
	if m := rest(t, base, "register.do", reg); m["errorCode"] != "7" {
		t.Fatalf("system error: %v", m)
	}
	m := rest(t, base, "register.do", reg)
	page, err := http.Get(m["formUrl"].(string))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(page.Body)
	page.Body.Close()
	if !strings.Contains(string(b), "A-1") {
		t.Fatal("payment page")
	}
	// The page's pay button redirects to the return URL with orderId.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	r3, _ := client.Post(base+"/_sandbox/orders/A-1/pay?redirect=1", "", nil)
	r3.Body.Close()
	if loc := r3.Header.Get("Location"); !strings.HasPrefix(loc, "https://shop/r?o=A-1&orderId=") {
		t.Fatalf("redirect %q", loc)
	}
	g.DropCallbacks(1)
	g.WaitCallbacks()
	if err := g.Reverse("A-1"); err != nil {
		t.Fatal(err)
	}
	g.WaitCallbacks()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.params) != 1 || h.params[0].Get("operation") != "deposited" {
		// The deposit callback was sent before DropCallbacks; the reversal was dropped.
		t.Fatalf("callbacks %v", h.params)
	}
	if o, _ := g.Order("A-1"); o.Status != arcasandbox.OrderReversed {
		t.Fatalf("order %+v", o)
	}
}
