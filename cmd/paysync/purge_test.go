package main

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/scheduler"
	"github.com/paysync/paysync/storage"
)

func TestPurgeCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	t.Setenv("PAYSYNC_DATA_DIR", dir)
	db, err := storage.Open(ctx, storage.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for i, age := range []time.Duration{400 * 24 * time.Hour, 200 * 24 * time.Hour, time.Hour} {
		e := core.JournalEntry{Provider: "vpos", Source: core.SourceWebhook, Verdict: core.VerdictRejected, CreatedAt: time.Now().Add(-age)}
		e.KeepSample([]byte(strings.Repeat("x", 100+i)))
		if err := db.Apply(ctx, core.Change{Journal: &e}); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	code, out, errs := cli(t, "purge", "--dry-run")
	if code != 0 || !strings.Contains(out, "journal entries  2 rows, 201 bytes") || !strings.Contains(out, "dry run: nothing was changed") {
		t.Fatalf("purge --dry-run: %d\n%s%s", code, out, errs)
	}
	if code, out, _ := cli(t, "purge", "--dry-run"); code != 0 || !strings.Contains(out, "2 rows") {
		t.Fatalf("the dry run changed something: second dry run says\n%s", out)
	}
	code, out, errs = cli(t, "purge")
	if code != 0 || !strings.Contains(out, "cleared 2 journal payloads and 0 refusal samples") || !strings.Contains(errs, "2 of 2 rows cleared") {
		t.Fatalf("purge: %d\n%s%s", code, out, errs)
	}
	if code, out, _ := cli(t, "purge", "--dry-run"); code != 0 || !strings.Contains(out, "journal entries  none") {
		t.Fatalf("after the purge a dry run says\n%s", out)
	}
}

// The scheduler clears payloads past journal.keep_payloads on
// scheduler.purge_schedule, and schedules nothing when it is 0.
func TestPayloadRetentionJob(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	t.Setenv("PAYSYNC_DATA_DIR", dir)
	env := &cmdEnv{stdout: io.Discard, stderr: io.Discard}
	a, err := openApp(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	e := core.JournalEntry{Source: core.SourceWebhook, Verdict: core.VerdictRejected, CreatedAt: time.Now().Add(-200 * 24 * time.Hour)}
	e.KeepSample([]byte("unsigned"))
	if err := a.store.Apply(ctx, core.Change{Journal: &e}); err != nil {
		t.Fatal(err)
	}
	sch, err := scheduler.New(scheduler.Options{Store: a.store, Logger: a.log})
	if err != nil {
		t.Fatal(err)
	}
	if err := addPayloadRetention(a, sch); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(sch.Jobs(), "purge-payloads") {
		t.Fatalf("jobs %v lack purge-payloads", sch.Jobs())
	}
	if err := sch.RunNow(ctx, "purge-payloads"); err != nil {
		t.Fatal(err)
	}
	if left, _ := a.store.PayloadsBefore(ctx, time.Now()); left.Rows() != 0 {
		t.Fatalf("after the job %d rows still hold a payload", left.Rows())
	}

	a.cfg.Journal.KeepPayloads = 0
	sch2, _ := scheduler.New(scheduler.Options{Store: a.store, Logger: a.log})
	if err := addPayloadRetention(a, sch2); err != nil || slices.Contains(sch2.Jobs(), "purge-payloads") {
		t.Fatalf("keep_payloads 0 still schedules the purge: %v %v", sch2.Jobs(), err)
	}
}
