package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/httpapi"
	"github.com/paysync/paysync/internal/standardwebhooks"
	"github.com/paysync/paysync/present"
	"github.com/paysync/paysync/providers"
	"github.com/paysync/paysync/sandbox"
)

// Options is where the traffic goes and how fast.
type Options struct {
	// API is paysync's base URL, e.g. http://127.0.0.1:8080.
	API string
	// Token is the admin token the manager's chatbot sends.
	Token string
	// GenericSecret signs the shop's own report of a bank transfer
	// (POST /webhooks/generic, PAYSYNC_GENERIC_WEBHOOK_SECRET).
	GenericSecret string
	// Sandbox holds the providers' checkouts and the CRMs.
	Sandbox *sandbox.Sandbox
	// Connectors are the CRM connectors paysync delivers to.
	Connectors []string
	// Scale multiplies the pauses of the story: 1 spreads it over about a
	// minute, 0 runs it as fast as paysync settles it.
	Scale float64
	// ExpiresIn is the payment window of the orders left to expire.
	ExpiresIn time.Duration
	// Out hears the story as it happens.
	Out     io.Writer
	Printer present.Printer
	// Settle bounds the wait for any one thing paysync does (a payment
	// confirmed, an order delivered to every CRM); default 30s.
	Settle time.Duration
}

// Result is where an order ended.
type Result struct {
	Order Order
	View  httpapi.OrderView
}

// Run creates the sample orders, plays each story and waits until paysync
// has settled every order and delivered it to every CRM.
func Run(ctx context.Context, o Options) ([]Result, error) {
	if o.Settle == 0 {
		o.Settle = 30 * time.Second
	}
	r := &runner{Options: o, start: time.Now(), client: &http.Client{Timeout: 10 * time.Second}}
	orders := Orders()
	errs := make([]error, len(orders))
	var wg sync.WaitGroup
	for i, ord := range orders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.pause(ctx, time.Duration(i)*createEvery); err != nil {
				errs[i] = err
				return
			}
			if err := r.play(ctx, ord); err != nil {
				errs[i] = fmt.Errorf("%s: %w", ord.ID, err)
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out := make([]Result, len(orders))
	for i, ord := range orders {
		v, err := r.waitFor(ctx, ord.ID, "delivered to every CRM", func(v httpapi.OrderView) bool { return r.delivered(v) })
		if err != nil {
			return nil, err
		}
		out[i] = Result{Order: ord, View: v}
	}
	return out, nil
}

type runner struct {
	Options
	start  time.Time
	client *http.Client
	mu     sync.Mutex // one line of the story at a time
}

// say prints one line of the story, stamped with the time since the start.
func (r *runner) say(o Order, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := time.Since(r.start).Round(time.Second)
	fmt.Fprintf(r.Out, "  %d:%02d  %-8s @%-15s %s\n", int(d.Minutes()), int(d.Seconds())%60, o.ID, o.Customer.Handle, fmt.Sprintf(format, args...))
}

func (r *runner) pause(ctx context.Context, d time.Duration) error {
	d = time.Duration(float64(d) * r.Scale)
	if d <= 0 {
		return ctx.Err()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func (r *runner) providerTitle(name string) string { return providers.Title(name) }

// play is one order's story.
func (r *runner) play(ctx context.Context, o Order) error {
	p := r.Printer
	expiresIn := "24h"
	if o.Story == Expires {
		expiresIn = r.ExpiresIn.String()
	}
	if o.Says != "" {
		if err := r.writeInDirect(ctx, o); err != nil {
			return err
		}
	}
	body := map[string]any{"order_id": o.ID, "amount_minor": o.Amount(), "currency": "AMD", "provider": o.Provider,
		"expires_in": expiresIn, "customer": o.Customer, "items": o.Items,
		"delivery": map[string]any{"method": "courier", "address": o.Address + ", Yerevan"}}
	var created core.Order
	if err := r.call(ctx, http.MethodPost, "/v1/orders", body, &created); err != nil {
		return fmt.Errorf("creating the order: %w", err)
	}
	r.say(o, "%s for %s: order created, %s link sent", p.Money(o.Amount(), "AMD"), o.Items[0].Name, r.providerTitle(o.Provider))
	if o.Says != "" && created.PaymentURL != "" {
		// The customer pays from the link paysync sent in their thread.
		if err := r.waitInThread(ctx, o, created.PaymentURL); err != nil {
			return err
		}
		r.say(o, "gets the payment link in Direct")
	}
	if o.Story == Unpaid {
		return nil
	}
	if o.Story == Expires {
		r.say(o, "left unpaid; the link expires in %s", r.ExpiresIn)
		_, err := r.waitFor(ctx, o.ID, "expired", r.status(core.StatusExpired), r.ExpiresIn)
		if err == nil {
			r.say(o, "not paid in time → %s", p.Status(core.StatusExpired))
		}
		return err
	}
	if err := r.pause(ctx, actAfter); err != nil {
		return err
	}
	switch o.Story {
	case Declined:
		if err := r.onCheckout(o, sandbox.Checkout.Fail); err != nil {
			return err
		}
		return r.expect(ctx, o, core.StatusFailed, "card declined on the %s checkout", r.providerTitle(o.Provider))
	case ShortTransfer:
		paid := o.Amount() - ShortBy
		if err := r.transfer(ctx, o, paid); err != nil {
			return err
		}
		return r.expect(ctx, o, core.StatusManualReview, "paid %s by bank transfer instead of %s", p.Money(paid, "AMD"), p.Money(o.Amount(), "AMD"))
	}
	if err := r.onCheckout(o, sandbox.Checkout.Pay); err != nil {
		return err
	}
	if err := r.expect(ctx, o, core.StatusPaid, "paid on the %s checkout", r.providerTitle(o.Provider)); err != nil {
		return err
	}
	switch o.Story {
	case PartRefund:
		if err := r.pause(ctx, refundAfter); err != nil {
			return err
		}
		back := o.Amount() / 3
		if err := r.refund(o, back); err != nil {
			return err
		}
		return r.expect(ctx, o, core.StatusPartiallyRefunded, "%s refunded (one item returned)", p.Money(back, "AMD"))
	case FullRefund:
		if err := r.pause(ctx, refundAfter); err != nil {
			return err
		}
		if err := r.refund(o, 0); err != nil {
			return err
		}
		return r.expect(ctx, o, core.StatusRefunded, "all of it refunded (order cancelled)")
	}
	return nil
}

// chat is the messaging double paysync writes to, nil when none is on.
func (r *runner) chat() sandbox.Chat {
	for name, c := range r.Sandbox.Chats {
		if slices.Contains(r.Connectors, name) {
			return c
		}
	}
	return nil
}

// writeInDirect is the customer asking in Direct before the order: Meta
// tells paysync, and the conversation appears.
func (r *runner) writeInDirect(ctx context.Context, o Order) error {
	chat := r.chat()
	if chat == nil {
		return nil
	}
	if err := chat.CustomerSays(o.Customer.ID, o.Customer.Handle, o.Says); err != nil {
		return fmt.Errorf("writing in Direct: %w", err)
	}
	r.say(o, "writes in Instagram Direct: %q", o.Says)
	deadline := time.Now().Add(r.Settle)
	for {
		var out struct {
			Conversations []struct {
				IGSID string `json:"igsid"`
			} `json:"conversations"`
		}
		if err := r.call(ctx, http.MethodGet, "/v1/conversations", nil, &out); err == nil {
			for _, c := range out.Conversations {
				if c.IGSID == o.Customer.ID {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("paysync did not record the Direct message of %s within %s; the log says why", o.Customer.Handle, r.Settle)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitInThread waits until text is in the customer's Direct thread.
func (r *runner) waitInThread(ctx context.Context, o Order, text string) error {
	chat := r.chat()
	if chat == nil {
		return nil
	}
	deadline := time.Now().Add(r.Settle)
	for {
		for _, line := range chat.Transcript(o.Customer.ID) {
			if strings.Contains(line, text) {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the payment link of %s did not reach @%s's Direct thread within %s; the log says why", o.ID, o.Customer.Handle, r.Settle)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Threads prints the Direct thread of each order that began in Direct, as
// the customer sees it: their question, the link, the confirmation.
func Threads(w io.Writer, sb *sandbox.Sandbox, enabled []string, results []Result) {
	for name, chat := range sb.Chats {
		if !slices.Contains(enabled, name) {
			continue
		}
		for _, res := range results {
			if res.Order.Says == "" {
				continue
			}
			fmt.Fprintf(w, "\n  %s, @%s:\n", res.Order.ID, res.Order.Customer.Handle)
			for _, line := range chat.Transcript(res.Order.Customer.ID) {
				fmt.Fprintf(w, "    %s\n", line)
			}
		}
	}
}

// onCheckout does what the customer does on the order's checkout page.
func (r *runner) onCheckout(o Order, act func(c sandbox.Checkout, orderID string) error) error {
	c, ok := r.Sandbox.Checkout(o.Provider)
	if !ok {
		return fmt.Errorf("the sandbox has no %s checkout", r.providerTitle(o.Provider))
	}
	if err := act(c, o.ID); err != nil {
		return fmt.Errorf("the sandbox %s checkout: %w", r.providerTitle(o.Provider), err)
	}
	return nil
}

// refund refunds amount (0: all of it) from the provider's back office.
func (r *runner) refund(o Order, amount int64) error {
	return r.onCheckout(o, func(c sandbox.Checkout, id string) error { return c.Refund(id, amount) })
}

// transfer is the shop's own backend reporting a bank transfer, signed
// the Standard Webhooks way, as /webhooks/generic expects.
func (r *runner) transfer(ctx context.Context, o Order, amount int64) error {
	id := "evt_demo_" + o.ID
	body, _ := json.Marshal(map[string]any{"event_id": id, "order_id": o.ID, "status": "paid", "amount_minor": amount,
		"currency": "AMD", "provider_ref": "transfer-" + o.ID, "occurred_at": time.Now().UTC().Format(time.RFC3339)})
	ts := time.Now().Unix()
	sig, err := standardwebhooks.Sign(r.GenericSecret, id, ts, body)
	if err != nil {
		return err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, r.API+"/webhooks/generic", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", fmt.Sprint(ts))
	req.Header.Set("webhook-signature", sig)
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		return fmt.Errorf("the bank transfer webhook answered HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return nil
}

// expect waits until paysync has moved the order to st, then tells it.
func (r *runner) expect(ctx context.Context, o Order, st core.Status, format string, args ...any) error {
	v, err := r.waitFor(ctx, o.ID, string(st), r.status(st))
	if err != nil {
		return err
	}
	why := ""
	if st == core.StatusManualReview && v.Order.Reason != "" {
		why = " (" + v.Order.Reason + ")"
	}
	r.say(o, "%s → %s%s", fmt.Sprintf(format, args...), r.Printer.Status(st), why)
	return nil
}

func (r *runner) status(st core.Status) func(httpapi.OrderView) bool {
	return func(v httpapi.OrderView) bool { return v.Order.Status == st }
}

// delivered reports whether every CRM has the order's latest version (or
// gave up on it: a dead delivery is shown in the summary, with its error).
func (r *runner) delivered(v httpapi.OrderView) bool {
	if len(v.Deliveries) < len(r.Connectors) {
		return false
	}
	for _, d := range v.Deliveries {
		if d.State == core.DeliveryPending {
			return false
		}
	}
	return true
}

// waitFor polls the order until cond holds, for at most the settle time
// plus extra.
func (r *runner) waitFor(ctx context.Context, id, what string, cond func(httpapi.OrderView) bool, extra ...time.Duration) (httpapi.OrderView, error) {
	limit := r.Settle
	for _, d := range extra {
		limit += d
	}
	deadline := time.Now().Add(limit)
	for {
		var v httpapi.OrderView
		err := r.call(ctx, http.MethodGet, "/v1/orders/"+id, nil, &v)
		if err == nil && cond(v) {
			return v, nil
		}
		if ctx.Err() != nil {
			return v, ctx.Err()
		}
		if time.Now().After(deadline) {
			if err != nil {
				return v, fmt.Errorf("waiting for %s %s: %w", id, what, err)
			}
			return v, fmt.Errorf("%s is %s, not %s, after %s; the log says why", id, v.Order.Status, what, limit)
		}
		select {
		case <-ctx.Done():
			return v, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// call sends one admin API request and decodes the answer into out.
func (r *runner) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.API+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+r.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&e)
		return fmt.Errorf("%s %s answered HTTP %d: %s", method, path, resp.StatusCode, e.Error.Message)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// Summary prints each order's status and its record in every CRM double.
func Summary(w io.Writer, p present.Printer, sb *sandbox.Sandbox, enabled []string, results []Result) error {
	crms := slices.DeleteFunc(sb.CRMNames(), func(n string) bool { return !slices.Contains(enabled, n) })
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	header := "  ORDER\tCUSTOMER\tAMOUNT\tSTATUS"
	for _, name := range crms {
		title := name
		if spec, ok := connectors.Lookup(name); ok {
			title = spec.Title
		}
		header += "\t" + strings.ToUpper(title)
	}
	fmt.Fprintln(tw, header)
	var problems []string
	for _, res := range results {
		o := res.View.Order
		status := p.Status(o.Status)
		if o.RefundedMinor > 0 && o.Status == core.StatusPartiallyRefunded {
			status += " (" + p.Money(o.RefundedMinor, o.Currency) + " back)"
		}
		line := fmt.Sprintf("  %s\t%s\t%s\t%s", o.ID, res.Order.Customer.Name, p.Money(o.AmountMinor, o.Currency), status)
		desc := sb.Describe(o.ID)
		for _, name := range crms {
			d := desc[name]
			if d == "" {
				d = "-"
			}
			line += "\t" + d
		}
		fmt.Fprintln(tw, line)
		for _, d := range res.View.Deliveries {
			if d.State == core.DeliveryDead {
				problems = append(problems, fmt.Sprintf("  %s: delivery to %s stopped: %s", o.ID, d.Connector, d.LastError))
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, l := range problems {
		fmt.Fprintln(w, l)
	}
	return nil
}
