package ameria

import (
	"bytes"
	"encoding/json"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/paysync/paysync/core"
)

// vendorExample reads one of testdata/*.json (see testdata/README.md).
func vendorExample(t *testing.T, name string) map[string]json.RawMessage {
	t.Helper()
	raw, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if !bytes.Contains(m["source"], []byte("ameria")) && !bytes.Contains(m["source"], []byte("Ameria")) {
		t.Fatalf("%s does not name its source", name)
	}
	return m
}

// jsonKeys lists an object's keys in the order written.
func jsonKeys(t *testing.T, raw []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	var keys []string
	dec.Token() // {
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// TestVendorExamples: paysync reads the bank's own samples, and its
// InitPayment request uses the bank's field names in the bank's order.
func TestVendorExamples(t *testing.T) {
	t.Run("InitPayment", func(t *testing.T) {
		ex := vendorExample(t, "initpayment.json")
		var a initPaymentAnswer
		if err := json.Unmarshal(ex["response"], &a); err != nil || a.PaymentID != "sample string 1" || a.ResponseCode != "2" {
			t.Fatalf("answer %+v %v", a, err)
		}
		// Our request's fields are the Help page's, in its order (the two
		// paysync leaves out are for card binding and an undocumented type).
		var help []string
		for _, k := range jsonKeys(t, ex["request"]) {
			if k != "CardHolderID" && k != "PaymentServiceType" {
				help = append(help, k)
			}
		}
		p := newProvider(t, Options{ClientID: "c", Username: "u", Password: "p", OrderIDs: Range{1, 9}, BackURL: "https://pay.example.am/webhooks/ameria/return"})
		body, err := p.initPaymentBody(core.Order{ID: "IG-1", AmountMinor: 1000, Currency: "AMD"}, 3)
		if err != nil {
			t.Fatal(err)
		}
		if got := jsonKeys(t, body); strings.Join(got, ",") != strings.Join(help, ",") {
			t.Fatalf("request fields %v, the bank's %v", got, help)
		}
		// The sample's Amount (2.0) and OrderID (3) are numbers; so are ours.
		var req, ours map[string]any
		json.Unmarshal(ex["request"], &req)
		json.Unmarshal(body, &ours)
		for _, k := range []string{"Amount", "OrderID", "Timeout"} {
			if _, ok := req[k].(float64); !ok {
				t.Fatalf("the sample's %s is %T", k, req[k])
			}
			if _, ok := ours[k].(float64); !ok {
				t.Fatalf("our %s is %T", k, ours[k])
			}
		}
	})
	t.Run("GetPaymentDetails", func(t *testing.T) {
		ex := vendorExample(t, "getpaymentdetails.json")
		var d Details
		if err := json.Unmarshal(ex["response"], &d); err != nil {
			t.Fatal(err)
		}
		approved, err1 := d.ApprovedAmount.minor(2)
		refunded, err2 := d.RefundedAmount.minor(2)
		if err1 != nil || err2 != nil || approved != 200 || refunded != 2300 || d.ResponseCode != "sample string 17" || d.OrderID != "sample string 14" {
			t.Fatalf("details %+v (%d, %d)", d, approved, refunded)
		}
		// Its placeholders are no state: refused, not guessed.
		if _, err := EventFromDetails(&d, core.Order{ID: "IG-1"}); core.ErrorCode(err) != core.EUNAVAILABLE {
			t.Fatalf("placeholder state: %v", err)
		}
		var m map[string]json.RawMessage
		json.Unmarshal(ex["response"], &m)
		for _, k := range []string{"OrderID", "OrderStatus", "PaymentState", "ResponseCode", "Currency", "DateTime"} {
			var s string
			if json.Unmarshal(m[k], &s) != nil {
				t.Errorf("%s is not a string in the sample", k)
			}
		}
	})
	t.Run("GetPaymentId", func(t *testing.T) {
		ex := vendorExample(t, "getpaymentid.json")
		var a paymentIDAnswer
		if err := json.Unmarshal(ex["response"], &a); err != nil || a.PaymentID != "sample string 1" || a.ResponseCode != "sample string 3" {
			t.Fatalf("answer %+v %v", a, err)
		}
		if !bytes.Contains(ex["response"], []byte(`"PaymentId"`)) {
			t.Fatal("the sample spells PaymentId otherwise")
		}
	})
	t.Run("fault", func(t *testing.T) {
		ex := vendorExample(t, "getpaymentdetails-fault.json")
		var f fault
		if err := json.Unmarshal(ex["response"], &f); err != nil || f.Message == nil || *f.Message != "An error has occurred." {
			t.Fatalf("fault %+v %v", f, err)
		}
		var d Details
		if json.Unmarshal(ex["response"], &d); d.ResponseCode != "" {
			t.Fatal("a fault read as details")
		}
		p := newProvider(t, Options{ClientID: "c", Username: "u", Password: "p", OrderIDs: Range{1, 9}, BackURL: "https://x/r"})
		if err := p.unreadable(500, ex["response"], "look up order IG-1"); !strings.Contains(core.ErrorMessage(err), "HTTP 500") {
			t.Fatalf("fault message: %v", err)
		}
	})
	t.Run("BackURL", func(t *testing.T) {
		ex := vendorExample(t, "backurl-callback.json")
		var example string
		json.Unmarshal(ex["example_reconstructed"], &example)
		_, query, _ := strings.Cut(example, "?")
		query = strings.NewReplacer("<OrderID>", "2350301", "<lowercase GUID>", "0f8fad5b-d9cb-469f-a165-70867728950e", "<Opaque>", "IG-1001").Replace(query)
		q, err := url.ParseQuery(query)
		if err != nil {
			t.Fatal(err)
		}
		p := newProvider(t, Options{ClientID: "c", Username: "u", Password: "p", OrderIDs: Range{1, 9}, BackURL: "https://x/r"})
		if got := p.ReturnOrderID(q); got != "IG-1001" {
			t.Fatalf("order of the example return: %q", got)
		}
	})
}
