package storagetest

import (
	"testing"
	"time"

	"github.com/paysync/paysync/core"
)

// testReconcileStore: a store that keeps reconciliation reports lists a
// provider's orders paid in a window (and only those still counting as
// paid), and keeps one report per provider and day, the latest run's.
func testReconcileStore(t *testing.T, open Factory) {
	s := open(t, nil)
	rs, ok := s.(core.ReconcileStore)
	if !ok {
		t.Skip("this store keeps no reconciliation reports")
	}
	day := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	paid := func(id, provider string, st core.Status, at time.Time) {
		o := NewOrder(id)
		o.Provider, o.Status = provider, st
		at = at.Truncate(time.Microsecond)
		o.PaidAt = &at
		create(t, s, o)
	}
	paid("R-IN", "arca", core.StatusPaid, day.Add(10*time.Hour))
	paid("R-REFUNDED", "arca", core.StatusPartiallyRefunded, day.Add(23*time.Hour+59*time.Minute))
	paid("R-EDGE", "arca", core.StatusPaid, day.Add(24*time.Hour)) // the next day's first instant
	paid("R-BEFORE", "arca", core.StatusPaid, day.Add(-time.Microsecond))
	paid("R-OTHER", "vpos", core.StatusPaid, day.Add(12*time.Hour))
	paid("R-REVIEW", "arca", core.StatusManualReview, day.Add(12*time.Hour))
	got, err := rs.PaidOrders(ctx, "arca", day, day.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, o := range got {
		ids = append(ids, o.ID)
	}
	if len(ids) != 2 || ids[0] != "R-IN" || ids[1] != "R-REFUNDED" {
		t.Fatalf("ArCa's orders paid on %s: %v, want [R-IN R-REFUNDED]", day.Format("2006-01-02"), ids)
	}

	report := func(provider, d string, unknown int) core.ReconcileReport {
		r := core.ReconcileReport{Provider: provider, Day: d, RanAt: time.Now().UTC().Truncate(time.Microsecond),
			BankTotals: map[string]int64{"AMD": 100}, PaysyncTotals: map[string]int64{}, Lines: []core.ReconcileLine{}}
		for range unknown {
			r.Lines = append(r.Lines, core.ReconcileLine{Finding: core.FindingUnknown, OrderID: "Բ-1"})
		}
		return r
	}
	for _, r := range []core.ReconcileReport{report("arca", "2026-03-09", 0), report("arca", "2026-03-10", 2),
		report("ameria", "2026-03-10", 0), report("arca", "2026-03-10", 1)} {
		if err := rs.SaveReconcileReport(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	list, err := rs.ListReconcileReports(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[0].Provider != "ameria" || list[1].Day != "2026-03-10" || list[1].Count(core.FindingUnknown) != 1 ||
		list[1].Lines[0].OrderID != "Բ-1" || list[2].Day != "2026-03-09" {
		t.Fatalf("reports: %+v, want 3, newest day first, ArCa's 2026-03-10 the second run's", list)
	}
	if two, err := rs.ListReconcileReports(ctx, 2); err != nil || len(two) != 2 {
		t.Fatalf("a limit of 2 lists %d (%v)", len(two), err)
	}
}
