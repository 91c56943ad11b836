package core_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
)

func TestMovements(t *testing.T) {
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	e := func(id int64, src string, before, after core.Status, minor int64) core.JournalEntry {
		return core.JournalEntry{ID: id, Source: src, Provider: "vpos", StatusBefore: before, StatusAfter: after, AmountMinor: minor, CreatedAt: at.Add(time.Duration(id) * time.Minute)}
	}
	o := core.Order{ID: "IG-1", AmountMinor: 1000, Currency: "AMD", Provider: "vpos", ProviderRef: "r1", Customer: core.Customer{Phone: "+374"}}
	cases := []struct {
		name    string
		entries []core.JournalEntry
		want    []string
	}{
		{"paid twice, reviewed as paid: one payment", []core.JournalEntry{
			e(1, core.SourceAPI, "", core.StatusPending, 0),
			e(2, core.SourceWebhook, core.StatusPending, core.StatusPaid, 1000),
			e(3, core.SourceWebhook, core.StatusPaid, core.StatusManualReview, 1000),
			e(4, core.SourceManual, core.StatusManualReview, core.StatusPaid, 1000),
		}, []string{"payment 1000 @2"}},
		{"refund seen first: payment and refund", []core.JournalEntry{
			e(1, core.SourceWebhook, core.StatusPending, core.StatusPartiallyRefunded, 300),
			e(2, core.SourceWebhook, core.StatusPartiallyRefunded, core.StatusPartiallyRefunded, 300),
			e(3, core.SourceWebhook, core.StatusPartiallyRefunded, core.StatusRefunded, 1000),
		}, []string{"payment 1000 @1", "refund -300 @1", "refund -700 @3"}},
		{"review settled failed: nothing", []core.JournalEntry{
			e(1, core.SourceWebhook, core.StatusPending, core.StatusManualReview, 900),
			e(2, core.SourceManual, core.StatusManualReview, core.StatusFailed, 1000),
		}, nil},
		{"orphan settled paid: a review", []core.JournalEntry{
			e(1, core.SourceWebhook, "", core.StatusManualReview, 1000),
			e(2, core.SourceManual, core.StatusManualReview, core.StatusPaid, 1000),
		}, []string{"review 1000 @2"}},
	}
	for _, c := range cases {
		got := core.Movements(core.OrderJournal{Order: o, Entries: c.entries})
		if len(got) != len(c.want) {
			t.Errorf("%s: %d movements %+v, want %v", c.name, len(got), got, c.want)
			continue
		}
		for i, m := range got {
			s := string(m.Kind) + " " + strconv.FormatInt(m.AmountMinor, 10) + " @" + strconv.FormatInt(m.JournalID, 10)
			if s != c.want[i] || m.Customer != "+374" || m.ProviderRef != "r1" || m.Currency != "AMD" {
				t.Errorf("%s: movement %d is %q %+v, want %q", c.name, i, s, m, c.want[i])
			}
		}
	}
}
