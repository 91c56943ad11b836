package payments_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/storage/testdb"
)

// TestNoCardDataAtRest is issue 22, item 4: a backend that sends a card
// number, its CVV and expiry in a signed webhook, or in a request paysync
// refuses, used to have them stored and shown by the API exactly as
// received. Now the journal and the refusal records keep them masked, with
// the size and digest of what was received.
func TestNoCardDataAtRest(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		t.Parallel()
		h := newHarness(t, dialect, harnessOptions{})
		h.order("CARD-1", 1500000, "")
		body := []byte(`{"event_id":"card-1","order_id":"CARD-1","status":"paid","amount_minor":1500000,"currency":"AMD",` +
			`"provider_ref":"pi_1","card":{"number":"4111 1111 1111 1111","cvv":"123","exp_month":12,"exp_year":2026},"note":"paid by 5555555555554444"}`)
		expect(t, h.do(h.signedRequest(genericSecret, "card-1", time.Now(), body)), 200, core.VerdictAccepted)
		sum := sha256.Sum256(body)
		e := h.journal("CARD-1")[1]
		noCardData(t, "the journal", e.Payload)
		if e.PayloadSize != int64(len(body)) || e.PayloadSHA256 != hex.EncodeToString(sum[:]) ||
			!bytes.Contains(e.Payload, []byte(`"number":"4111 11** **** 1111"`)) || !bytes.Contains(e.Payload, []byte(`"event_id":"card-1"`)) {
			t.Fatalf("journal keeps %s (%d bytes, digest %s), want it masked with the size and digest of what came", e.Payload, e.PayloadSize, e.PayloadSHA256)
		}
		// Refused: a forged request with a card number in it.
		forged := h.signedRequest("whsec_Zm9yZ2VkLWZvcmdlZC1mb3JnZWQtZm9yZ2Vk", "card-2", time.Now(), body)
		if a := h.do(forged); a.status != 401 {
			t.Fatalf("forged: %d", a.status)
		}
		// And an ArCa callback whose bad value is quoted in the reason.
		if a := h.do(h.form("/webhooks/arca", "mdOrder=m&orderNumber=CARD-1&operation=deposited&status=4111111111111111&checksum=00")); a.status != 401 && a.status != 400 {
			t.Fatalf("callback: %d", a.status)
		}
		if err := h.svc.FlushRefusals(context.Background()); err != nil {
			t.Fatal(err)
		}
		rs, _ := h.db.ListRefusals(context.Background(), 10)
		if len(rs) == 0 {
			t.Fatal("no refusal recorded")
		}
		for _, r := range rs {
			noCardData(t, "a refusal sample", r.Sample)
			noCardData(t, "a refusal reason", []byte(r.Reason+r.LastReason))
		}
	})
}

func noCardData(t *testing.T, where string, kept []byte) {
	t.Helper()
	for _, secret := range []string{"1111 1111 1111", "555555555555", `"cvv":"123"`, `"exp_month":12`, "2026}", "1111111111"} {
		if strings.Contains(string(kept), secret) {
			t.Fatalf("%s keeps %q: %s", where, secret, kept)
		}
	}
}
