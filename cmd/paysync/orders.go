package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/httpapi"
	"github.com/paysync/paysync/present"
)

func init() {
	register(command{name: "orders", usage: "orders create --file FILE.json|show ID|list [--status S] [--q TEXT]", run: runOrders})
}

const ordersUsage = "usage: paysync orders create --file FILE.json (or - for stdin) | show ID | list [--status S] [--q TEXT] [--limit N]; add --json for the HTTP API's JSON"

// splitPositional lets a positional argument come before the flags
// ("orders show A-1 --json"): Go's flag package stops at the first one.
func splitPositional(args []string) (string, []string) {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return args[0], args[1:]
	}
	return "", args
}

func runOrders(ctx context.Context, env *cmdEnv, args []string) error {
	if len(args) == 0 {
		return &exitError{code: 2, msg: ordersUsage}
	}
	sub, rest := args[0], args[1:]
	if sub == "-h" || sub == "--help" || sub == "help" {
		fmt.Fprintln(env.stdout, ordersUsage)
		return nil
	}
	fs := env.flags("orders " + sub)
	asJSON := fs.Bool("json", false, "print JSON as the HTTP API does")
	var file, status, q *string
	var limit *int
	switch sub {
	case "create":
		file = fs.String("file", "", "order JSON as for POST /v1/orders (- reads stdin)")
	case "list":
		status = fs.String("status", "", "only orders in this status ("+core.StatusNames()+")")
		q = fs.String("q", "", "search order id, customer handle or phone")
		limit = fs.Int("limit", 100, "at most this many orders (max 500)")
	case "show":
	default:
		return &exitError{code: 2, msg: ordersUsage}
	}
	id, rest := splitPositional(rest)
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if id == "" && fs.NArg() > 0 {
		id = fs.Arg(0)
	}
	switch sub {
	case "show":
		if id == "" {
			return &exitError{code: 2, msg: "usage: paysync orders show ID [--json]"}
		}
	case "create":
		if *file == "" && id != "" {
			*file = id // "orders create order.json"
		}
		if *file == "" {
			return &exitError{code: 2, msg: "usage: paysync orders create --file FILE.json (the body of POST /v1/orders; - reads stdin)"}
		}
	}
	a, err := openApp(ctx, env)
	if err != nil {
		return err
	}
	defer a.Close()
	switch sub {
	case "create":
		return ordersCreate(ctx, env, a, *file, *asJSON)
	case "show":
		return ordersShow(ctx, env, a, id, *asJSON)
	default:
		return ordersList(ctx, env, a, core.Status(*status), *q, *limit, *asJSON)
	}
}

// printJSON prints v the way the HTTP API does.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// userError turns an error into the one line a user sees (internal details
// are logged by the layers below, never printed).
func userError(cmd string, err error) error {
	return &exitError{code: 1, msg: "paysync " + cmd + ": " + core.ErrorMessage(err)}
}

func ordersCreate(ctx context.Context, env *cmdEnv, a *app, file string, asJSON bool) error {
	var r io.Reader
	if file == "-" {
		r = os.Stdin
	} else {
		f, err := os.Open(file)
		if err != nil {
			return &exitError{code: 2, msg: fmt.Sprintf("paysync orders create: cannot read %s: %v", file, err)}
		}
		defer f.Close()
		r = f
	}
	// Read as POST /v1/orders reads its body, by the same code.
	body, err := io.ReadAll(io.LimitReader(r, httpapi.MaxBodyBytes+1))
	if err != nil {
		return &exitError{code: 2, msg: fmt.Sprintf("paysync orders create: cannot read %s: %v", file, err)}
	}
	if len(body) > httpapi.MaxBodyBytes {
		return &exitError{code: 2, msg: fmt.Sprintf("paysync orders create: %s is larger than %d bytes", file, httpapi.MaxBodyBytes)}
	}
	var req httpapi.CreateOrderRequest
	if err := httpapi.DecodeJSON(body, &req); err != nil {
		return &exitError{code: 2, msg: fmt.Sprintf("paysync orders create: %s is not an order body: %s (see POST /v1/orders in docs/api.md)", file, core.ErrorMessage(err))}
	}
	o, err := req.Order(time.Now())
	if err != nil {
		return userError("orders create", err)
	}
	provs, ps := buildProviders(ctx, a.cfg, a.store, a.log, nil)
	if len(ps) > 0 {
		return problemsExit(ps)
	}
	svc, err := newPayments(a, provs)
	if err != nil {
		return userError("orders create", err)
	}
	defer svc.Close()
	got, created, err := svc.CreateOrder(ctx, o)
	if err != nil && got.ID == "" {
		return userError("orders create", err)
	}
	if asJSON {
		if perr := printJSON(env.stdout, got); perr != nil {
			return perr
		}
	} else {
		verb := "created"
		if !created {
			verb = "already exists:"
		}
		p := printer(a.cfg)
		fmt.Fprintf(env.stdout, "%s order %s (%s, %s)\n", verb, got.ID, p.Status(got.Status), p.Money(got.AmountMinor, got.Currency))
		if got.PaymentURL != "" {
			fmt.Fprintf(env.stdout, "payment link: %s\n", got.PaymentURL)
		}
		if got.ExpiresAt != nil {
			fmt.Fprintf(env.stdout, "expires: %s\n", p.Time(*got.ExpiresAt))
		}
	}
	if err != nil {
		return userError("orders create", err)
	}
	return nil
}

func ordersShow(ctx context.Context, env *cmdEnv, a *app, id string, asJSON bool) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "/v1/orders/"+id, nil)
	v, err := httpapi.LoadOrderView(req, a.store, id)
	if err != nil {
		return userError("orders show", err)
	}
	if asJSON {
		return printJSON(env.stdout, v)
	}
	o := v.Order
	w := env.stdout
	p := printer(a.cfg)
	fmt.Fprintf(w, "order      %s\nstatus     %s (%s, version %d)\namount     %s\n", o.ID, p.Status(o.Status), o.Status, o.Version, p.Money(o.AmountMinor, o.Currency))
	if o.RefundedMinor > 0 {
		fmt.Fprintf(w, "refunded   %s\n", p.Money(o.RefundedMinor, o.Currency))
	}
	c := o.Customer
	fmt.Fprintf(w, "customer   %s\n", strings.Join(nonEmpty(c.Name, "@"+strings.TrimPrefix(c.Handle, "@"), c.Phone, c.Email), ", "))
	fmt.Fprintf(w, "created    %s\n", p.Time(o.CreatedAt))
	if o.PaidAt != nil {
		fmt.Fprintf(w, "paid       %s\n", p.Time(*o.PaidAt))
	}
	if via := present.PaidThrough(v.Journal); via != "" && via != o.Provider {
		// The money came through another provider than the link's (a bank
		// transfer for a VPOS.am link): name the one that took it.
		fmt.Fprintf(w, "provider   %s\n", strings.Join(nonEmpty(providerTitle(a.cfg, via), o.ProviderRef), " "))
		if o.Provider != "" {
			fmt.Fprintf(w, "link by    %s\n", providerTitle(a.cfg, o.Provider))
		}
	} else if o.Provider != "" {
		fmt.Fprintf(w, "provider   %s\n", strings.Join(nonEmpty(providerTitle(a.cfg, o.Provider), o.ProviderRef), " "))
	}
	if o.PaymentURL != "" {
		fmt.Fprintf(w, "link       %s\n", o.PaymentURL)
	}
	if o.ExpiresAt != nil {
		fmt.Fprintf(w, "expires    %s\n", p.Time(*o.ExpiresAt))
	}
	steps := p.Timeline(o, v.Journal, func(name string) string { return providerTitle(a.cfg, name) })
	if why := reviewWhy(o, v.Journal, steps); why != "" {
		// In words, as the console says it: the raw reason may quote the
		// provider's codes; --json has it as it was recorded.
		fmt.Fprintf(w, "reason     %s\n", why)
	}
	if o.Orphan {
		fmt.Fprintln(w, "orphan     yes: a payment for an order paysync did not know")
	}
	fmt.Fprintln(w, "\njournal:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  TIME\tWHAT\tVERDICT\tSTATUS\tDETAILS")
	for _, st := range steps {
		details := strings.Join(nonEmpty(st.Refund, st.Detail), "; ")
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", st.When, st.What, st.Verdict, st.Change, details)
	}
	tw.Flush()
	if len(v.Deliveries) > 0 {
		links, _ := a.store.ListLinks(ctx, o.ID)
		fmt.Fprintln(w, "\ndeliveries:")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  CONNECTOR\tSTATE\tFAILED TRIES\tRECORD\tLAST ERROR")
		for _, d := range v.Deliveries {
			record := d.ExternalID
			for _, l := range links {
				if spec, ok := connectors.Lookup(l.Connector); ok && l.Connector == d.Connector && spec.RecordURL != nil {
					if u := spec.RecordURL(a.cfg.Connectors.Get(l.Connector), l); u != "" {
						record = u
					}
				}
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\n", d.Connector, p.DeliveryState(d.State), d.Failed, record, d.LastError)
		}
		tw.Flush()
	}
	return nil
}

// reviewWhy is why an order in manual review waits for a person, in words:
// the Why of the journal entry that sent it there.
func reviewWhy(o core.Order, entries []core.JournalEntry, steps []present.Step) string {
	if o.Status != core.StatusManualReview {
		return ""
	}
	for i := len(entries) - 1; i >= 0 && i < len(steps); i-- {
		if entries[i].StatusAfter == core.StatusManualReview && entries[i].StatusBefore != core.StatusManualReview {
			return steps[i].Why
		}
	}
	return ""
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" && s != "@" {
			out = append(out, s)
		}
	}
	return out
}

func ordersList(ctx context.Context, env *cmdEnv, a *app, status core.Status, q string, limit int, asJSON bool) error {
	if status != "" && !status.Valid() {
		return &exitError{code: 2, msg: fmt.Sprintf("paysync orders list: unknown status %q (%s)", status, core.StatusNames())}
	}
	orders, err := a.store.ListOrders(ctx, core.OrderQuery{Status: status, Q: q, Limit: limit})
	if err != nil {
		return userError("orders list", err)
	}
	if orders == nil {
		orders = []core.Order{}
	}
	if asJSON {
		return printJSON(env.stdout, map[string]any{"orders": orders})
	}
	if len(orders) == 0 {
		fmt.Fprintln(env.stdout, "no orders")
		return nil
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	p := printer(a.cfg)
	fmt.Fprintln(tw, "ORDER\tSTATUS\tAMOUNT\tCUSTOMER\tPROVIDER\tCREATED")
	for _, o := range orders {
		who := o.Customer.Handle
		if who == "" {
			who = o.Customer.Name
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", o.ID, p.Status(o.Status), p.Money(o.AmountMinor, o.Currency), who, providerTitle(a.cfg, o.Provider), p.Time(o.CreatedAt))
	}
	return tw.Flush()
}
