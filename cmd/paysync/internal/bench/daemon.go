package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/paysync/paysync/connectors/amocrm"
	"github.com/paysync/paysync/connectors/bitrix24"
	"github.com/paysync/paysync/connectors/sheets"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/mapping"
	amosandbox "github.com/paysync/paysync/sandbox/amocrm"
	b24sandbox "github.com/paysync/paysync/sandbox/bitrix24"
	sheetsandbox "github.com/paysync/paysync/sandbox/sheets"
)

// LatencyRow is the time from sending a paid webhook to the CRM storing
// the order as paid, for one CRM.
type LatencyRow struct {
	Connector string  `json:"connector"`
	Events    int     `json:"events"`
	Rate      int     `json:"rate_per_s"`
	P50ms     float64 `json:"p50_ms"`
	P99ms     float64 `json:"p99_ms"`
	MaxMs     float64 `json:"max_ms"`
	Missing   int     `json:"missing"` // not written when the run gave up waiting
	GoalP99ms float64 `json:"goal_p99_ms"`
	Met       bool    `json:"met"`
}

// BacklogResult is events queued while every CRM was down, then drained.
type BacklogResult struct {
	Events        int          `json:"events"`
	Orders        int          `json:"orders"`
	OutageSeconds float64      `json:"outage_s"`
	CRMs          []BacklogCRM `json:"crms"`
}

// BacklogCRM is one CRM's share of the drain, timed from the outage's end.
type BacklogCRM struct {
	Connector string `json:"connector"`
	// FirstRequestSeconds is when the CRM heard from paysync again: the
	// failures during the outage opened the connector's circuit breaker
	// (5 s cool-down; a probe that goes through makes the waiting records
	// due) or put its records in backoff (5 s, then 30 s).
	FirstRequestSeconds float64 `json:"first_request_s"`
	DrainSeconds        float64 `json:"drain_s"` // until no record was pending
	Requests            int     `json:"requests"`
	RequestsPerEvent    float64 `json:"requests_per_event"`
}

// Footprint is the real binary's size, start and memory.
type Footprint struct {
	BinaryBytes    int64   `json:"binary_bytes"`
	StartToReadyMs float64 `json:"start_to_ready_ms"`
	RSSIdleMiB     float64 `json:"rss_idle_mib"`
	RSSLoadMiB     float64 `json:"rss_load_mib"` // the peak (VmHWM) after the load
	LoadWebhooks   int     `json:"load_webhooks"`
	GoalIdleMiB    float64 `json:"goal_rss_idle_mib"`
	GoalLoadMiB    float64 `json:"goal_rss_load_mib"`
	Met            bool    `json:"met"`
}

const (
	e2eRate      = 50
	e2eGoalP99ms = 250
	goalIdleMiB  = 60
	goalLoadMiB  = 150
	adminToken   = "bench-admin-token"
)

// crms are the doubles the daemon writes to, with what the run watches.
type crms struct {
	portal *b24sandbox.Portal
	acc    *amosandbox.Account
	doc    *sheetsandbox.Spreadsheet
	clock  *skipClock // the spreadsheet's: it counts its quota on it
	gates  map[string]*gate
	env    map[string]string
	stops  []func()

	b24Paid, sheetsPaid string // what a paid order shows in each

	mu   sync.Mutex
	seen map[string]map[string]time.Time // connector -> order -> when stored as paid
	deal map[int]time.Time               // Bitrix24 deal id -> when moved to the paid stage
}

// gate stands in front of a double: it counts requests and, during an
// outage, answers 502 (a proxy in front of a CRM that is down) without letting them through.
type gate struct {
	h        http.Handler
	down     atomic.Bool
	requests atomic.Int64
	mu       sync.Mutex
	first    time.Time // the first request since the last reset
	last     time.Time
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.down.Load() {
		http.Error(w, "bad gateway (bench outage)", http.StatusBadGateway)
		return
	}
	g.requests.Add(1)
	now := time.Now()
	g.mu.Lock()
	if g.first.IsZero() {
		g.first = now
	}
	g.last = now
	g.mu.Unlock()
	g.h.ServeHTTP(w, r)
}

func (g *gate) reset() {
	g.requests.Store(0)
	g.mu.Lock()
	g.first, g.last = time.Time{}, time.Time{}
	g.mu.Unlock()
}

func (g *gate) span() (first, last time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.first, g.last
}

func startCRMs(dir string) (*crms, error) {
	c := &crms{gates: map[string]*gate{}, clock: &skipClock{}, seen: map[string]map[string]time.Time{}, deal: map[int]time.Time{}}
	for _, name := range []string{bitrix24.Name, amocrm.Name, sheets.Name} {
		c.seen[name] = map[string]time.Time{}
	}
	var err error
	if c.b24Paid, err = paidStage(bitrix24.Name); err != nil {
		return nil, err
	}
	if c.sheetsPaid, err = paidStage(sheets.Name); err != nil {
		return nil, err
	}
	c.portal = b24sandbox.New(b24sandbox.Options{OnDealStage: func(id int, stage string) {
		if stage == c.b24Paid {
			at := time.Now()
			c.mu.Lock()
			if _, ok := c.deal[id]; !ok {
				c.deal[id] = at
			}
			c.mu.Unlock()
		}
	}})
	c.acc = amosandbox.New(amosandbox.Options{OnLeadChange: func(l amosandbox.Lead) {
		if l.StatusID == amosandbox.StatusPaid {
			c.mark(amocrm.Name, l.OrderID, time.Now())
		}
	}})
	c.doc = sheetsandbox.New(sheetsandbox.Options{Now: c.clock.Now})
	c.env = map[string]string{}
	serveGated := func(name string, h http.Handler) (string, error) {
		g := &gate{h: h}
		c.gates[name] = g
		url, stop, err := serve(g)
		if err != nil {
			return "", err
		}
		c.stops = append(c.stops, stop)
		return url, nil
	}
	u, err := serveGated(bitrix24.Name, c.portal)
	if err != nil {
		return nil, err
	}
	c.env["PAYSYNC_BITRIX24_WEBHOOK_URL"] = c.portal.WebhookURL(u)
	if u, err = serveGated(amocrm.Name, c.acc); err != nil {
		return nil, err
	}
	c.env["PAYSYNC_AMOCRM_BASE_URL"], c.env["PAYSYNC_AMOCRM_ACCESS_TOKEN"] = u, c.acc.AccessToken()
	if u, err = serveGated(sheets.Name, c.doc); err != nil {
		return nil, err
	}
	key, err := c.doc.WriteKeyFile(dir, u)
	if err != nil {
		return nil, err
	}
	c.env["PAYSYNC_SHEETS_SPREADSHEET_ID"], c.env["PAYSYNC_SHEETS_CREDENTIALS_FILE"], c.env["PAYSYNC_SHEETS_ENDPOINT"] = c.doc.ID(), key, u+"/"
	c.stops = append(c.stops, c.portal.Close, c.acc.Close, c.doc.Close)
	return c, nil
}

func (c *crms) close() {
	for _, s := range c.stops {
		s()
	}
}

// paidStage is what the shipped mapping of connector shows for a paid order.
func paidStage(connector string) (string, error) {
	m, err := mapping.Shipped(connector)
	if err != nil {
		return "", err
	}
	o := crmOrder("PROBE-", 0)
	o.Status = core.StatusPaid
	p, err := m.Render(mapping.Input{Order: o})
	if err != nil {
		return "", err
	}
	return p.Stage, nil
}

func (c *crms) mark(connector, orderID string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[connector][orderID]; !ok {
		c.seen[connector][orderID] = at
	}
}

// paidAt returns when each CRM stored each of ids as paid, as far as seen.
// Bitrix24 tells deal ids (its hook runs under the portal's lock), mapped
// here to orders; the spreadsheet is read whenever it changed.
func (c *crms) paidAt(ids []string) map[string]map[string]time.Time {
	c.mu.Lock()
	deals := make(map[int]time.Time, len(c.deal))
	for id, at := range c.deal {
		deals[id] = at
	}
	c.mu.Unlock()
	for _, d := range c.portal.Deals() {
		if at, ok := deals[d.ID]; ok {
			c.mark(bitrix24.Name, d.OriginID, at)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]map[string]time.Time{}
	for name, seen := range c.seen {
		out[name] = map[string]time.Time{}
		for _, id := range ids {
			if at, ok := seen[id]; ok {
				out[name][id] = at
			}
		}
	}
	return out
}

// watchSheet notes, until ctx ends, when each row's Status shows paid.
func (c *crms) watchSheet(ctx context.Context) {
	version := -1
	for ctx.Err() == nil {
		if v := c.doc.Version(); v != version {
			version = v
			at := time.Now()
			rows := c.doc.Rows(sheets.DefaultSheet)
			if len(rows) > 0 {
				key, status := col(rows[0], sheets.DefaultKeyColumn), col(rows[0], "Status")
				for _, row := range rows[1:] {
					if key >= 0 && status >= 0 && status < len(row) && key < len(row) && row[status] == c.sheetsPaid {
						c.mark(sheets.Name, row[key], at)
					}
				}
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func col(header []string, name string) int {
	for i, h := range header {
		if h == name {
			return i
		}
	}
	return -1
}

// daemonProc is a running `paysync serve`.
type daemonProc struct {
	cmd    *exec.Cmd
	base   string
	logs   *bytes.Buffer
	client *http.Client
	done   chan error
}

// startDaemon runs the binary's serve in dir with env and waits until it
// is ready; it returns how long that took.
func (r *run) startDaemon(ctx context.Context, dir string, env map[string]string) (*daemonProc, time.Duration, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, 0, err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(r.o.Binary, "serve")
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PAYSYNC_") {
			cmd.Env = append(cmd.Env, kv) // the shop's own settings stay out
		}
	}
	env = mergeEnv(env, map[string]string{"PAYSYNC_HTTP_ADDR": addr, "PAYSYNC_DATA_DIR": filepath.Join(dir, "data"),
		"PAYSYNC_ADMIN_TOKEN": adminToken, "PAYSYNC_GENERIC_WEBHOOK_SECRET": benchSecret, "PAYSYNC_LOG_LEVEL": "warn"})
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	d := &daemonProc{cmd: cmd, base: "http://" + addr, logs: &bytes.Buffer{}, done: make(chan error, 1),
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}}}
	cmd.Stdout, cmd.Stderr = io.Discard, &lockedWriter{w: d.logs}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, 0, fmt.Errorf("start %s serve: %w", r.o.Binary, err)
	}
	go func() { d.done <- cmd.Wait() }()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.base+"/readyz", nil)
		if resp, err := d.client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return d, time.Since(start), nil
			}
		}
		select {
		case err := <-d.done:
			return nil, 0, fmt.Errorf("paysync serve exited before it was ready (%v): %s", err, d.tail())
		case <-ctx.Done():
			d.stop()
			return nil, 0, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
		if time.Since(start) > time.Minute {
			d.stop()
			return nil, 0, fmt.Errorf("paysync serve was not ready within a minute: %s", d.tail())
		}
	}
}

func mergeEnv(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// stop ends the daemon the way systemd does (SIGTERM), and kills it if it
// does not stop within its shutdown timeout.
func (d *daemonProc) stop() {
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
	}
}

func (d *daemonProc) tail() string {
	s := d.logs.String()
	if len(s) > 2000 {
		s = s[len(s)-2000:]
	}
	return strings.TrimSpace(s)
}

// rssMiB reads the daemon's resident memory (VmRSS) or its peak (VmHWM).
func (d *daemonProc) rssMiB(field string) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return round2(float64(kb) / 1024), err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, d.cmd.Process.Pid)
}

// api calls the admin API.
func (d *daemonProc) api(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// createOrders creates orders prefix0 … prefix(n-1) through the API.
func (d *daemonProc) createOrders(ctx context.Context, prefix string, n int) error {
	_, err := closedLoop(ctx, n, 16, func(ctx context.Context, i int) error {
		o := crmOrder(prefix, i)
		return d.api(ctx, http.MethodPost, "/v1/orders", map[string]any{"order_id": o.ID, "amount_minor": o.AmountMinor,
			"currency": o.Currency, "customer": map[string]any{"handle": o.Customer.Handle, "name": o.Customer.Name,
				"phone": o.Customer.Phone, "email": o.Customer.Email},
			"items": []map[string]any{{"sku": "SKU-1", "name": "Silver ring", "quantity": 1, "price_minor": o.AmountMinor}}}, nil)
	})
	return err
}

// pending is the outbox backlog per connector.
func (d *daemonProc) pending(ctx context.Context) (map[string]int64, error) {
	var out struct {
		Connectors []core.OutboxStat `json:"connectors"`
	}
	if err := d.api(ctx, http.MethodGet, "/v1/outbox/stats", nil, &out); err != nil {
		return nil, err
	}
	m := map[string]int64{}
	for _, s := range out.Connectors {
		m[s.Connector] = s.Pending
	}
	return m, nil
}

// settled waits until no connector has work pending, or gives up after max.
func (d *daemonProc) settled(ctx context.Context, max time.Duration) error {
	deadline := time.Now().Add(max)
	for {
		p, err := d.pending(ctx)
		if err != nil {
			return err
		}
		busy := false
		for _, n := range p {
			busy = busy || n > 0
		}
		if !busy {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("deliveries still pending after %s: %v", max, p)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// event is a signed generic webhook for the daemon.
func (d *daemonProc) event(eventID, orderID, status string, refunded int64) (webhook, error) {
	fields := map[string]any{"event_id": eventID, "order_id": orderID, "status": status, "amount_minor": 1500000,
		"currency": "AMD", "provider_ref": "pi_" + orderID, "occurred_at": time.Now().UTC().Format(time.RFC3339Nano)}
	if refunded > 0 {
		fields["refunded_minor"] = refunded
	}
	body, _ := json.Marshal(fields)
	now := time.Now().Unix()
	sig, err := signWebhook(eventID, now, body)
	if err != nil {
		return webhook{}, err
	}
	return webhook{body: body, id: eventID, ts: strconv.FormatInt(now, 10), sig: sig, target: d.base + "/webhooks/generic"}, nil
}

// lockedWriter lets the daemon's two output streams share a buffer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
