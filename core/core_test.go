package core_test

import (
	"errors"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
)

func TestTransitionTable(t *testing.T) {
	allowed := map[[2]core.Status]bool{
		{"pending", "paid"}: true, {"pending", "failed"}: true, {"pending", "expired"}: true, {"pending", "manual_review"}: true,
		{"failed", "paid"}: true, {"failed", "expired"}: true, {"failed", "manual_review"}: true,
		{"expired", "manual_review"}: true,
		{"manual_review", "paid"}:    true, {"manual_review", "failed"}: true,
		{"paid", "refunded"}: true,
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
	}
	if !core.StatusRefunded.Terminal() || core.StatusPaid.Terminal() {
		t.Error("terminal statuses wrong")
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
	order := func(st core.Status) *core.Order {
		return &core.Order{ID: "O", Status: st, AmountMinor: 1000, Currency: "AMD", StatusChangedAt: base, RefundedMinor: 0}
	}
	ev := func(st core.Status) core.PaymentEvent {
		return core.PaymentEvent{Provider: "vpos", EventID: "e", OrderID: "O", Status: st, AmountMinor: 1000, Currency: "AMD", OccurredAt: base.Add(time.Minute), Verified: true}
	}
	cases := []struct {
		name    string
		order   *core.Order
		ev      func() core.PaymentEvent
		verdict core.Verdict
		to      core.Status
	}{
		{"paid", order("pending"), func() core.PaymentEvent { return ev("paid") }, core.VerdictAccepted, "paid"},
		{"failed", order("pending"), func() core.PaymentEvent { return ev("failed") }, core.VerdictAccepted, "failed"},
		{"retry after failure pays", order("failed"), func() core.PaymentEvent { return ev("paid") }, core.VerdictAccepted, "paid"},
		{"already paid", order("paid"), func() core.PaymentEvent { return ev("paid") }, core.VerdictDuplicate, ""},
		{"late failure after paid", order("paid"), func() core.PaymentEvent { return ev("failed") }, core.VerdictStale, ""},
		{"old failure", order("pending"), func() core.PaymentEvent { e := ev("failed"); e.OccurredAt = base.Add(-time.Hour); return e }, core.VerdictStale, ""},
		{"unknown type", order("pending"), func() core.PaymentEvent { e := ev(""); e.Type = "session.viewed"; return e }, core.VerdictIgnored, ""},
		{"amount short", order("pending"), func() core.PaymentEvent { e := ev("paid"); e.AmountMinor = 999; return e }, core.VerdictAmountMismatch, "manual_review"},
		{"currency differs", order("pending"), func() core.PaymentEvent { e := ev("paid"); e.Currency = "USD"; return e }, core.VerdictAmountMismatch, "manual_review"},
		{"orphan payment", nil, func() core.PaymentEvent { return ev("paid") }, core.VerdictOrphan, "manual_review"},
		{"orphan failure ignored", nil, func() core.PaymentEvent { return ev("failed") }, core.VerdictIgnored, ""},
		{"paid after expiry", order("expired"), func() core.PaymentEvent { return ev("paid") }, core.VerdictNeedsReview, "manual_review"},
		{"paid while in review", order("manual_review"), func() core.PaymentEvent { return ev("paid") }, core.VerdictNeedsReview, ""},
		{"refund", order("paid"), func() core.PaymentEvent { e := ev("refunded"); e.RefundedMinor = 400; return e }, core.VerdictAccepted, "refunded"},
		{"refund too large", order("paid"), func() core.PaymentEvent { e := ev("refunded"); e.RefundedMinor = 4000; return e }, core.VerdictAmountMismatch, ""},
		{"refund of unpaid", order("pending"), func() core.PaymentEvent { e := ev("refunded"); e.RefundedMinor = 400; return e }, core.VerdictRefused, ""},
		{"paid after refund", order("refunded"), func() core.PaymentEvent { return ev("paid") }, core.VerdictStale, ""},
		{"expired by provider", order("pending"), func() core.PaymentEvent { return ev("expired") }, core.VerdictAccepted, "expired"},
		{"expired after paid", order("paid"), func() core.PaymentEvent { return ev("expired") }, core.VerdictStale, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := core.Decide(c.order, c.ev())
			if d.Verdict != c.verdict || d.To != c.to {
				t.Fatalf("got %s -> %q (%s), want %s -> %q", d.Verdict, d.To, d.Reason, c.verdict, c.to)
			}
			if d.To != "" && c.order != nil && core.CheckTransition(c.order.Status, d.To) != nil {
				t.Fatalf("decision breaks the state machine: %s -> %s", c.order.Status, d.To)
			}
		})
	}
	// A further partial refund on a refunded order raises the refunded amount.
	o := order("refunded")
	o.RefundedMinor = 300
	e := ev("refunded")
	e.RefundedMinor = 600
	if d := core.Decide(o, e); d.Verdict != core.VerdictAccepted || d.To != core.StatusRefunded {
		t.Fatalf("further refund: %+v", d)
	}
	e.RefundedMinor = 300
	if d := core.Decide(o, e); d.Verdict != core.VerdictDuplicate {
		t.Fatalf("same refund again: %+v", d)
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
