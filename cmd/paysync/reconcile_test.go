package main

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	arcasandbox "github.com/paysync/paysync/sandbox/arca"
)

// TestReconcileCommand runs `paysync reconcile --date` against the ArCa
// double: a payment paysync never had makes the day differ (exit 3) and
// becomes a manual_review order; the second run finds it in review and
// creates nothing; a day without payments is clean (exit 0).
func TestReconcileCommand(t *testing.T) {
	paid := time.Date(2026, 3, 10, 15, 30, 0, 0, arcasandbox.Yerevan)
	gw := arcasandbox.New(arcasandbox.Options{CallbackKey: "-", Now: func() time.Time { return paid }})
	srv := httptest.NewServer(gw)
	t.Cleanup(func() { srv.Close(); gw.Close() })
	if _, err := gw.PayAtBank("SHOP-41", 1250000, "AMD"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PAYSYNC_DATA_DIR", t.TempDir())
	t.Setenv("PAYSYNC_TIME_ZONE", "Asia/Yerevan")
	t.Setenv("PAYSYNC_ARCA_BASE_URL", srv.URL+arcasandbox.RESTPath)
	t.Setenv("PAYSYNC_ARCA_USERNAME", arcasandbox.DefaultUsername)
	t.Setenv("PAYSYNC_ARCA_PASSWORD", arcasandbox.DefaultPassword)

	code, out, errs := cli(t, "reconcile", "--date", "2026-03-10")
	if code != 3 || !strings.Contains(out, "paid at the bank, not here") || !strings.Contains(out, "SHOP-41  bank 12500.00 AMD") {
		t.Fatalf("first run: exit %d, want 3 with SHOP-41 paid at the bank\n%s%s", code, out, errs)
	}
	if strings.Contains(out+errs, arcasandbox.DefaultPassword) {
		t.Fatalf("the report shows the ArCa password:\n%s%s", out, errs)
	}
	code, out, _ = cli(t, "orders", "show", "SHOP-41", "--json")
	if code != 0 || !strings.Contains(out, `"status": "manual_review"`) {
		t.Fatalf("SHOP-41 after the run: exit %d\n%s", code, out)
	}
	code, out, errs = cli(t, "reconcile", "--date", "2026-03-10")
	if code != 3 || !strings.Contains(out, "in_review") || strings.Contains(out, "unknown ") {
		t.Fatalf("second run: exit %d, want 3 with SHOP-41 in review and nothing unknown\n%s%s", code, out, errs)
	}
	code, out, errs = cli(t, "reconcile", "--date", "2026-03-09")
	if code != 0 || !strings.Contains(out, "clean") {
		t.Fatalf("a day without payments: exit %d, want 0 and clean\n%s%s", code, out, errs)
	}
	if code, _, errs = cli(t, "reconcile", "--date", "10.03.2026"); code != 2 || !strings.Contains(errs, "YYYY-MM-DD") {
		t.Fatalf("a bad date: exit %d, want 2\n%s", code, errs)
	}
}
