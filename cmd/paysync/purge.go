package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/paysync/paysync/present"
	"github.com/paysync/paysync/scheduler"
	"github.com/paysync/paysync/storage"
)

func init() {
	register(command{name: "purge", usage: "purge [--dry-run]: clear raw payloads older than journal.keep_payloads (sizes and digests stay)", run: runPurge})
}

// addPayloadRetention schedules the purge of raw payloads past
// journal.keep_payloads on scheduler.purge_schedule (nothing when it is 0).
func addPayloadRetention(a *app, sch *scheduler.Scheduler) error {
	keep := a.cfg.Journal.KeepPayloads.D()
	if keep <= 0 {
		return nil
	}
	if err := sch.Add("purge-payloads", a.cfg.Scheduler.PurgeSchedule, func(ctx context.Context) error {
		done, err := a.store.PurgePayloads(ctx, time.Now().Add(-keep), nil)
		if done.Rows() > 0 {
			a.log.Info("cleared raw payloads past their retention", "journal_entries", done.Journal.Rows,
				"refusal_samples", done.Refusals.Rows, "bytes", done.Bytes(), "older_than", keep)
		}
		return err
	}); err != nil {
		return &exitError{code: 2, msg: "paysync: scheduler.purge_schedule: " + err.Error()}
	}
	return nil
}

func runPurge(ctx context.Context, env *cmdEnv, args []string) error {
	fs := env.flags("purge")
	dry := fs.Bool("dry-run", false, "show what would be cleared, change nothing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	a, err := openApp(ctx, env)
	if err != nil {
		return err
	}
	defer a.Close()
	keep := a.cfg.Journal.KeepPayloads.D()
	if keep <= 0 {
		fmt.Fprintln(env.stdout, "journal.keep_payloads is 0: raw payloads are kept for good; nothing to purge")
		return nil
	}
	zone, err := present.LoadZone(a.cfg.TimeZone)
	if err != nil {
		return &exitError{code: 2, msg: "paysync: time_zone: " + err.Error()}
	}
	cutoff := time.Now().Add(-keep)
	due, err := a.store.PayloadsBefore(ctx, cutoff)
	if err != nil {
		return userError("purge", err)
	}
	fmt.Fprintf(env.stdout, "raw payloads older than %s (journal.keep_payloads %s):\n", cutoff.In(zone).Format("2006-01-02 15:04 MST"), days(keep))
	printPayloads(env.stdout, due, zone)
	if *dry || due.Rows() == 0 {
		if *dry {
			fmt.Fprintln(env.stdout, "dry run: nothing was changed")
		}
		return nil
	}
	total := due.Rows()
	last := time.Now()
	done, err := a.store.PurgePayloads(ctx, cutoff, func(n int64) {
		if time.Since(last) >= time.Second || n == total {
			fmt.Fprintf(env.stderr, "purge: %d of %d rows cleared (%d%%)\n", n, total, n*100/max(total, 1))
			last = time.Now()
		}
	})
	if err != nil {
		return userError("purge", fmt.Errorf("stopped after %d rows (run it again to go on): %w", done.Rows(), err))
	}
	fmt.Fprintf(env.stdout, "cleared %d journal payloads and %d refusal samples; sizes, digests and the journal's facts stay\n",
		done.Journal.Rows, done.Refusals.Rows)
	if a.store.Dialect() == storage.SQLite {
		fmt.Fprintln(env.stdout, "SQLite reuses the freed pages for new rows; the file shrinks only with VACUUM (serve stopped)")
	}
	return nil
}

func printPayloads(w io.Writer, p storage.Payloads, zone *time.Location) {
	line := func(what string, s storage.PayloadSet) {
		if s.Rows == 0 {
			fmt.Fprintf(w, "  %-16s none\n", what)
			return
		}
		fmt.Fprintf(w, "  %-16s %d rows, %s, from %s to %s\n", what, s.Rows, byteSize(s.Bytes),
			s.Oldest.In(zone).Format("2006-01-02 15:04"), s.Newest.In(zone).Format("2006-01-02 15:04"))
	}
	line("journal entries", p.Journal)
	line("refusal samples", p.Refusals)
}

// days writes a duration of whole days as config does ("180d").
func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

func byteSize(n int64) string {
	switch {
	case n >= 10<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 10<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
