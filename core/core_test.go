package core_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
)

func TestTransitionTable(t *testing.T) {
	allowed := map[[2]core.Status]bool{
		{"pending", "paid"}: true, {"pending", "failed"}: true, {"pending", "expired"}: true, {"pending", "manual_review"}: true,
		{"pending", "partially_refunded"}: true, {"pending", "refunded"}: true,
		{"failed", "paid"}: true, {"failed", "expired"}: true, {"failed", "manual_review"}: true,
		{"failed", "partially_refunded"}: true, {"failed", "refunded"}: true,
		{"expired", "paid"}: true, {"expired", "manual_review"}: true, {"expired", "partially_refunded"}: true, {"expired", "refunded"}: true,
		{"manual_review", "paid"}: true, {"manual_review", "failed"}: true,
		{"manual_review", "partially_refunded"}: true, {"manual_review", "refunded"}: true,
		{"paid", "partially_refunded"}: true, {"paid", "refunded"}: true, {"paid", "manual_review"}: true,
		{"partially_refunded", "refunded"}: true, {"partially_refunded", "manual_review"}: true,
		{"refunded", "manual_review"}: true,
	}
	for _, from := range core.Statuses {
		for _, to := range core.Statuses {
			want := allowed[[2]core.Status{from, to}]
			if got := core.CanTransition(from, to); got != want {
				t.Errorf("%s -> %s: got %v want %v", from, to, got, want)
			}
			err := core.CheckTransition(from, to)
			if want != (err == nil) {
				t.Errorf("CheckTransition(%s, %s) = %v", from, to, err)
			}
			if err != nil && core.ErrorCode(err) != core.ECONFLICT {
				t.Errorf("refusal has code %q, want conflict", core.ErrorCode(err))
			}
		}
		if from.Terminal() {
			t.Errorf("%s is terminal: an anomaly or a person must still be able to move every order", from)
		}
	}
	if got := core.StatusNames(); got != "pending, paid, failed, expired, manual_review, partially_refunded, refunded" {
		t.Errorf("StatusNames() = %q", got)
	}
	for _, c := range []struct {
		refunded int64
		want     core.Status
	}{{0, "paid"}, {1, "partially_refunded"}, {999, "partially_refunded"}, {1000, "refunded"}} {
		if got := core.RefundStatus(c.refunded, 1000); got != c.want {
			t.Errorf("RefundStatus(%d, 1000) = %s, want %s", c.refunded, got, c.want)
		}
	}
}

func TestMoney(t *testing.T) {
	cases := []struct {
		minor int64
		cur   string
		want  string
	}{{1500000, "AMD", "15000.00"}, {5, "USD", "0.05"}, {-5, "EUR", "-0.05"}, {1234, "JPY", "1234"}, {1, "BHD", "0.001"}, {0, "RUB", "0.00"}}
	for _, c := range cases {
		if got := core.FormatDecimal(c.minor, c.cur); got != c.want {
			t.Errorf("FormatDecimal(%d, %s) = %s want %s", c.minor, c.cur, got, c.want)
		}
		if c.minor >= 0 {
			back, err := core.ParseDecimal(c.want, c.cur)
			if err != nil || back != c.minor {
				t.Errorf("ParseDecimal(%s) = %d, %v", c.want, back, err)
			}
		}
	}
	if _, err := core.ParseDecimal("1.234", "AMD"); err == nil {
		t.Error("three decimals accepted for AMD")
	}
	for _, bad := range []struct {
		n int64
		c string
	}{{-1, "AMD"}, {core.MaxAmountMinor + 1, "AMD"}, {100, "XXX"}, {100, "amdx"}} {
		if core.ErrorCode(core.ValidateMoney(bad.n, bad.c)) != core.EINVALID {
			t.Errorf("ValidateMoney(%d, %q) accepted", bad.n, bad.c)
		}
	}
	c, ok := core.LookupCurrency("051")
	if !ok || c.Code != "AMD" || c.Exponent != 2 {
		t.Errorf("numeric lookup: %+v %v", c, ok)
	}
}

func TestOrderValidateAndHash(t *testing.T) {
	o := core.Order{ID: "IG-1", AmountMinor: 100, Currency: "amd", Items: []core.Item{{Name: "x", Quantity: 1, PriceMinor: 100}}}
	if err := o.Validate(); err != nil || o.Currency != "AMD" {
		t.Fatalf("valid order refused: %v", err)
	}
	h := o.Hash()
	o2 := o
	o2.Customer.Name = "other"
	if o2.Hash() == h {
		t.Fatal("hash ignores the customer")
	}
	for name, mut := range map[string]func(*core.Order){
		"empty id":      func(o *core.Order) { o.ID = "" },
		"space in id":   func(o *core.Order) { o.ID = "a b" },
		"long id":       func(o *core.Order) { o.ID = string(make([]byte, 65)) },
		"zero amount":   func(o *core.Order) { o.AmountMinor = 0 },
		"negative":      func(o *core.Order) { o.AmountMinor = -1 },
		"currency":      func(o *core.Order) { o.Currency = "ZZZ" },
		"zero quantity": func(o *core.Order) { o.Items[0].Quantity = 0 },
	} {
		bad := o
		bad.Items = append([]core.Item(nil), o.Items...)
		mut(&bad)
		if core.ErrorCode(bad.Validate()) != core.EINVALID {
			t.Errorf("%s accepted", name)
		}
	}
}

func TestDecide(t *testing.T) {
	base := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration, precision time.Duration) core.EventTime {
		return core.NewEventTime(base.Add(d), precision)
	}
	order := func(st core.Status) *core.Order {
		// StatusChangedAt is after every event below: it must not matter.
		return &core.Order{ID: "O", Status: st, AmountMinor: 1000, Currency: "AMD", StatusChangedAt: base.Add(time.Hour)}
	}
	with := func(o *core.Order, f func(o *core.Order)) *core.Order { f(o); return o }
	paidAt := func(d time.Duration, precision time.Duration) func(o *core.Order) {
		return func(o *core.Order) {
			o.History.Latest = core.EventMark{EventID: "evt_paid", Status: core.StatusPaid, Time: at(d, precision)}
			o.History.Payment = o.History.Latest
		}
	}
	expiredAt := func(d time.Duration, precision time.Duration) func(o *core.Order) {
		return func(o *core.Order) {
			o.History.Latest = core.EventMark{EventID: "evt_exp", Status: core.StatusExpired, Time: at(d, precision)}
			o.History.Expiry = o.History.Latest
		}
	}
	refunded := func(n int64) func(o *core.Order) { return func(o *core.Order) { o.RefundedMinor = n } }
	ev := func(st core.Status, mut ...func(e *core.PaymentEvent)) func() core.PaymentEvent {
		return func() core.PaymentEvent {
			e := core.PaymentEvent{Provider: "vpos", EventID: "e", OrderID: "O", Status: st, AmountMinor: 1000, Currency: "AMD", OccurredAt: base.Add(time.Minute), Verified: true}
			for _, m := range mut {
				m(&e)
			}
			return e
		}
	}
	occurred := func(d time.Duration, precision time.Duration) func(e *core.PaymentEvent) {
		return func(e *core.PaymentEvent) { e.OccurredAt, e.Precision = base.Add(d), precision }
	}
	cumulative := func(n int64) func(e *core.PaymentEvent) { return func(e *core.PaymentEvent) { e.RefundedMinor = n } }
	declinable := func(e *core.PaymentEvent) { e.Declinable = true }
	single := func(n int64) func(e *core.PaymentEvent) { return func(e *core.PaymentEvent) { e.RefundMinor = n } }
	const ms, s = time.Millisecond, time.Second
	cases := []struct {
		name     string
		order    *core.Order
		ev       func() core.PaymentEvent
		verdict  core.Verdict
		to       core.Status
		refunded int64  // the refunds' total a moving decision carries
		reason   string // a part of the reason, when it matters
	}{
		{"paid", order("pending"), ev("paid"), core.VerdictAccepted, "paid", 0, ""},
		{"failed", order("pending"), ev("failed"), core.VerdictAccepted, "failed", 0, ""},
		{"failed long before the order was written", order("pending"), ev("failed", occurred(-time.Hour, s)), core.VerdictAccepted, "failed", 0, ""},
		{"retry after failure pays", order("failed"), ev("paid"), core.VerdictAccepted, "paid", 0, ""},
		{"already paid", with(order("paid"), paidAt(0, s)), ev("paid"), core.VerdictDuplicate, "", 0, ""},
		{"older failure after paid", with(order("paid"), paidAt(2*time.Minute, ms)), ev("failed"), core.VerdictStale, "", 0,
			"failed event at 2026-11-01T12:01:00Z is older than paid event evt_paid at 2026-11-01T12:02:00.000Z"},
		{"newer failure after paid", with(order("paid"), paidAt(0, ms)), ev("failed"), core.VerdictRefused, "", 0, "does not undo a payment"},
		{"failure in the payment's second", with(order("paid"), paidAt(time.Minute+483*ms, ms)), ev("failed", occurred(time.Minute, s)), core.VerdictRefused, "", 0, ""},
		{"failure a second before", with(order("expired"), expiredAt(time.Minute+483*ms, ms)), ev("failed", occurred(59*s, s)), core.VerdictStale, "", 0, "evt_exp"},
		{"failure after expiry", with(order("expired"), expiredAt(0, s)), ev("failed"), core.VerdictRefused, "", 0, "does not reopen"},
		{"unknown type", order("pending"), ev("", func(e *core.PaymentEvent) { e.Type = "session.viewed" }), core.VerdictIgnored, "", 0, ""},
		{"amount short", order("pending"), ev("paid", func(e *core.PaymentEvent) { e.AmountMinor = 999 }), core.VerdictAmountMismatch, "manual_review", 0, "paid 9.99 AMD, order is 10.00 AMD"},
		{"currency differs", order("pending"), ev("paid", func(e *core.PaymentEvent) { e.Currency = "USD" }), core.VerdictAmountMismatch, "manual_review", 0, ""},
		{"second payment of another amount", with(order("paid"), paidAt(0, s)), ev("paid", func(e *core.PaymentEvent) { e.AmountMinor = 500 }), core.VerdictAmountMismatch, "manual_review", 0, ""},
		{"orphan payment", nil, ev("paid"), core.VerdictOrphan, "manual_review", 0, ""},
		{"orphan failure ignored", nil, ev("failed"), core.VerdictIgnored, "", 0, ""},
		{"paid after expiry", with(order("expired"), expiredAt(0, s)), ev("paid"), core.VerdictNeedsReview, "manual_review", 0,
			"paid event e at 2026-11-01T12:01:00Z was not certainly made before expired event evt_exp at 2026-11-01T12:00:00Z"},
		{"paid before expiry, delivered late", with(order("expired"), expiredAt(2*time.Minute, s)), ev("paid"), core.VerdictAccepted, "paid", 0, "delivered after it"},
		{"paid in the expiry's second", with(order("expired"), expiredAt(time.Minute+500*ms, ms)), ev("paid", occurred(time.Minute, s)), core.VerdictNeedsReview, "manual_review", 0, ""},
		{"paid without a time after expiry", with(order("expired"), expiredAt(2*time.Minute, s)), ev("paid", func(e *core.PaymentEvent) { e.OccurredAt = time.Time{} }), core.VerdictNeedsReview, "manual_review", 0, ""},
		{"paid after an expiry of unknown time", order("expired"), ev("paid"), core.VerdictNeedsReview, "manual_review", 0, "at an unknown time"},
		{"paid while in review", order("manual_review"), ev("paid"), core.VerdictNeedsReview, "", 0, ""},
		{"expired by provider", order("pending"), ev("expired"), core.VerdictAccepted, "expired", 0, ""},
		{"expired after failure", order("failed"), ev("expired"), core.VerdictAccepted, "expired", 0, ""},
		{"expired twice", with(order("expired"), expiredAt(0, s)), ev("expired"), core.VerdictDuplicate, "", 0, ""},
		{"expired after paid", with(order("paid"), paidAt(0, s)), ev("expired"), core.VerdictRefused, "", 0, "paid before this expiry"},
		{"expired before paid", with(order("paid"), paidAt(2*time.Minute, s)), ev("expired"), core.VerdictNeedsReview, "manual_review", 0, "not certainly made before"},
		{"expired after a refunded payment", with(with(order("partially_refunded"), paidAt(0, s)), refunded(300)), ev("expired"), core.VerdictRefused, "", 0, ""},
		{"partial refund", order("paid"), ev("refunded", cumulative(400)), core.VerdictAccepted, "partially_refunded", 400, "refunded so far: 4.00 AMD of 10.00 AMD"},
		{"full refund", order("paid"), ev("refunded", cumulative(1000)), core.VerdictAccepted, "refunded", 1000, ""},
		{"refund without amount is whole", order("paid"), ev("refunded"), core.VerdictAccepted, "refunded", 1000, ""},
		{"partially_refunded event is a refund", order("paid"), ev("partially_refunded", cumulative(100)), core.VerdictAccepted, "partially_refunded", 100, ""},
		{"further running total", with(order("partially_refunded"), refunded(400)), ev("refunded", cumulative(600)), core.VerdictAccepted, "partially_refunded", 600, ""},
		{"running total reaches the amount", with(order("partially_refunded"), refunded(400)), ev("refunded", cumulative(1000)), core.VerdictAccepted, "refunded", 1000, ""},
		{"running total repeated", with(order("partially_refunded"), refunded(400)), ev("refunded", cumulative(400)), core.VerdictDuplicate, "", 0, "already recorded"},
		{"older running total", with(order("partially_refunded"), refunded(400)), ev("refunded", cumulative(300)), core.VerdictDuplicate, "", 0, ""},
		{"single refunds add up", with(order("partially_refunded"), refunded(400)), ev("refunded", single(300)), core.VerdictAccepted, "partially_refunded", 700, "refund of 3.00 AMD; refunded so far: 7.00 AMD of 10.00 AMD"},
		{"single refunds reach the amount", with(order("partially_refunded"), refunded(400)), ev("refunded", single(600)), core.VerdictAccepted, "refunded", 1000, ""},
		// Refunds above what was paid are recorded all the same, so that the
		// same refunds give the same total in any arrival order.
		{"single refund above what is left", with(order("partially_refunded"), refunded(400)), ev("refunded", single(700)), core.VerdictAmountMismatch, "manual_review", 1100,
			"refund of 7.00 AMD would bring the refunds to 11.00 AMD, more than the 10.00 AMD paid"},
		{"running total above the amount", order("paid"), ev("refunded", cumulative(4000)), core.VerdictAmountMismatch, "manual_review", 4000, "refunds reported as 40.00 AMD so far, more than the 10.00 AMD paid"},
		{"refund above the amount while in review", with(order("manual_review"), refunded(900)), ev("refunded", single(300)), core.VerdictNeedsReview, "manual_review", 1200, "more than the 10.00 AMD paid"},
		{"refund in another currency", with(order("partially_refunded"), refunded(400)), ev("refunded", cumulative(500), func(e *core.PaymentEvent) { e.Currency = "USD" }), core.VerdictAmountMismatch, "manual_review", 400,
			"refund in USD, but the order was paid in AMD"},
		{"refund of a refunded order", with(order("refunded"), refunded(1000)), ev("refunded", single(1)), core.VerdictAmountMismatch, "manual_review", 1001, ""},
		{"refund proves a missed payment", order("pending"), ev("refunded", cumulative(400)), core.VerdictAccepted, "partially_refunded", 400, "proves a payment"},
		{"refund of an expired order", with(order("expired"), expiredAt(0, s)), ev("refunded", single(1000)), core.VerdictAccepted, "refunded", 1000, ""},
		{"refund while in review is recorded", order("manual_review"), ev("refunded", cumulative(400)), core.VerdictNeedsReview, "manual_review", 400, ""},
		{"paid after refund", with(order("refunded"), refunded(1000)), ev("paid"), core.VerdictStale, "", 0, "already refunded"},
		// A provider that cancels what paysync declines (Idram) never has
		// money taken that does not settle the order cleanly.
		{"declinable paid", order("pending"), ev("paid", declinable), core.VerdictAccepted, "paid", 0, ""},
		{"declinable retry after failure", order("failed"), ev("paid", declinable), core.VerdictAccepted, "paid", 0, ""},
		{"declinable second payment", with(order("paid"), paidAt(0, s)), ev("paid", declinable), core.VerdictDeclined, "", 0, "order is already paid; declined"},
		{"declinable after expiry", with(order("expired"), expiredAt(0, s)), ev("paid", declinable), core.VerdictDeclined, "", 0, "was not certainly made before"},
		{"declinable before expiry, delivered late", with(order("expired"), expiredAt(2*time.Minute, s)), ev("paid", declinable), core.VerdictAccepted, "paid", 0, ""},
		{"declinable other amount", order("pending"), ev("paid", declinable, func(e *core.PaymentEvent) { e.AmountMinor = 999 }), core.VerdictDeclined, "", 0, "paid 9.99 AMD, order is 10.00 AMD"},
		{"declinable in review", order("manual_review"), ev("paid", declinable), core.VerdictDeclined, "", 0, "manual review"},
		{"declinable unknown order", nil, ev("paid", declinable), core.VerdictDeclined, "", 0, "unknown order"},
		{"declinable after refund", with(order("refunded"), refunded(1000)), ev("paid", declinable), core.VerdictDeclined, "", 0, "buyer is not charged"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := core.Decide(c.order, c.ev())
			if d.Verdict != c.verdict || d.To != c.to {
				t.Fatalf("got %s -> %q (%s), want %s -> %q", d.Verdict, d.To, d.Reason, c.verdict, c.to)
			}
			if d.To != "" && c.order != nil && d.To != c.order.Status && core.CheckTransition(c.order.Status, d.To) != nil {
				t.Fatalf("decision breaks the state machine: %s -> %s", c.order.Status, d.To)
			}
			if d.To != "" && c.order != nil && d.RefundedMinor != c.refunded {
				t.Fatalf("refunds total %d, want %d (%s)", d.RefundedMinor, c.refunded, d.Reason)
			}
			if !strings.Contains(d.Reason, c.reason) {
				t.Fatalf("reason %q does not say %q", d.Reason, c.reason)
			}
			if d.Verdict == core.VerdictDeclined && c.order != nil && !d.History.Equal(c.order.History) {
				t.Fatalf("a declined payment is remembered: %+v, was %+v", d.History, c.order.History)
			}
		})
	}
}

// TestPrecheck: a checkout that asks before taking the money is told yes
// only for a pending order of its own, unexpired, at exactly its price.
func TestPrecheck(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	later, earlier := now.Add(time.Hour), now.Add(-time.Second)
	order := func(mut ...func(o *core.Order)) *core.Order {
		o := &core.Order{ID: "IG-1", Status: core.StatusPending, AmountMinor: 190000, Currency: "AMD", Provider: "idram", ExpiresAt: &later}
		for _, m := range mut {
			m(o)
		}
		return o
	}
	ask := core.PaymentEvent{Provider: "idram", Type: core.EventPrecheck, OrderID: "IG-1", AmountMinor: 190000, Currency: "AMD"}
	if err := core.Precheck(order(), ask, now); err != nil {
		t.Fatalf("a pending order at its price: %v", err)
	}
	for name, c := range map[string]struct {
		o    *core.Order
		ev   func(e *core.PaymentEvent)
		code string
		says string
	}{
		"unknown":        {nil, nil, core.ENOTFOUND, "not known"},
		"paid":           {order(func(o *core.Order) { o.Status = core.StatusPaid }), nil, core.ECONFLICT, "is paid, not awaiting payment"},
		"failed":         {order(func(o *core.Order) { o.Status = core.StatusFailed }), nil, core.ECONFLICT, "not awaiting payment"},
		"expired":        {order(func(o *core.Order) { o.ExpiresAt = &earlier }), nil, core.ECONFLICT, "expired at"},
		"other price":    {order(), func(e *core.PaymentEvent) { e.AmountMinor = 190001 }, core.ECONFLICT, "costs 1900.00 AMD, not 1900.01 AMD"},
		"other money":    {order(), func(e *core.PaymentEvent) { e.Currency = "USD" }, core.ECONFLICT, "not 1900.00 USD"},
		"other provider": {order(func(o *core.Order) { o.Provider = "vpos" }), nil, core.ECONFLICT, "paid with vpos, not idram"},
	} {
		ev := ask
		if c.ev != nil {
			c.ev(&ev)
		}
		err := core.Precheck(c.o, ev, now)
		if core.ErrorCode(err) != c.code || !strings.Contains(core.ErrorMessage(err), c.says) {
			t.Errorf("%s: %v (%s), want %s saying %q", name, err, core.ErrorCode(err), c.code, c.says)
		}
	}
}

// TestDecideRemembers: an event that changes nothing a CRM shows is still
// remembered when a later event must be judged against it.
func TestDecideRemembers(t *testing.T) {
	base := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	o := &core.Order{ID: "O", Status: core.StatusPartiallyRefunded, AmountMinor: 1000, RefundedMinor: 400, Currency: "AMD"}
	// The payment arrives after the refund that implied it.
	d := core.Decide(o, core.PaymentEvent{EventID: "p", OrderID: "O", Status: core.StatusPaid, AmountMinor: 1000, Currency: "AMD", OccurredAt: base, Verified: true})
	if d.To != "" || d.History.Payment.EventID != "p" {
		t.Fatalf("payment after refund: %+v", d)
	}
	o.History = d.History
	// An expiry that began before it then needs a person.
	d = core.Decide(o, core.PaymentEvent{EventID: "x", OrderID: "O", Status: core.StatusExpired, OccurredAt: base.Add(-time.Minute), Verified: true})
	if d.Verdict != core.VerdictNeedsReview || d.To != core.StatusManualReview || !strings.Contains(d.Reason, "paid event p") {
		t.Fatalf("expiry before the remembered payment: %+v", d)
	}
	// The earliest expiry is the one remembered.
	o = &core.Order{ID: "O", Status: core.StatusExpired, AmountMinor: 1000, Currency: "AMD"}
	o.History.Expiry = core.EventMark{EventID: "x2", Status: core.StatusExpired, Time: core.NewEventTime(base, time.Second)}
	d = core.Decide(o, core.PaymentEvent{EventID: "x1", OrderID: "O", Status: core.StatusExpired, OccurredAt: base.Add(-time.Minute), Verified: true})
	if d.Verdict != core.VerdictDuplicate || d.History.Expiry.EventID != "x1" {
		t.Fatalf("earlier expiry: %+v", d)
	}
	d = core.Decide(o, core.PaymentEvent{EventID: "x3", OrderID: "O", Status: core.StatusExpired, OccurredAt: base.Add(time.Minute), Verified: true})
	if d.Verdict != core.VerdictDuplicate || !d.History.Equal(o.History) {
		t.Fatalf("later expiry changed the history: %+v", d)
	}
}

func TestErrors(t *testing.T) {
	inner := errors.New("pq: password authentication failed for secret")
	err := &core.Error{Code: core.EINTERNAL, Message: "database error", Err: inner}
	if core.ErrorMessage(err) != "internal error" {
		t.Fatalf("internal detail leaked: %q", core.ErrorMessage(err))
	}
	if core.ErrorCode(errors.New("x")) != core.EINTERNAL || core.ErrorCode(nil) != "" {
		t.Fatal("codes of plain errors")
	}
	nf := core.Errorf(core.ENOTFOUND, "order %s not found", "A")
	if core.ErrorMessage(nf) != "order A not found" || !errors.Is(&core.Error{Err: inner}, inner) {
		t.Fatal("message or unwrap")
	}
}

// BenchmarkDecide: the rules for one event against an order with a full
// payment history (a further partial refund, the commonest late event).
func BenchmarkDecide(b *testing.B) {
	at := time.Date(2026, 3, 1, 15, 7, 20, 0, time.UTC)
	o := &core.Order{ID: "O", Status: core.StatusPartiallyRefunded, AmountMinor: 990000, RefundedMinor: 330000, Currency: "AMD"}
	o.History.Latest = core.EventMark{EventID: "r1", Status: core.StatusRefunded, Time: core.NewEventTime(at, time.Second)}
	o.History.Payment = core.EventMark{EventID: "p1", Status: core.StatusPaid, Time: core.NewEventTime(at.Add(-time.Hour), time.Millisecond)}
	ev := core.PaymentEvent{EventID: "r2", OrderID: "O", Status: core.StatusRefunded, RefundedMinor: 660000, Currency: "AMD",
		OccurredAt: at.Add(time.Minute), Precision: time.Second, Verified: true}
	b.ReportAllocs()
	for b.Loop() {
		if d := core.Decide(o, ev); d.To != core.StatusPartiallyRefunded {
			b.Fatal(d)
		}
	}
}

// A provider whose answer leaves a payment unclear asks for a person
// (ReviewReason, issue 24): the order goes to manual_review with the reason,
// from any status, and stays there whatever comes after.
func TestReviewRequestedByProvider(t *testing.T) {
	for _, from := range []core.Status{core.StatusPending, core.StatusPaid, core.StatusPartiallyRefunded, core.StatusRefunded} {
		o := &core.Order{ID: "R-1", Status: from, AmountMinor: 1000, Currency: "AMD"}
		ev := core.PaymentEvent{Provider: "arca", OrderID: "R-1", Status: core.StatusManualReview, Verified: true,
			ReviewReason: "ArCa says the order is refunded but not how much"}
		d := core.Decide(o, ev)
		if d.Verdict != core.VerdictNeedsReview || d.To != core.StatusManualReview || d.Reason != ev.ReviewReason {
			t.Errorf("from %s: %+v", from, d)
		}
	}
	o := &core.Order{ID: "R-1", Status: core.StatusManualReview, AmountMinor: 1000, Currency: "AMD"}
	if d := core.Decide(o, core.PaymentEvent{Status: core.StatusManualReview, ReviewReason: "again"}); d.Verdict != core.VerdictNeedsReview || d.To != "" {
		t.Errorf("in review already: %+v", d)
	}
	if d := core.Decide(&core.Order{ID: "R-1", Status: core.StatusPaid}, core.PaymentEvent{Status: core.StatusManualReview}); d.Verdict != core.VerdictIgnored {
		t.Errorf("a manual_review event without a reason: %+v", d)
	}
}
