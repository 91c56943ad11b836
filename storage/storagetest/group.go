package storagetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/paysync/paysync/core"
)

// testConcurrentChangesStayApart: changes applied at the same moment may
// share a transaction (group commit), but each keeps its own outcome. Among
// concurrent payments of distinct orders, a repeated event is refused as a
// duplicate, a change at a stale version as stale, a new order whose id is
// taken as a conflict, and a change that fails after writing (an injected
// fault) leaves nothing behind; none of them fails or undoes the others.
func testConcurrentChangesStayApart(t *testing.T, open Factory) {
	for _, faulty := range []bool{false, true} {
		t.Run(fmt.Sprintf("fault=%v", faulty), func(t *testing.T) {
			var faults atomic.Int32
			var armed atomic.Bool
			injected := errors.New("injected failure after outbox")
			var hook func(string) error
			if faulty {
				hook = func(step string) error {
					if step == "outbox" && armed.Load() && faults.Add(1) == 5 {
						return injected // the fifth change to reach its outbox
					}
					return nil
				}
			}
			s := open(t, hook)
			const n = 48
			for i := 0; i < n; i++ {
				create(t, s, NewOrder(fmt.Sprintf("G-%d", i)))
			}
			create(t, s, NewOrder("G-taken"))
			armed.Store(true)

			type change struct {
				c    core.Change
				want string // the refusal's code, "" when it must apply
			}
			var cs []change
			pay := func(id, event string, expected int64) core.Change {
				o, err := s.GetOrder(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				o.Status = core.StatusPaid
				return core.Change{Order: &o, ExpectedVersion: expected, Outbox: []string{"bitrix24", "sheets"},
					Journal: &core.JournalEntry{Provider: "generic", EventID: event, Source: core.SourceWebhook,
						Verdict: core.VerdictAccepted, StatusBefore: core.StatusPending, StatusAfter: core.StatusPaid, Payload: []byte(`{"n":1}`)}}
			}
			for i := 0; i < n; i++ {
				switch {
				case i%8 == 1: // the event of order i-1, again, for order i
					cs = append(cs, change{pay(fmt.Sprintf("G-%d", i), fmt.Sprintf("ev-%d", i-1), 1), core.EDUPLICATE})
				case i%8 == 2: // a version the order never had
					cs = append(cs, change{pay(fmt.Sprintf("G-%d", i), fmt.Sprintf("ev-%d", i), 7), core.ESTALE})
				default:
					cs = append(cs, change{pay(fmt.Sprintf("G-%d", i), fmt.Sprintf("ev-%d", i), 1), ""})
				}
			}
			taken := NewOrder("G-taken")
			cs = append(cs, change{core.Change{Order: taken, Journal: &core.JournalEntry{Source: core.SourceAPI, Verdict: core.VerdictCreated}}, core.ECONFLICT})

			// The repeated events must lose to their originals: apply the
			// originals first, all at once, then the rest all at once.
			errs := make([]error, len(cs))
			wave := func(pick func(i int) bool) {
				var wg sync.WaitGroup
				start := make(chan struct{})
				for i := range cs {
					if !pick(i) {
						continue
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						errs[i] = s.Apply(ctx, cs[i].c)
					}()
				}
				close(start)
				wg.Wait()
			}
			wave(func(i int) bool { return cs[i].want != core.EDUPLICATE })
			for i, c := range cs {
				if c.want == core.EDUPLICATE && errors.Is(errs[i-1], injected) {
					cs[i].want = "" // its original was never journaled
				}
			}
			wave(func(i int) bool { return cs[i].want == core.EDUPLICATE || (i%8 == 1 && i < n) })

			failed := 0
			for i, c := range cs {
				err := errs[i]
				if errors.Is(err, injected) {
					failed++
				} else if core.ErrorCode(err) != c.want && !(c.want == "" && err == nil) {
					t.Errorf("change %d (%s): %v, want %q", i, c.c.Order.ID, err, c.want)
					continue
				}
				if c.c.Order.ID == "G-taken" {
					continue
				}
				got, err2 := s.GetOrder(ctx, c.c.Order.ID)
				if err2 != nil {
					t.Fatal(err2)
				}
				journal, outbox := count(t, s, c.c.Order.ID)
				if err == nil {
					if got.Status != core.StatusPaid || got.Version != 2 || journal != 2 || outbox != 2 {
						t.Errorf("%s applied but stored %s v%d, %d journal entries, %d outbox records", got.ID, got.Status, got.Version, journal, outbox)
					}
				} else if got.Status != core.StatusPending || got.Version != 1 || journal != 1 || outbox != 0 {
					t.Errorf("%s refused (%v) but stored %s v%d, %d journal entries, %d outbox records", got.ID, err, got.Status, got.Version, journal, outbox)
				}
			}
			if want := map[bool]int{false: 0, true: 1}[faulty]; failed != want {
				t.Errorf("%d changes failed by the injected fault, want %d", failed, want)
			}
		})
	}
}
