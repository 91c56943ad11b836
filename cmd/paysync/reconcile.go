package main

import (
	"context"
	"fmt"
	"time"

	"github.com/paysync/paysync/payments"
	"github.com/paysync/paysync/present"
)

func init() {
	register(command{name: "reconcile", usage: "reconcile [--date YYYY-MM-DD] [--json]: the providers' transactions of that day beside paysync's (default yesterday); exit 3 when they differ", run: runReconcile})
}

// Exit codes of `paysync reconcile`: 0 the day is clean, 1 a provider or
// the database could not be read, 2 a mistake of use, 3 differences a
// person must look at.
const exitReconcileDiffers = 3

func runReconcile(ctx context.Context, env *cmdEnv, args []string) error {
	fs := env.flags("reconcile")
	date := fs.String("date", "", "the shop's calendar day, YYYY-MM-DD (default: yesterday in time_zone)")
	asJSON := fs.Bool("json", false, "print the reports as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	a, err := openApp(ctx, env)
	if err != nil {
		return err
	}
	defer a.Close()
	zone, err := present.LoadZone(a.cfg.TimeZone)
	if err != nil {
		return &exitError{code: 2, msg: "paysync reconcile: time_zone: " + err.Error()}
	}
	today, _ := payments.DayBounds(time.Now().In(zone), zone)
	day := today.AddDate(0, 0, -1)
	if *date != "" {
		if day, err = time.ParseInLocation("2006-01-02", *date, zone); err != nil {
			return &exitError{code: 2, msg: fmt.Sprintf("paysync reconcile: --date %q is not a date: use YYYY-MM-DD", *date)}
		}
		if day.After(today) {
			return &exitError{code: 2, msg: "paysync reconcile: --date " + *date + " has not begun yet in " + zone.String()}
		}
	}
	provs, ps := buildProviders(ctx, a.cfg, a.store, a.log, nil)
	if len(ps) > 0 {
		return problemsExit(ps)
	}
	svc, err := newPayments(a, provs)
	if err != nil {
		return &exitError{code: 2, msg: "paysync reconcile: " + err.Error()}
	}
	if len(svc.Listers()) == 0 {
		return &exitError{code: 2, msg: "paysync reconcile: no enabled payment provider lists its transactions (ArCa and Ameriabank vPOS do: see docs/reconciliation.md)"}
	}
	reports, err := svc.ReconcileDay(ctx, day, zone)
	if err != nil {
		return userError("reconcile", err)
	}
	if *asJSON {
		if err := printJSON(env.stdout, reports); err != nil {
			return err
		}
	}
	failed, differs := 0, 0
	for i, r := range reports {
		if !*asJSON {
			if i > 0 {
				fmt.Fprintln(env.stdout)
			}
			title := r.Provider
			if p, ok := svc.Provider(r.Provider); ok && p.Capabilities().Title != "" {
				title = p.Capabilities().Title
			}
			payments.WriteReport(env.stdout, r, title, zone)
		}
		switch {
		case r.Error != "":
			failed++
		case !r.Clean():
			differs++
		}
	}
	switch {
	case failed > 0:
		return &exitError{code: 1, msg: fmt.Sprintf("paysync reconcile: %d provider(s) could not be asked; run again once they answer", failed)}
	case differs > 0:
		return &exitError{code: exitReconcileDiffers, msg: fmt.Sprintf("paysync reconcile: %s: %d provider(s) differ from paysync; see above", day.Format("2006-01-02"), differs)}
	}
	return nil
}
