package storage_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/storage"
	"github.com/paysync/paysync/storage/testdb"
)

// TestPurgePayloads clears the raw bytes of old journal entries and refusal
// records, keeps what the journal says and each request's size and digest,
// leaves recent ones whole, and a dry run changes nothing.
func TestPurgePayloads(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		t.Parallel()
		ctx := context.Background()
		db := testdb.Open(t, dialect)
		now := time.Now().UTC().Truncate(time.Microsecond)
		old, recent := now.Add(-200*24*time.Hour), now.Add(-10*24*time.Hour)
		cutoff := now.Add(-180 * 24 * time.Hour)

		o := &core.Order{ID: "IG-1", Status: core.StatusPaid, AmountMinor: 500000, Currency: "AMD", Provider: "vpos", Items: []core.Item{}}
		if err := db.Apply(ctx, core.Change{Order: o, Journal: &core.JournalEntry{Source: core.SourceAPI, Verdict: core.VerdictCreated, StatusAfter: core.StatusPaid, CreatedAt: old}}); err != nil {
			t.Fatal(err)
		}
		payload := func(s string) core.JournalEntry {
			e := core.JournalEntry{OrderID: "IG-1", Provider: "vpos", Source: core.SourceWebhook, EventType: "payment.succeeded",
				Verdict: core.VerdictDuplicate, StatusBefore: core.StatusPaid, StatusAfter: core.StatusPaid, AmountMinor: 500000,
				Currency: "AMD", ProviderRef: "ref-" + s, Reason: "seen " + s}
			e.KeepPayload([]byte(`{"event":"` + s + `","binary":"` + "\x00\xff" + `"}`))
			return e
		}
		for i, at := range []time.Time{old, old.Add(time.Hour), recent} {
			e := payload([]string{"a", "b", "c"}[i])
			e.CreatedAt = at
			if err := db.Apply(ctx, core.Change{Journal: &e}); err != nil {
				t.Fatal(err)
			}
		}
		for i, at := range []time.Time{old, recent} {
			r := core.Refusal{Provider: "vpos", Source: []string{"203.0.113.1", "203.0.113.2"}[i], Verdict: core.VerdictRejected,
				WindowStart: at.Truncate(time.Hour), Requests: 3, Bytes: 90, FirstAt: at, LastAt: at, Reason: "bad signature"}
			s := core.SampleOf([]byte(`{"forged":true}`))
			r.Sample, r.SampleSize, r.SampleSHA256 = s.Head, s.Size, s.SHA256
			if err := db.RecordRefusal(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		journalBefore, err := db.ListJournal(ctx, "IG-1")
		if err != nil {
			t.Fatal(err)
		}

		dry, err := db.PayloadsBefore(ctx, cutoff)
		if err != nil {
			t.Fatal(err)
		}
		wantBytes := int64(len(journalBefore[1].Payload) + len(journalBefore[2].Payload))
		if dry.Journal.Rows != 2 || dry.Journal.Bytes != wantBytes || !dry.Journal.Oldest.Equal(old) || !dry.Journal.Newest.Equal(old.Add(time.Hour)) {
			t.Fatalf("dry run, journal: %+v, want 2 rows, %d bytes, %s..%s", dry.Journal, wantBytes, old, old.Add(time.Hour))
		}
		if dry.Refusals.Rows != 1 || dry.Refusals.Bytes != int64(len(`{"forged":true}`)) {
			t.Fatalf("dry run, refusals: %+v, want 1 row of 15 bytes", dry.Refusals)
		}
		if again, _ := db.ListJournal(ctx, "IG-1"); !bytes.Equal(again[1].Payload, journalBefore[1].Payload) {
			t.Fatalf("the dry run changed a payload")
		}

		var calls []int64
		done, err := db.PurgePayloads(ctx, cutoff, func(n int64) { calls = append(calls, n) })
		if err != nil {
			t.Fatal(err)
		}
		if done.Journal.Rows != 2 || done.Refusals.Rows != 1 || done.Bytes() != dry.Bytes() || len(calls) == 0 || calls[len(calls)-1] != 3 {
			t.Fatalf("purge: %+v, progress %v; want 2 journal rows, 1 refusal, %d bytes, progress ending at 3", done, calls, dry.Bytes())
		}
		after, err := db.ListJournal(ctx, "IG-1")
		if err != nil || len(after) != len(journalBefore) {
			t.Fatalf("journal after the purge: %d entries (%v), want %d", len(after), err, len(journalBefore))
		}
		for i, e := range after {
			b := journalBefore[i]
			cleared := b.CreatedAt.Before(cutoff)
			if (cleared && len(e.Payload) != 0) || (!cleared && !bytes.Equal(e.Payload, b.Payload)) || (i == 3 && len(e.Payload) == 0) {
				t.Errorf("entry %d (%s): payload %q, cleared=%v wanted", i, e.CreatedAt, e.Payload, cleared)
			}
			if e.PayloadSize != b.PayloadSize || e.PayloadSHA256 != b.PayloadSHA256 || e.Verdict != b.Verdict || e.ProviderRef != b.ProviderRef ||
				e.AmountMinor != b.AmountMinor || e.Reason != b.Reason || !e.CreatedAt.Equal(b.CreatedAt) {
				t.Errorf("entry %d lost a fact or its digest: %+v, was %+v", i, e, b)
			}
		}
		refs, err := db.ListRefusals(ctx, 10)
		if err != nil || len(refs) != 2 {
			t.Fatalf("refusals: %d (%v)", len(refs), err)
		}
		for _, r := range refs {
			isOld := r.LastAt.Before(cutoff)
			if isOld != (len(r.Sample) == 0) || r.SampleSize != 15 || r.SampleSHA256 == "" || r.Requests != 3 {
				t.Errorf("refusal from %s at %s: sample %q, size %d, digest %q, requests %d", r.Source, r.LastAt, r.Sample, r.SampleSize, r.SampleSHA256, r.Requests)
			}
		}
		if left, _ := db.PayloadsBefore(ctx, cutoff); left.Rows() != 0 {
			t.Fatalf("after the purge %d rows still hold payloads past the cutoff", left.Rows())
		}
		// A second purge finds nothing and says so.
		if again, err := db.PurgePayloads(ctx, cutoff, nil); err != nil || again.Rows() != 0 {
			t.Fatalf("second purge: %+v %v", again, err)
		}
	})
}

// The purge goes a batch at a time: more rows than a batch are all cleared.
func TestPurgePayloadsInBatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testdb.Open(t, storage.SQLite)
	old := time.Now().Add(-400 * 24 * time.Hour)
	for i := 0; i < 2500; i++ {
		e := core.JournalEntry{Source: core.SourceWebhook, Verdict: core.VerdictRejected, CreatedAt: old.Add(time.Duration(i) * time.Second)}
		e.KeepSample([]byte("unsigned request"))
		if err := db.Apply(ctx, core.Change{Journal: &e}); err != nil {
			t.Fatal(err)
		}
	}
	var calls []int64
	done, err := db.PurgePayloads(ctx, time.Now().Add(-180*24*time.Hour), func(n int64) { calls = append(calls, n) })
	if err != nil || done.Journal.Rows != 2500 || len(calls) != 3 || calls[2] != 2500 {
		t.Fatalf("purge: %+v %v, progress %v; want 2500 rows in 3 batches", done, err, calls)
	}
}
