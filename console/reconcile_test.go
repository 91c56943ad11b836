package console_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/paysync/paysync/console"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/storage/testdb"
)

// TestReconciliationPage: the latest reports, with what needs a look linked
// to its order, in the person's language; closed without a login and to
// anyone but an owner.
func TestReconciliationPage(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		r := newRig(t, dialect, func(o *console.Options) { o.Providers["arca"] = "ArCa" })
		b := r.browser()
		b.login("Ani")
		if _, page := b.get("/ui/reconciliation"); !strings.Contains(page, `id="no-reports"`) {
			t.Fatalf("without reports the page does not say so:\n%s", page)
		}
		day := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
		rep := core.ReconcileReport{Provider: "arca", Day: "2026-03-10", From: day, To: day.AddDate(0, 0, 1), RanAt: day.Add(30 * time.Hour),
			BankTotals: map[string]int64{"AMD": 2750000}, PaysyncTotals: map[string]int64{"AMD": 1500000}, BankCount: 2,
			Lines: []core.ReconcileLine{
				{Finding: core.FindingUnknown, OrderID: "SHOP-41", ProviderRef: "md-41", BankAmountMinor: 1250000, BankCurrency: "AMD", OrderStatus: core.StatusManualReview},
				{Finding: core.FindingMatched, OrderID: "IG-1", BankAmountMinor: 1500000, BankCurrency: "AMD", OrderAmountMinor: 1500000, OrderCurrency: "AMD"},
			}}
		if err := r.db.SaveReconcileReport(context.Background(), rep); err != nil {
			t.Fatal(err)
		}
		code, page := b.get("/ui/reconciliation")
		if code != http.StatusOK || !strings.Contains(page, `href="/ui/orders/SHOP-41"`) || !strings.Contains(page, "Paid at the bank, not here") ||
			!strings.Contains(page, "ArCa, 2026-03-10") || strings.Contains(page, `href="/ui/orders/IG-1"`) {
			t.Fatalf("the report: %d, want SHOP-41 linked as paid at the bank and the matched IG-1 only counted\n%s", code, page)
		}
		b.lang = "hy"
		if _, page := b.get("/ui/reconciliation"); !strings.Contains(page, "Վճարված է բանկում, այստեղ չկա") {
			t.Fatalf("Armenian page lacks the finding in Armenian:\n%s", page)
		}
		b.lang = "ru"
		if _, page := b.get("/ui/reconciliation"); !strings.Contains(page, "Оплачено в банке, здесь нет") {
			t.Fatalf("Russian page lacks the finding in Russian:\n%s", page)
		}
		anon := r.browser()
		if _, page := anon.get("/ui/reconciliation"); strings.Contains(page, "SHOP-41") || !strings.Contains(page, `name="password"`) {
			t.Fatalf("without a login the page shows the report or no login form:\n%s", page)
		}
		// The bank's day is the owner's: a manager is refused.
		mgr := r.browser()
		mgr.loginAs("Mane", core.RoleManager)
		if code, page := mgr.get("/ui/reconciliation"); code != http.StatusForbidden || strings.Contains(page, "SHOP-41") {
			t.Fatalf("a manager got %d for the reconciliation page, want 403 without the report", code)
		}
	})
}
