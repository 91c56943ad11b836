package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/dispatcher"
	"github.com/paysync/paysync/present"
)

// The outbox group: `paysync outbox` alone lists these four.
func init() {
	register(command{name: "outbox stats", usage: "backlog and state per connector (state from the running serve) [--json]", run: runOutboxStats})
	register(command{name: "outbox dead", usage: "list dead letters with the reason [--connector NAME] [--json]", run: runOutboxDead})
	register(command{name: "outbox retry", usage: "requeue a dead letter: ID, or every one with --all-dead [--connector NAME]", run: runOutboxRetry})
	register(command{name: "outbox resync", usage: "re-sync an order to every enabled connector, or one: ORDER_ID [--connector NAME]", run: runOutboxResync})
}

// parseWithID parses fs and returns the positional arguments; the first
// may come before the flags ("outbox resync ID --connector NAME").
func parseWithID(fs *flag.FlagSet, args []string) ([]string, error) {
	first, rest := splitPositional(args)
	if err := fs.Parse(rest); err != nil {
		return nil, err
	}
	positional := fs.Args()
	if first != "" {
		positional = append([]string{first}, positional...)
	}
	return positional, nil
}

func runOutboxStats(ctx context.Context, env *cmdEnv, args []string) error {
	fs := env.flags("outbox stats")
	asJSON := fs.Bool("json", false, "print JSON as the HTTP API does")
	if _, err := parseWithID(fs, args); err != nil {
		return err
	}
	a, err := openApp(ctx, env)
	if err != nil {
		return err
	}
	defer a.Close()
	stats, liveErr, err := outboxStats(ctx, a)
	if err != nil {
		return err
	}
	if stats == nil {
		stats = []dispatcher.ConnectorStats{}
	}
	if *asJSON {
		return json.NewEncoder(env.stdout).Encode(map[string]any{"connectors": stats})
	}
	return printOutboxStats(env.stdout, printer(a.cfg), stats, liveErr)
}

// outboxStats asks the running serve, which alone knows each connector's
// state; without it, the counts come from the database and liveErr says why.
func outboxStats(ctx context.Context, a *app) (stats []dispatcher.ConnectorStats, liveErr, err error) {
	stats, liveErr = liveOutboxStats(ctx, a.cfg)
	if liveErr == nil {
		return stats, nil, nil
	}
	all, err := a.store.OutboxStats(ctx)
	if err != nil {
		return nil, liveErr, err
	}
	stats = stats[:0]
	for _, s := range all {
		cs := dispatcher.ConnectorStats{Connector: s.Connector, Pending: s.Pending, Dead: s.Dead, Delivered: s.Delivered}
		if s.Pending > 0 {
			cs.OldestPending = s.OldestPending
		}
		stats = append(stats, cs)
	}
	return stats, liveErr, nil
}

// printOutboxStats prints the table; the state column is "?" when the
// running serve could not be asked (liveErr).
func printOutboxStats(out io.Writer, p present.Printer, stats []dispatcher.ConnectorStats, liveErr error) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONNECTOR\tSTATE\tPENDING\tOLDEST PENDING\tDEAD\tORDERS DELIVERED\tREASON")
	for _, s := range stats {
		age, state := "-", "?"
		if s.Pending > 0 && !s.OldestPending.IsZero() {
			age = p.Age(time.Since(s.OldestPending))
		}
		if liveErr == nil {
			state = p.ConnectorState(s.State)
			if !s.Until.IsZero() {
				state += " until " + p.Time(s.Until)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\t%s\n", s.Connector, state, s.Pending, age, s.Dead, s.Delivered, s.Reason)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if liveErr != nil {
		fmt.Fprintf(out, "state unknown: %v; connector states come from the running `paysync serve`.\n", liveErr)
	}
	return nil
}

func runOutboxDead(ctx context.Context, env *cmdEnv, args []string) error {
	fs := env.flags("outbox dead")
	asJSON := fs.Bool("json", false, "print JSON as the HTTP API does")
	connector := fs.String("connector", "", "only this connector's dead letters")
	if _, err := parseWithID(fs, args); err != nil {
		return err
	}
	a, err := openApp(ctx, env)
	if err != nil {
		return err
	}
	defer a.Close()
	recs, err := a.store.ListOutbox(ctx, *connector, core.DeliveryDead, 500)
	if err != nil {
		return err
	}
	out := env.stdout
	if *asJSON {
		return json.NewEncoder(out).Encode(map[string]any{"records": recs})
	}
	if len(recs) == 0 {
		fmt.Fprintln(out, "no dead letters")
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	p := printer(a.cfg)
	fmt.Fprintln(tw, "ID\tCONNECTOR\tORDER\tFAILED TRIES\tSTOPPED AT\tREASON")
	for _, r := range recs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\n", r.ID, r.Connector, r.OrderID, r.Attempts, p.Time(r.UpdatedAt), r.LastError)
	}
	return tw.Flush()
}

func runOutboxRetry(ctx context.Context, env *cmdEnv, args []string) error {
	fs := env.flags("outbox retry")
	allDead := fs.Bool("all-dead", false, "requeue every dead letter")
	connector := fs.String("connector", "", "with --all-dead: only this connector's")
	positional, err := parseWithID(fs, args)
	if err != nil {
		return err
	}
	var id int64
	if !*allDead {
		if len(positional) != 1 {
			return &exitError{code: 2, msg: "usage: paysync outbox retry ID | paysync outbox retry --all-dead"}
		}
		if id, err = strconv.ParseInt(positional[0], 10, 64); err != nil {
			return &exitError{code: 2, msg: "paysync outbox retry: ID must be a number (see paysync outbox dead)"}
		}
	}
	a, err := openApp(ctx, env)
	if err != nil {
		return err
	}
	defer a.Close()
	if *allDead {
		n, err := a.store.RetryAllDead(ctx, *connector, time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "requeued %d dead letters\n", n)
		return nil
	}
	if err := a.store.RetryOutbox(ctx, id, time.Now()); err != nil {
		return &exitError{code: 1, msg: "paysync outbox retry: " + core.ErrorMessage(err)}
	}
	fmt.Fprintf(env.stdout, "requeued %d\n", id)
	return nil
}

func runOutboxResync(ctx context.Context, env *cmdEnv, args []string) error {
	fs := env.flags("outbox resync")
	connector := fs.String("connector", "", "only this connector (default: every enabled one)")
	positional, err := parseWithID(fs, args)
	if err != nil {
		return err
	}
	if len(positional) != 1 {
		return &exitError{code: 2, msg: "usage: paysync outbox resync ORDER_ID [--connector NAME]"}
	}
	orderID := positional[0]
	a, err := openApp(ctx, env)
	if err != nil {
		return err
	}
	defer a.Close()
	conns := a.ledger.Connectors()
	if *connector != "" {
		if err := core.CheckConnector(*connector, conns); err != nil {
			return &exitError{code: 2, msg: "paysync outbox resync: " + core.ErrorMessage(err)}
		}
		conns = []string{*connector}
	}
	if len(conns) == 0 {
		return &exitError{code: 2, msg: "paysync outbox resync: " + core.ErrorMessage(core.ErrNoConnector)}
	}
	if err := a.store.Enqueue(ctx, orderID, conns, time.Now()); err != nil {
		return &exitError{code: 1, msg: "paysync outbox resync: " + core.ErrorMessage(err)}
	}
	fmt.Fprintf(env.stdout, "enqueued %s for %v\n", orderID, conns)
	return nil
}
