package bench

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/paysync/paysync/connectors/amocrm"
	"github.com/paysync/paysync/connectors/bitrix24"
	"github.com/paysync/paysync/connectors/sheets"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/mapping"
	amosandbox "github.com/paysync/paysync/sandbox/amocrm"
	b24sandbox "github.com/paysync/paysync/sandbox/bitrix24"
	sheetsandbox "github.com/paysync/paysync/sandbox/sheets"
)

// DeliveryRow is one connector writing a backlog of paid orders (each
// linked to its CRM record already, pending there) under its CRM's
// documented limits, as the connector benchmarks do: deliveries of the
// connector's batch size, one after the other, from a fresh client.
type DeliveryRow struct {
	Connector string `json:"connector"`
	// Limits are the CRM's documented limits the double enforced.
	Limits    string  `json:"limits"`
	Records   int     `json:"records"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"records_per_s"`
	Requests  int     `json:"requests"`
	// Units counts what the limit counts (Bitrix24: commands in its
	// batches; amoCRM and Google Sheets: requests) per record.
	UnitsPerRecord float64 `json:"units_per_record"`
	Unit           string  `json:"unit"`
	// Ceiling is the records a second the limit allows at that cost:
	// units allowed a second ÷ units per record.
	Ceiling float64 `json:"ceiling_per_s"`
	Ratio   float64 `json:"ratio"`
	Goal    float64 `json:"goal_ratio"`
	// Binding is false when the run stayed within what the limit lets
	// through at once (Google counts a minute), so the ratio says nothing.
	Binding bool   `json:"binding"`
	Met     bool   `json:"met"`
	Note    string `json:"note,omitempty"`
}

const deliveryGoal = 0.9

func (r *run) delivery(ctx context.Context) error {
	for _, d := range []struct {
		name string
		n    int
		fn   func(context.Context, int) (DeliveryRow, error)
	}{
		{bitrix24.Name, r.pick(100, 1000), deliverBitrix24},
		{amocrm.Name, r.pick(500, 5000), deliverAmoCRM},
		{sheets.Name, r.pick(500, 5000), deliverSheets},
	} {
		r.progress("delivery to %s: %d paid orders under its limits", d.name, d.n)
		row, err := d.fn(ctx, d.n)
		if err != nil {
			return fmt.Errorf("%s: %w", d.name, err)
		}
		row.Connector, row.Records, row.Goal = d.name, d.n, deliveryGoal
		row.Ratio = round2(row.PerSecond / row.Ceiling)
		row.Met = row.Binding && row.Ratio >= row.Goal
		r.rep.Delivery = append(r.rep.Delivery, row)
		r.progress("  %.0f records/s, ceiling %.0f/s (%.2f %s a record): %.2fx%s", row.PerSecond, row.Ceiling, row.UnitsPerRecord, row.Unit, row.Ratio,
			map[bool]string{true: "", false: " (" + row.Note + ")"}[row.Binding])
	}
	return nil
}

// serve serves h on a loopback port until stop is called.
func serve(h http.Handler) (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

// crmOrder is a pending order of its own customer.
func crmOrder(prefix string, i int) core.Order {
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Microsecond)
	return core.Order{ID: prefix + strconv.Itoa(i), Status: core.StatusPending, AmountMinor: 1500000, Currency: "AMD",
		Customer: core.Customer{Handle: "buyer" + strconv.Itoa(i), Name: "Ani Petrosyan",
			Phone: fmt.Sprintf("+37493%06d", i), Email: "buyer" + strconv.Itoa(i) + "@example.com"},
		Items:    []core.Item{{SKU: "SKU-1", Name: "Silver ring", Quantity: 1, PriceMinor: 1500000}},
		Provider: "vpos", CreatedAt: at, UpdatedAt: at, StatusChangedAt: at, Version: 1}
}

func createdEntry(o core.Order) []core.JournalEntry {
	return []core.JournalEntry{{OrderID: o.ID, Source: core.SourceAPI, Verdict: core.VerdictCreated,
		StatusAfter: core.StatusPending, OrderVersion: o.Version, CreatedAt: o.CreatedAt}}
}

// paidDelivery is o moved to paid, with the link its creation left.
func paidDelivery(connector string, o core.Order, res core.DeliveryResult) core.Delivery {
	link := &core.CRMLink{Connector: connector, OrderID: o.ID, ExternalID: res.ExternalID, SyncedVersion: o.Version,
		SyncedStatus: o.Status, Data: res.LinkData}
	at := o.UpdatedAt.Add(time.Minute)
	o.Status, o.Version, o.ProviderRef = core.StatusPaid, o.Version+1, "REF-"+o.ID
	o.UpdatedAt, o.StatusChangedAt, o.PaidAt = at, at, &at
	return core.Delivery{Order: o, Link: link, Transitions: []core.JournalEntry{{OrderID: o.ID, Source: core.SourceWebhook,
		Verdict: core.VerdictAccepted, StatusBefore: core.StatusPending, StatusAfter: core.StatusPaid,
		AmountMinor: o.AmountMinor, Currency: o.Currency, OrderVersion: o.Version, CreatedAt: at}}}
}

// deliverAll delivers ds in batches of c's size and fails on any error.
func deliverAll(ctx context.Context, c core.Connector, ds []core.Delivery) ([]core.DeliveryResult, error) {
	out := make([]core.DeliveryResult, 0, len(ds))
	for i := 0; i < len(ds); i += c.MaxBatch() {
		batch := ds[i:min(i+c.MaxBatch(), len(ds))]
		dctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		res := c.Deliver(dctx, batch)
		cancel()
		for j, r := range res {
			if r.Err != nil {
				return nil, fmt.Errorf("order %s: %w", batch[j].Order.ID, r.Err)
			}
		}
		out = append(out, res...)
	}
	return out, nil
}

// backlog creates n records in the CRM through setup and returns them as
// paid deliveries.
func backlog(ctx context.Context, name string, setup core.Connector, n int) ([]core.Delivery, error) {
	ds := make([]core.Delivery, n)
	for i := range ds {
		o := crmOrder("DLV-", i)
		ds[i] = core.Delivery{Order: o, Transitions: createdEntry(o)}
	}
	res, err := deliverAll(ctx, setup, ds)
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	for i := range ds {
		ds[i] = paidDelivery(name, ds[i].Order, res[i])
	}
	return ds, nil
}

// timed delivers ds through c and returns how long it took.
func timed(ctx context.Context, c core.Connector, ds []core.Delivery) (time.Duration, error) {
	start := time.Now()
	_, err := deliverAll(ctx, c, ds)
	return time.Since(start), err
}

// deliverBitrix24: the portal's leaky bucket drains 2 requests a second of
// at most 50 commands each. A fresh client assumes its burst share is spent
// (it cannot know what ran before it), so it runs at the drain rate from
// its first request: the steady state of a long backlog.
func deliverBitrix24(ctx context.Context, n int) (DeliveryRow, error) {
	row := DeliveryRow{Limits: "2 requests/s of 50 commands (leaky bucket of 50)", Binding: true}
	m, err := mapping.Shipped(bitrix24.Name)
	if err != nil {
		return row, err
	}
	portal := b24sandbox.New(b24sandbox.Options{})
	defer portal.Close()
	url, stop, err := serve(portal)
	if err != nil {
		return row, err
	}
	defer stop()
	connector := func(r rate.Limit) (core.Connector, error) {
		client, err := bitrix24.New(bitrix24.Config{WebhookURL: portal.WebhookURL(url), Rate: r})
		if err != nil {
			return nil, err
		}
		return bitrix24.NewConnector(bitrix24.ConnectorConfig{Client: client, Mapping: m})
	}
	portal.SetLimiter(1<<30, 1e9)
	setup, err := connector(rate.Inf)
	if err != nil {
		return row, err
	}
	ds, err := backlog(ctx, bitrix24.Name, setup, n)
	if err != nil {
		return row, err
	}
	portal.SetLimiter(b24sandbox.DefaultBlockThreshold, b24sandbox.DefaultDrainPerSecond)
	portal.DrainBucket()
	c, err := connector(0)
	if err != nil {
		return row, err
	}
	before := portal.Stats()
	took, err := timed(ctx, c, ds)
	if err != nil {
		return row, err
	}
	after := portal.Stats()
	if after.Rejected != before.Rejected {
		return row, fmt.Errorf("the portal refused %d requests over its limit", after.Rejected-before.Rejected)
	}
	commands := 0
	for k, v := range after.Calls {
		commands += v - before.Calls[k]
	}
	row.Seconds, row.PerSecond = round2(took.Seconds()), round2(float64(n)/took.Seconds())
	row.Requests = after.Requests - before.Requests
	row.UnitsPerRecord, row.Unit = round2(float64(commands)/float64(n)), "commands"
	row.Ceiling = round2(float64(b24sandbox.DefaultDrainPerSecond) * 50 / (float64(commands) / float64(n)))
	return row, nil
}

// deliverAmoCRM: at most 7 requests in any second; a status update is 3
// requests per delivery of up to 250 leads (verify the links, PATCH the
// leads, POST the notes). An idle account takes 7 requests at once, a burst
// a long backlog does not have: the run starts with the second's 7 spent.
func deliverAmoCRM(ctx context.Context, n int) (DeliveryRow, error) {
	row := DeliveryRow{Limits: "7 requests in any second", Binding: true}
	m, err := mapping.Shipped(amocrm.Name)
	if err != nil {
		return row, err
	}
	acc := amosandbox.New(amosandbox.Options{})
	defer acc.Close()
	url, stop, err := serve(acc)
	if err != nil {
		return row, err
	}
	defer stop()
	connector := func() (*amocrm.Client, core.Connector, error) {
		client, err := amocrm.New(amocrm.Config{BaseURL: url, Tokens: amocrm.LongLivedToken(acc.AccessToken())})
		if err != nil {
			return nil, nil, err
		}
		c, err := amocrm.NewConnector(amocrm.ConnectorConfig{Client: client, Mapping: m})
		return client, c, err
	}
	_, setup, err := connector()
	if err != nil {
		return row, err
	}
	ds, err := backlog(ctx, amocrm.Name, setup, n)
	if err != nil {
		return row, err
	}
	time.Sleep(1100 * time.Millisecond) // the setup's requests leave the window
	client, c, err := connector()
	if err != nil {
		return row, err
	}
	for range amosandbox.DefaultLimit { // the second's requests, spent
		if _, err := client.LeadsByID(ctx, []int64{1}); err != nil {
			return row, err
		}
	}
	acc.ResetStats()
	took, err := timed(ctx, c, ds)
	if err != nil {
		return row, err
	}
	st := acc.Stats()
	if st.Rejected != 0 || st.MaxPerWindow > amosandbox.DefaultLimit {
		return row, fmt.Errorf("the account refused %d requests and saw %d in one second", st.Rejected, st.MaxPerWindow)
	}
	row.Seconds, row.PerSecond = round2(took.Seconds()), round2(float64(n)/took.Seconds())
	row.Requests = st.Requests
	perRecord := float64(st.Requests) / float64(n)
	row.UnitsPerRecord, row.Unit = round2(perRecord*1000), "requests per 1,000"
	row.Ceiling = round2(float64(amosandbox.DefaultLimit) / perRecord)
	return row, nil
}

// deliverSheets: Google allows 60 write and 60 read requests a minute, and
// counts them over a minute: a backlog that needs fewer goes at once, as
// fast as the machine writes rows; only a longer one meets the limit.
func deliverSheets(ctx context.Context, n int) (DeliveryRow, error) {
	row := DeliveryRow{Limits: "60 write and 60 read requests a minute"}
	m, err := mapping.Shipped(sheets.Name)
	if err != nil {
		return row, err
	}
	clock := &skipClock{}
	doc := sheetsandbox.New(sheetsandbox.Options{Now: clock.Now, WritesPerMinute: -1, ReadsPerMinute: -1})
	defer doc.Close()
	url, stop, err := serve(doc)
	if err != nil {
		return row, err
	}
	defer stop()
	key := doc.KeyJSON(url)
	connector := func(budget int) (core.Connector, error) {
		client, err := sheets.New(sheets.Config{SpreadsheetID: doc.ID(), Key: key, Endpoint: url + "/",
			WritesPerMinute: budget, ReadsPerMinute: budget})
		if err != nil {
			return nil, err
		}
		return sheets.NewConnector(sheets.ConnectorConfig{Client: client, Mapping: m, Logger: slog.New(slog.DiscardHandler)})
	}
	setup, err := connector(-1)
	if err != nil {
		return row, err
	}
	ds, err := backlog(ctx, sheets.Name, setup, n)
	if err != nil {
		return row, err
	}
	doc.SetQuota(sheetsandbox.DefaultWritesPerMinute, sheetsandbox.DefaultReadsPerMinute)
	clock.Skip(sheetsandbox.QuotaWindow + time.Second) // the setup's requests leave the minute
	c, err := connector(0)
	if err != nil {
		return row, err
	}
	before := doc.Stats()
	took, err := timed(ctx, c, ds)
	if err != nil {
		return row, err
	}
	after := doc.Stats()
	if after.Rejected != before.Rejected {
		return row, fmt.Errorf("the spreadsheet refused %d requests over quota", after.Rejected-before.Rejected)
	}
	reads, writes := after.Reads-before.Reads, after.Writes-before.Writes
	row.Seconds, row.PerSecond = round2(took.Seconds()), round2(float64(n)/took.Seconds())
	row.Requests = after.Requests - before.Requests
	perRecord := float64(max(reads, writes)) / float64(n)
	row.UnitsPerRecord, row.Unit = round2(perRecord*1000), "requests per 1,000"
	row.Ceiling = round2(float64(sheetsandbox.DefaultReadsPerMinute) / 60 / perRecord)
	row.Binding = max(reads, writes) > sheetsandbox.DefaultReadsPerMinute
	row.Note = fmt.Sprintf("%d reads and %d writes of the minute's 60 each: the quota did not bind", reads, writes)
	return row, nil
}

// skipClock is the wall clock plus an offset that only grows: Skip stands
// for waiting, for a double that counts a quota on it.
type skipClock struct{ off atomic.Int64 }

func (c *skipClock) Now() time.Time       { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *skipClock) Skip(d time.Duration) { c.off.Add(int64(d)) }
