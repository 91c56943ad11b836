package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/sandbox"
)

func init() {
	register(command{name: "demo", usage: "serve + sandbox + sample Direct orders paid by signed webhooks, on SQLite", run: runDemo})
}

// demoOrder is a sample Direct order and what its customer does.
type demoOrder struct {
	body    map[string]any
	outcome string // paid, failed, or "" (left unpaid)
}

func demoOrders() []demoOrder {
	mk := func(id, handle, name, phone, sku, item string, qty, price int64, provider string) map[string]any {
		return map[string]any{"order_id": id, "amount_minor": qty * price, "currency": "AMD", "provider": provider, "expires_in": "24h",
			"customer": map[string]any{"handle": handle, "name": name, "phone": phone},
			"items":    []map[string]any{{"sku": sku, "name": item, "quantity": qty, "price_minor": price}},
			"delivery": map[string]any{"city": "Yerevan", "method": "courier"}}
	}
	return []demoOrder{
		{mk("IG-1001", "anna.knits", "Anna Petrosyan", "+37491000101", "SCARF-RED", "Silk scarf, red", 1, 1500000, "vpos"), "paid"},
		{mk("IG-1002", "aram_style", "Aram Hakobyan", "091 000 102", "BAG-BLK", "Leather bag", 1, 3200000, "vpos"), "paid"},
		{mk("IG-1003", "lilit.home", "Lilit Sargsyan", "+37477000103", "CANDLE-3", "Soy candle", 3, 450000, "arca"), "paid"},
		{mk("IG-1004", "davit.m", "Davit Grigoryan", "+37493000104", "MUG-01", "Ceramic mug", 2, 600000, "vpos"), "failed"},
		{mk("IG-1005", "mane.art", "Mane Avetisyan", "+37455000105", "PRINT-A3", "Art print A3", 1, 900000, "vpos"), ""},
	}
}

func runDemo(ctx context.Context, env *cmdEnv, args []string) error {
	fs := env.flags("demo")
	addr := fs.String("addr", "127.0.0.1:8080", "address paysync serves on")
	sbAddr := fs.String("sandbox-addr", "127.0.0.1:8090", "address the sandbox doubles serve on")
	once := fs.Bool("once", false, "exit after the sample traffic instead of serving on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return &exitError{code: 1, msg: fmt.Sprintf("paysync demo: cannot listen on %s: %v (pass --addr HOST:PORT)", *addr, err)}
	}
	base := "http://" + ln.Addr().String()
	sbDir, err := os.MkdirTemp("", "paysync-demo-sandbox-")
	if err != nil {
		ln.Close()
		return err
	}
	defer os.RemoveAll(sbDir)
	sb, sbSrv, err := listenSandbox(*sbAddr, sandbox.Options{PaysyncURL: base, Dir: sbDir})
	if err != nil {
		ln.Close()
		return err
	}
	defer sbSrv.Close()
	defer sb.Close()

	// The demo points every provider and connector at the sandbox and keeps
	// its data on SQLite, whatever the environment says.
	token := os.Getenv("PAYSYNC_ADMIN_TOKEN")
	if token == "" {
		token = "demo"
	}
	demoEnv := sb.Env()
	demoEnv["PAYSYNC_ADMIN_TOKEN"] = token
	demoEnv["PAYSYNC_DATABASE_URL"] = ""
	demoEnv["PAYSYNC_PUBLIC_URL"] = base
	demoEnv["PAYSYNC_HTTP_ADDR"] = ln.Addr().String()
	for k, v := range demoEnv {
		os.Setenv(k, v)
	}
	a, err := openApp(ctx, env)
	if err != nil {
		ln.Close()
		return err
	}
	defer a.Close()
	d, err := startDaemon(ctx, a, ln)
	if err != nil {
		return err
	}
	out := env.stdout
	fmt.Fprintf(out, "paysync demo: serving on %s (SQLite at %s), sandbox doubles on %s\n\n", base, a.cfg.DataDir, sbSrv.Addr)
	if err := demoTraffic(ctx, env, a, sb, base, token); err != nil {
		d.shutdown()
		return err
	}
	if *once {
		return d.shutdown()
	}
	fmt.Fprintf(out, "\nOpen the operator console: %s/ui/ and log in with the admin token %q.\n", base, token)
	fmt.Fprintf(out, "Or look an order up:\n  curl -H 'Authorization: Bearer %s' %s/v1/orders/IG-1001\n", token, base)
	fmt.Fprintf(out, "List orders in review or search:  %s/v1/orders?status=manual_review   %s/v1/orders?q=anna\n", base, base)
	fmt.Fprintln(out, "Press Ctrl-C to stop.")
	<-ctx.Done()
	return d.shutdown()
}

// demoTraffic creates the sample orders through the API, has their customers
// pay (or fail) on the sandbox checkouts, and waits until paysync has
// verified every payment and synced every order to the sandbox Bitrix24.
func demoTraffic(ctx context.Context, env *cmdEnv, a *app, sb *sandbox.Sandbox, base, token string) error {
	out := env.stdout
	p := printer(a.cfg)
	orders := demoOrders()
	fmt.Fprintln(out, "1. A manager creates each Direct order; paysync asks the provider for a payment link:")
	for _, o := range orders {
		b, _ := json.Marshal(o.body)
		req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/orders", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		var created core.Order
		json.NewDecoder(resp.Body).Decode(&created)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("creating %s: HTTP %d", o.body["order_id"], resp.StatusCode)
		}
		fmt.Fprintf(out, "   %-8s @%-12s %14s  %s\n", created.ID, created.Customer.Handle, p.Money(created.AmountMinor, created.Currency), created.PaymentURL)
	}
	fmt.Fprintln(out, "\n2. Customers pay on the checkout pages; the providers send signed webhooks and callbacks:")
	for _, o := range orders {
		id := o.body["order_id"].(string)
		var err error
		switch {
		case o.outcome == "paid" && o.body["provider"] == "arca":
			err = sb.ArCa.Pay(id)
		case o.outcome == "paid":
			err = sb.VPOS.Pay(id)
		case o.outcome == "failed":
			err = sb.VPOS.Fail(id)
		default:
			continue
		}
		if err != nil {
			return fmt.Errorf("sandbox %s %s: %w", o.outcome, id, err)
		}
		fmt.Fprintf(out, "   %-8s %s\n", id, o.outcome)
	}
	// Wait until every payment is verified and every order synced.
	deadline := time.Now().Add(60 * time.Second)
	for {
		done := true
		for _, o := range orders {
			id := o.body["order_id"].(string)
			got, err := a.store.GetOrder(ctx, id)
			want := core.Status(o.outcome)
			if want == "" {
				want = core.StatusPending
			}
			if err != nil || got.Status != want {
				done = false
				break
			}
			recs, _ := a.store.OrderDeliveries(ctx, id)
			for _, r := range recs {
				if r.State == core.DeliveryPending {
					done = false
				}
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the demo traffic did not settle within a minute; see the log above")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	fmt.Fprintln(out, "\n3. paysync verified each payment, journaled it, and synced the CRMs through the outbox:")
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	crms := sb.CRMNames()
	header := "   ORDER\tSTATUS\tAMOUNT\tJOURNAL"
	for _, name := range crms {
		if spec, ok := connectors.Lookup(name); ok && slices.Contains(a.cfg.EnabledConnectors(), name) {
			header += "\t" + strings.ToUpper(spec.Title)
		}
	}
	fmt.Fprintln(tw, header)
	for _, o := range orders {
		id := o.body["order_id"].(string)
		got, _ := a.store.GetOrder(ctx, id)
		j, _ := a.store.ListJournal(ctx, id)
		var verdicts []string
		for _, e := range j {
			verdicts = append(verdicts, p.Verdict(e.Verdict))
		}
		line := fmt.Sprintf("   %s\t%s\t%s\t%s", id, p.Status(got.Status), p.Money(got.AmountMinor, got.Currency), strings.Join(verdicts, " → "))
		desc := sb.Describe(id)
		for _, name := range crms {
			if slices.Contains(a.cfg.EnabledConnectors(), name) {
				d := desc[name]
				if d == "" {
					d = "-"
				}
				line += "\t" + d
			}
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}
