package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paysync/paysync/cmd/paysync/internal/bench"
	"github.com/paysync/paysync/storage/testdb"
)

// TestBenchQuick is CI's smoke run of `paysync bench --quick`, the real
// binary (built without the race detector, as shipped): it prints every
// section's table and progress, and writes JSON in which every section holds
// measured numbers. The figures themselves are not checked: the goals are
// the full run's, on a quiet machine.
func TestBenchQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("the bench smoke run takes most of a minute")
	}
	out := filepath.Join(t.TempDir(), "bench.json")
	postgres := os.Getenv(testdb.EnvURL) != ""
	if !postgres {
		testdb.PostgresURL(t) // fails in CI, skips on a laptop
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(binary(t), "bench", "--quick", "--out", out)
	cmd.Dir, cmd.Stdout, cmd.Stderr = t.TempDir(), &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("paysync bench --quick: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	t.Logf("took %s\n%s", time.Since(start).Round(time.Second), stdout.String())
	for _, section := range []string{"1. Ingest", "2. Delivery", "3. End to end", "4. Backlog", "5. Footprint"} {
		if !strings.Contains(stdout.String(), section) {
			t.Errorf("the table has no section %q", section)
		}
	}
	if !strings.Contains(stderr.String(), "ingest on sqlite") {
		t.Errorf("no progress on stderr: %q", stderr.String())
	}

	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("--out is not the report: %v\n%s", err, b)
	}
	if len(rep.Skipped) > 0 {
		t.Errorf("parts were skipped: %v", rep.Skipped)
	}
	positive := func(what string, vs ...float64) {
		t.Helper()
		for _, v := range vs {
			if !(v > 0) {
				t.Errorf("%s: a figure is %v: %v", what, v, vs)
				return
			}
		}
	}
	clients := map[string][]int{}
	for _, r := range rep.Ingest {
		clients[r.Database] = append(clients[r.Database], r.Clients)
		positive("ingest "+r.Database, r.PerSecond, r.P50ms, r.P99ms, r.BaselinePerSecond, r.BaselineP50ms, r.BaselineP99ms, r.Ratio)
	}
	want := map[string][]int{"sqlite": {1, 8, 32}, "postgres": {1, 8, 32}}
	for db, cs := range want {
		if len(clients[db]) != len(cs) {
			t.Errorf("ingest on %s ran for clients %v, want %v", db, clients[db], cs)
		}
	}
	if len(rep.IngestAtRate) != 2 {
		t.Errorf("ingest at a steady rate: %d databases, want 2", len(rep.IngestAtRate))
	}
	for _, r := range rep.IngestAtRate {
		positive("ingest at a rate on "+r.Database, float64(r.Rate), r.P50ms, r.P99ms, r.FloorP99ms)
	}
	crms := map[string]bool{"bitrix24": true, "amocrm": true, "sheets": true}
	if len(rep.Delivery) != len(crms) || len(rep.EndToEnd) != len(crms) || rep.Backlog == nil || len(rep.Backlog.CRMs) != len(crms) {
		t.Fatalf("sections per CRM: delivery %d, end to end %d, backlog %+v; want %d each", len(rep.Delivery), len(rep.EndToEnd), rep.Backlog, len(crms))
	}
	for _, r := range rep.Delivery {
		positive("delivery to "+r.Connector, r.PerSecond, r.Ceiling, r.UnitsPerRecord, float64(r.Requests), r.Ratio)
	}
	for _, r := range rep.EndToEnd {
		positive("end to end to "+r.Connector, r.P50ms, r.P99ms, float64(r.Events))
		if r.Missing != 0 {
			t.Errorf("end to end to %s: %d orders never reached the CRM", r.Connector, r.Missing)
		}
	}
	for _, c := range rep.Backlog.CRMs {
		positive("backlog at "+c.Connector, c.DrainSeconds, float64(c.Requests))
		if !crms[c.Connector] {
			t.Errorf("backlog at unknown CRM %q", c.Connector)
		}
	}
	f := rep.Footprint
	if f == nil {
		t.Fatal("no footprint")
	}
	positive("footprint", float64(f.BinaryBytes), f.StartToReadyMs, f.RSSIdleMiB, f.RSSLoadMiB)
	if f.RSSLoadMiB < f.RSSIdleMiB {
		t.Errorf("peak memory %.1f MiB below idle %.1f MiB", f.RSSLoadMiB, f.RSSIdleMiB)
	}
}

// TestBenchScaleTiny runs `paysync bench --scale` at 2,000 orders so that
// the command keeps working: it fills both databases, finds what it
// searches for (it fails if a search misses its order) and prints a row
// for every kind of read. The figures are not checked.
func TestBenchScaleTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("the scale smoke run fills two databases")
	}
	testdb.PostgresURL(t) // fails in CI, skips on a laptop
	out := filepath.Join(t.TempDir(), "scale.json")
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(binary(t), "bench", "--scale", "--orders", "2000", "--samples", "5", "--webhooks", "50", "--out", out)
	cmd.Dir, cmd.Stdout, cmd.Stderr = t.TempDir(), &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("paysync bench --scale: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	t.Log(stdout.String())
	if !strings.Contains(stderr.String(), "filled 2000 of 2000 orders") {
		t.Errorf("no fill progress on stderr: %q", stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.ScaleReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("--out is not the report: %v\n%s", err, b)
	}
	if len(rep.Databases) != 2 {
		t.Fatalf("measured %d databases, want sqlite and postgres (skipped: %v)", len(rep.Databases), rep.Skipped)
	}
	for _, d := range rep.Databases {
		if d.Orders != 2000 || d.JournalEntries != 10000 || !(d.BytesPerOrder > 0) || !(d.IngestEmpty > 0) || !(d.IngestFull > 0) {
			t.Errorf("%s: %+v", d.Database, d)
		}
		for _, what := range []string{"search: phone as 091000102", "search: surname (Latin, Cyrillic, Armenian)", "order page", "dispatcher claim (20 records)"} {
			found := false
			for _, q := range d.Queries {
				found = found || (q.What == what && q.Runs == 5 && q.P95ms > 0)
			}
			if !found {
				t.Errorf("%s: no timings of %q in %+v", d.Database, what, d.Queries)
			}
		}
		if !strings.Contains(stdout.String(), d.Database+": 2,000 orders, 10,000 journal entries") {
			t.Errorf("the table has no heading for %s:\n%s", d.Database, stdout.String())
		}
	}
}
