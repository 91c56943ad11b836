package arca_test

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	arcasandbox "github.com/paysync/paysync/sandbox/arca"
)

// What getOrderStatusExtended answers depends on the version set for the
// merchant: version 1 has no paymentAmountInfo, so a partial refund shows
// only as orderStatus 4.
func TestStatusVersions(t *testing.T) {
	g, base, _ := setup(t, "GET")
	reg := rest(t, base, "register.do", creds(url.Values{"orderNumber": {"V-1"}, "amount": {"150000"}, "returnUrl": {"https://x/r"}}))
	if reg["errorCode"] != nil && reg["errorCode"] != "0" {
		t.Fatalf("register: %v", reg)
	}
	if err := g.Pay("V-1"); err != nil {
		t.Fatal(err)
	}
	if err := g.Refund("V-1", 50000); err != nil {
		t.Fatal(err)
	}
	st := rest(t, base, "getOrderStatusExtended.do", creds(url.Values{"orderNumber": {"V-1"}}))
	info, _ := st["paymentAmountInfo"].(map[string]any)
	if st["orderStatus"] != float64(4) || info["refundedAmount"] != float64(50000) || info["depositedAmount"] != float64(150000) {
		t.Fatalf("version 2: %v", st)
	}
	g.SetStatusVersion(1)
	st = rest(t, base, "getOrderStatusExtended.do", creds(url.Values{"orderNumber": {"V-1"}}))
	if _, has := st["paymentAmountInfo"]; has || st["orderStatus"] != float64(4) || st["amount"] != float64(150000) {
		t.Fatalf("version 1: %v", st)
	}
}

// RSA-signed callbacks verify with the certificate of the gateway's key:
// RSA with SHA-512 over the same string the HMAC checksum signs.
func TestRSASignedCallbacks(t *testing.T) {
	var mu sync.Mutex
	var got url.Values
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		mu.Lock()
		got = r.Form
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	g := arcasandbox.New(arcasandbox.Options{CallbackURL: hook.URL, RSASigned: true, CallbackRetryDelay: time.Millisecond})
	srv := httptest.NewServer(g)
	t.Cleanup(func() { g.Close(); srv.Close() })
	rest(t, srv.URL, "register.do", creds(url.Values{"orderNumber": {"RSA-1"}, "amount": {"150000"}, "returnUrl": {"https://x/r"}}))
	if err := g.Pay("RSA-1"); err != nil {
		t.Fatal(err)
	}
	g.WaitCallbacks()
	mu.Lock()
	defer mu.Unlock()
	block, _ := pem.Decode(g.CertificatePEM())
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range got {
		if n != "checksum" && n != "sign_alias" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n + ";" + got.Get(n) + ";")
	}
	sig, err := hex.DecodeString(got.Get("checksum"))
	sum := sha512.Sum512([]byte(b.String()))
	if err != nil || rsa.VerifyPKCS1v15(cert.PublicKey.(*rsa.PublicKey), crypto.SHA512, sum[:], sig) != nil {
		t.Fatalf("callback %v does not verify with the gateway's certificate", got)
	}
}

// register.do takes order numbers of at most 32 characters.
func TestLongOrderNumberRefused(t *testing.T) {
	_, base, _ := setup(t, "GET")
	long := strings.Repeat("N", arcasandbox.MaxOrderNumber+1)
	if reg := rest(t, base, "register.do", creds(url.Values{"orderNumber": {long}, "amount": {"100"}, "returnUrl": {"https://x/r"}})); reg["errorCode"] != "4" {
		t.Fatalf("a 33-character order number: %v", reg)
	}
	if reg := rest(t, base, "register.do", creds(url.Values{"orderNumber": {long[1:]}, "amount": {"100"}, "returnUrl": {"https://x/r"}})); reg["orderId"] == nil {
		t.Fatalf("a 32-character order number: %v", reg)
	}
}
