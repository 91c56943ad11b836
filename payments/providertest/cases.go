package providertest

import (
	"net/http"
	"strings"

	"github.com/paysync/paysync/core"
)

// testGenuine: a genuine payment moves the order to paid once, by the
// lookup where the provider confirms by lookup or sends nothing signed; a
// redelivery is a duplicate and moves nothing.
func testGenuine(s *suite) {
	o := s.order()
	s.h.Pay(s.t, o, o.AmountMinor, o.Currency, 2)
	got := s.status(o.ID, core.StatusPaid)
	s.settle()
	j := s.journal(o.ID)
	paid := paidEntries(j)
	if len(paid) != 1 {
		s.t.Fatalf("%d entries moved %s to paid, want 1: %v", len(paid), o.ID, s.verdicts(o.ID))
	}
	if paid[0].AmountMinor != o.AmountMinor || paid[0].Currency != o.Currency {
		s.t.Errorf("the payment is journaled as %d %s, want %d %s", paid[0].AmountMinor, paid[0].Currency, o.AmountMinor, o.Currency)
	}
	if byLookup := s.caps.LooksUp && (s.caps.ConfirmsByLookup || !s.f.Signed); byLookup && paid[0].Source != core.SourceLookup {
		s.t.Errorf("the payment moved the order from %s; %s orders move on what the status lookup says", paid[0].Source, s.p.Name())
	}
	if s.f.Signed && s.verdicts(o.ID)[core.VerdictDuplicate] == 0 {
		s.t.Errorf("the redelivered message was not journaled as a duplicate: %v", s.verdicts(o.ID))
	}
	if got.PaidAt == nil {
		s.t.Error("a paid order has no paid_at")
	}
	if got.Version < 2 {
		s.t.Errorf("order version %d after a payment", got.Version)
	}
}

// unchanged checks that o is still pending with nothing paid.
func (s *suite) unchanged(o core.Order, after string) {
	s.t.Helper()
	s.settle()
	got, _ := s.get(o.ID)
	if got.Status != core.StatusPending {
		s.t.Fatalf("after %s the order is %s, want pending (%v)", after, got.Status, s.verdicts(o.ID))
	}
	if paid := paidEntries(s.journal(o.ID)); len(paid) != 0 {
		s.t.Fatalf("after %s a payment was accepted: %+v", after, paid)
	}
}

// refused sends a request that must be refused: not taken, counted in the
// refusal records (for a provider that sends signed requests), and moving
// nothing.
func (s *suite) refused(o core.Order, what string, req *http.Request) {
	s.t.Helper()
	before := s.refusals()
	status, body := s.send(req)
	if s.taken(status, body) {
		s.t.Fatalf("a %s request was taken: %d %s", what, status, body)
	}
	if s.f.Signed {
		if _, ok := s.p.(core.Answerer); !ok && status/100 != 4 {
			s.t.Errorf("a %s request was answered %d, want a 4xx: %s", what, status, body)
		}
		if after := s.refusals(); after != before+1 {
			s.t.Errorf("a %s request was counted %d times in the refusal records, want once", what, after-before)
		}
	}
	s.unchanged(o, "a "+what+" request")
}

func testForged(s *suite) {
	o := s.order()
	req := s.h.Forge(s.t, o)
	if s.f.Signed {
		s.refused(o, "forged", req)
		return
	}
	// An unsigned provider's only inbound request is the buyer's return:
	// anyone can send it, so it may prompt a lookup, never decide.
	s.send(req)
	s.unchanged(o, "a forged return")
}

func testTampered(s *suite) {
	if !s.f.Signed {
		s.t.Log("the provider sends nothing signed: there is nothing to tamper with")
		return
	}
	o := s.order()
	s.refused(o, "tampered", s.h.Tamper(s.t, o))
}

func testReplayed(s *suite) {
	if !s.f.Timestamps {
		s.t.Log("the provider's requests carry no time: a replay is a duplicate, checked by Genuine")
		return
	}
	o := s.order()
	s.refused(o, "replayed", s.h.Replay(s.t, o))
}

// mismatch pays o in a way that does not settle it: the order goes to
// manual_review, or, for a provider that approves each payment, is left as
// it was (the payment is declined and the buyer not charged).
func (s *suite) mismatch(o core.Order, what string, pay func()) {
	s.t.Helper()
	pay()
	if s.caps.ApprovesPayments {
		s.unchanged(o, "a payment of "+what)
		return
	}
	got := s.status(o.ID, core.StatusManualReview)
	if got.Reason == "" {
		s.t.Errorf("the order is in manual_review without a reason")
	}
	if n := s.verdicts(o.ID)[core.VerdictAmountMismatch]; n != 1 {
		s.t.Errorf("a payment of %s journaled %d amount_mismatch entries, want 1: %v", what, n, s.verdicts(o.ID))
	}
}

func testAmountMismatch(s *suite) {
	o := s.order()
	s.mismatch(o, "another amount", func() { s.h.Pay(s.t, o, o.AmountMinor-10000, o.Currency, 1) })
}

func testCurrencyMismatch(s *suite) {
	if !s.f.ReportsCurrency {
		s.t.Log("the provider reports no currency")
		return
	}
	o := s.order()
	s.mismatch(o, "another currency", func() { s.h.Pay(s.t, o, o.AmountMinor, "USD", 1) })
}

// testUnknownOrder: money for an order paysync never created is never
// dropped: a new order in manual_review (or declined by a provider that
// approves each payment, so that nobody is charged for nothing).
func testUnknownOrder(s *suite) {
	if !s.f.UnknownOrders {
		s.t.Log("the provider only reports orders paysync created")
		return
	}
	id := "PT-UNKNOWN-" + strings.ToUpper(s.p.Name())
	s.h.PayUnknown(s.t, id, Price, "AMD")
	if s.caps.ApprovesPayments {
		s.settle()
		if o, ok := s.get(id); ok {
			s.t.Fatalf("a declined payment created order %s (%s)", id, o.Status)
		}
		return
	}
	got := s.status(id, core.StatusManualReview)
	if !got.Orphan {
		s.t.Errorf("the order money created is not marked as an orphan: %+v", got)
	}
	if n := s.verdicts(id)[core.VerdictOrphan]; n != 1 {
		s.t.Errorf("%d orphan entries, want 1: %v", n, s.verdicts(id))
	}
}

// testConfirmedByLookup: a provider confirmed by lookup moves an order only
// on what the lookup says, however genuine the message.
func testConfirmedByLookup(s *suite) {
	if !s.caps.ConfirmsByLookup {
		s.t.Log("the provider is not confirmed by lookup")
		return
	}
	o := s.order()
	s.h.Claim(s.t, o)
	s.eventually("the claim is journaled as unconfirmed", func() bool { return s.verdicts(o.ID)[core.VerdictUnconfirmed] > 0 })
	s.unchanged(o, "a claim the lookup does not confirm")
}

// testOddBytes: whatever bytes a provider sends are kept as sent (card data
// excepted: it is scrubbed before anything is stored), and do not stop a
// genuine payment.
func testOddBytes(s *suite) {
	o := s.order()
	sent := s.h.PayOddly(s.t, o)
	s.status(o.ID, core.StatusPaid)
	s.settle()
	want := sha(sent)
	for _, e := range s.journal(o.ID) {
		if e.PayloadSHA256 == want && e.PayloadSize == int64(len(sent)) {
			// Kept as received, but for card data scrubbed before storage
			// (the digest is of the bytes received).
			if want := core.ScrubCardData(sent); int64(len(e.Payload)) == e.PayloadSize && string(e.Payload) != string(want) {
				s.t.Fatalf("the kept bytes differ from those received (card data scrubbed):\n%q\n%q", e.Payload, want)
			}
			return
		}
	}
	s.t.Fatalf("no journal entry of %s keeps the %d bytes received (sha256 %s): %v", o.ID, len(sent), want, s.verdicts(o.ID))
}
