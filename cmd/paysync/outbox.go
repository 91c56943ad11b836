package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/dispatcher"
)

func init() {
	register(command{name: "outbox", usage: "outbox stats|dead|retry ID|retry --all-dead|resync ORDER_ID", run: runOutbox})
}

const outboxUsage = "usage: paysync outbox stats|dead|retry ID|retry --all-dead|resync ORDER_ID [--json] [--connector NAME]"

func runOutbox(ctx context.Context, env *cmdEnv, args []string) error {
	fs := env.flags("outbox")
	asJSON := fs.Bool("json", false, "print JSON as the HTTP API does")
	allDead := fs.Bool("all-dead", false, "with retry: requeue every dead letter")
	connector := fs.String("connector", "", "limit to one connector")
	var sub string
	var rest []string
	if len(args) > 0 {
		sub, rest = args[0], args[1:]
	}
	switch sub {
	case "stats", "dead", "retry", "resync":
	case "-h", "--help", "help":
		fmt.Fprintln(env.stdout, outboxUsage)
		return nil
	default: // before opening the database: a typo creates no ./data
		return &exitError{code: 2, msg: outboxUsage}
	}
	// "outbox resync ID --connector NAME": the id may come before the flags.
	first, rest := splitPositional(rest)
	if err := fs.Parse(rest); err != nil {
		return err
	}
	positional := fs.Args()
	if first != "" {
		positional = append([]string{first}, positional...)
	}
	a, err := openApp(ctx, env)
	if err != nil {
		return err
	}
	defer a.Close()
	out := env.stdout
	switch sub {
	case "stats":
		stats, liveErr := liveOutboxStats(ctx, a.cfg)
		if liveErr != nil {
			all, err := a.store.OutboxStats(ctx)
			if err != nil {
				return err
			}
			stats = stats[:0]
			for _, s := range all {
				cs := dispatcher.ConnectorStats{Connector: s.Connector, Pending: s.Pending, Dead: s.Dead, Delivered: s.Delivered}
				if s.Pending > 0 {
					cs.OldestPending = s.OldestPending
				}
				stats = append(stats, cs)
			}
		}
		if stats == nil {
			stats = []dispatcher.ConnectorStats{}
		}
		if *asJSON {
			return json.NewEncoder(out).Encode(map[string]any{"connectors": stats})
		}
		p := printer(a.cfg)
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CONNECTOR\tSTATE\tPENDING\tOLDEST PENDING\tDEAD\tDELIVERED\tREASON")
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
	case "dead":
		recs, err := a.store.ListOutbox(ctx, *connector, core.DeliveryDead, 500)
		if err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(out).Encode(map[string]any{"records": recs})
		}
		if len(recs) == 0 {
			fmt.Fprintln(out, "no dead letters")
			return nil
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		p := printer(a.cfg)
		fmt.Fprintln(tw, "ID\tCONNECTOR\tORDER\tATTEMPTS\tSTOPPED AT\tREASON")
		for _, r := range recs {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\n", r.ID, r.Connector, r.OrderID, r.Attempts, p.Time(r.UpdatedAt), r.LastError)
		}
		return tw.Flush()
	case "retry":
		if *allDead {
			n, err := a.store.RetryAllDead(ctx, *connector, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "requeued %d dead letters\n", n)
			return nil
		}
		if len(positional) != 1 {
			return &exitError{code: 2, msg: "usage: paysync outbox retry ID | paysync outbox retry --all-dead"}
		}
		id, err := strconv.ParseInt(positional[0], 10, 64)
		if err != nil {
			return &exitError{code: 2, msg: "paysync outbox retry: ID must be a number (see paysync outbox dead)"}
		}
		if err := a.store.RetryOutbox(ctx, id, time.Now()); err != nil {
			return &exitError{code: 1, msg: "paysync outbox retry: " + core.ErrorMessage(err)}
		}
		fmt.Fprintf(out, "requeued %d\n", id)
		return nil
	case "resync":
		if len(positional) != 1 {
			return &exitError{code: 2, msg: "usage: paysync outbox resync ORDER_ID [--connector NAME]"}
		}
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
		if err := a.store.Enqueue(ctx, positional[0], conns, time.Now()); err != nil {
			return &exitError{code: 1, msg: "paysync outbox resync: " + core.ErrorMessage(err)}
		}
		fmt.Fprintf(out, "enqueued %s for %v\n", positional[0], conns)
		return nil
	}
	return &exitError{code: 2, msg: outboxUsage}
}
