package payments_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	arcasandbox "github.com/paysync/paysync/sandbox/arca"
	"github.com/paysync/paysync/storage/testdb"
)

// TestProviderStringsBounded: every provider's strings are bounded at
// intake the same way; a signed event with one too long is refused (400)
// naming the field, and the order does not move.
func TestProviderStringsBounded(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		t.Parallel()
		h := newHarness(t, dialect, harnessOptions{vposConfirmOff: true})
		h.order("BND-1", 1000, "")
		huge := strings.Repeat("r", 200<<10)
		generic := func(field, value string) string {
			ev := map[string]string{"event_id": "bnd-" + field, "order_id": "BND-1", "status": "paid", "provider_ref": "pi_1"}
			ev[field] = value
			return `{"event_id":"` + ev["event_id"] + `","order_id":"` + ev["order_id"] + `","status":"` + ev["status"] +
				`","amount_minor":1000,"currency":"AMD","provider_ref":"` + ev["provider_ref"] + `"}`
		}
		vposBody := func(ref, typ string) string {
			return `{"type":"` + typ + `","data":{"merchantOrderId":"BND-1","amountMinor":1000,"currency":"AMD","status":"paid","id":"` + ref + `"}}`
		}
		arcaReq := func(md, op string) string {
			p := url.Values{"mdOrder": {md}, "orderNumber": {"BND-1"}, "operation": {op}, "status": {"1"}, "amount": {"1000"}}
			p.Set("checksum", arcasandbox.Checksum(p, h.arca.CallbackKey()))
			return p.Encode()
		}
		cases := []struct {
			name, field string
			answer      answer
		}{
			{"generic provider_ref", "provider_ref is 204800 bytes long; at most 128", h.do(h.signedRequest(genericSecret, h.id("m"), time.Now(), []byte(generic("provider_ref", huge))))},
			{"generic event_id", "event_id is 300 bytes long; at most 255", h.do(h.signedRequest(genericSecret, h.id("m"), time.Now(), []byte(generic("event_id", strings.Repeat("e", 300)))))},
			{"generic status", "event type is 200 bytes long; at most 64", h.do(h.signedRequest(genericSecret, h.id("m"), time.Now(), []byte(generic("status", strings.Repeat("s", 200)))))},
			{"vpos provider_ref", "provider_ref is 204800 bytes long; at most 128", h.do(h.vposRequest(h.id("v"), []byte(vposBody(huge, "payment.succeeded"))))},
			{"vpos event type", "event type is 100 bytes long; at most 64", h.do(h.vposRequest(h.id("v"), []byte(vposBody("sess_1", strings.Repeat("t", 100)))))},
			{"arca mdOrder", "provider_ref is 200 bytes long; at most 128", h.do(h.form("/webhooks/arca", arcaReq(strings.Repeat("m", 200), "deposited")))},
			{"arca operation", "event type is 65 bytes long; at most 64", h.do(h.form("/webhooks/arca", arcaReq("md-1", strings.Repeat("o", 65))))},
		}
		for _, c := range cases {
			if c.answer.status != 400 || !strings.Contains(c.answer.body, c.field) {
				t.Errorf("%s: %d %s, want 400 naming %q", c.name, c.answer.status, c.answer.body, c.field)
			}
		}
		if o := h.get("BND-1"); o.Status != core.StatusPending || o.Version != 1 {
			t.Fatalf("an over-long event moved the order: %s v%d", o.Status, o.Version)
		}
		if n := h.countVerdict(core.VerdictMalformed); n != len(cases) {
			t.Fatalf("%d malformed requests recorded, want %d", n, len(cases))
		}
		// At the bounds, the event is recorded.
		expect(t, h.do(h.signedRequest(genericSecret, h.id("m"), time.Now(), []byte(generic("provider_ref", strings.Repeat("r", core.MaxProviderRefLen))))), 200, core.VerdictAccepted)
	})
}
