package scheduler_test

import (
	"context"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/paysync/paysync/config"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/testutil"
	"github.com/paysync/paysync/payments"
	"github.com/paysync/paysync/providers/arca"
	arcasandbox "github.com/paysync/paysync/sandbox/arca"
	"github.com/paysync/paysync/scheduler"
	"github.com/paysync/paysync/storage/testdb"
)

// TestReconcileDayJob: with a provider that lists its transactions, the
// scheduler has the daily reconciliation; a run goes over yesterday and the
// day before, turns yesterday's unknown bank payment into a manual_review
// order and keeps one report per day. "off" removes the job.
func TestReconcileDayJob(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		db := testdb.Open(t, dialect)
		yesterday := time.Now().Add(-24 * time.Hour)
		gw := arcasandbox.New(arcasandbox.Options{CallbackKey: "-", Now: func() time.Time { return yesterday }})
		srv := httptest.NewServer(gw)
		t.Cleanup(func() { srv.Close(); gw.Close() })
		if _, err := gw.PayAtBank("LATE-1", 500000, "AMD"); err != nil {
			t.Fatal(err)
		}
		a, err := arca.New(arca.Options{BaseURL: srv.URL + arcasandbox.RESTPath, Username: arcasandbox.DefaultUsername, Password: arcasandbox.DefaultPassword})
		if err != nil {
			t.Fatal(err)
		}
		ledger := &core.Ledger{Store: db}
		p, err := payments.New(payments.Options{Ledger: ledger, Store: db, Providers: []core.Provider{a}, Logger: testutil.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		cfg := config.Defaults()
		s, err := scheduler.FromConfig(&cfg, db, p, testutil.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(s.Jobs(), scheduler.JobReconcileDay) {
			t.Fatalf("jobs %v lack %s", s.Jobs(), scheduler.JobReconcileDay)
		}
		ctx := context.Background()
		if err := s.RunNow(ctx, scheduler.JobReconcileDay); err != nil {
			t.Fatal(err)
		}
		if o, err := db.GetOrder(ctx, "LATE-1"); err != nil || o.Status != core.StatusManualReview {
			t.Fatalf("LATE-1 after the job: %+v, %v; want manual_review", o.Status, err)
		}
		reports, err := db.ListReconcileReports(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		loc, _ := time.LoadLocation(cfg.TimeZone)
		want := yesterday.In(loc).Format("2006-01-02")
		if len(reports) != scheduler.ReconcileDays || reports[0].Day != want || reports[0].Count(core.FindingUnknown) != 1 {
			t.Fatalf("reports %+v: want %d, the newest of %s with one unknown payment", reports, scheduler.ReconcileDays, want)
		}
		cfg.Scheduler.ReconcileDaySchedule = "off"
		off, err := scheduler.FromConfig(&cfg, db, p, testutil.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(off.Jobs(), scheduler.JobReconcileDay) {
			t.Fatalf("reconcile_day_schedule off still schedules %s", scheduler.JobReconcileDay)
		}
	})
}
