// Package outbound delivers the sandboxes' outgoing notifications (ArCa
// callbacks, VPOS.am webhooks) the way real senders do: after the change,
// asynchronously, retrying failures, and, on request, dropping, duplicating,
// holding and reordering them. Every attempt is recorded as a Delivery.
package outbound

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Delivery is one attempt to deliver a message.
type Delivery struct {
	EventID string    `json:"event_id"`
	Type    string    `json:"type"`
	URL     string    `json:"url"`
	Status  int       `json:"status"` // HTTP status; 0 when the request failed
	Error   string    `json:"error,omitempty"`
	Dropped bool      `json:"dropped,omitempty"`
	At      time.Time `json:"at"`
}

// RequestFunc builds the request of one attempt to deliver a message to url.
// It is called afresh for every attempt, with a context that Close cancels.
type RequestFunc func(ctx context.Context, url string) (*http.Request, error)

// Message is one notification to send.
type Message struct {
	ID, Type string
	// URL is where this message goes; empty: the URL set with SetURL.
	URL     string
	Request RequestFunc
}

// Config configures a Deliverer.
type Config struct {
	Client     *http.Client
	Retries    int           // retries after a failed attempt
	RetryDelay time.Duration // pause between attempts
	Now        func() time.Time
	// Noun names the messages ("callback", "webhook") in the error recorded
	// for a message dropped because no URL is set.
	Noun string
	// LateURL sends a message without its own URL to the URL set when its
	// delivery starts, so held messages follow a SetURL made while they were
	// held. Otherwise the message is bound to the URL set when it is enqueued.
	LateURL bool
	// Logger, when set, hears of every failed attempt, so that a sandbox
	// pointed at the wrong paysync says so (default: silent).
	Logger *slog.Logger
}

// Deliverer sends messages one goroutine each and records every attempt.
type Deliverer struct {
	cfg Config

	mu         sync.Mutex
	url        string
	drop       int
	duplicate  int
	copies     int
	holding    bool
	held       []Message
	deliveries []Delivery
	wg         sync.WaitGroup
	ctx        context.Context
	cancel     context.CancelFunc
}

// New returns a Deliverer; Close stops it.
func New(cfg Config) *Deliverer {
	ctx, cancel := context.WithCancel(context.Background())
	return &Deliverer{cfg: cfg, ctx: ctx, cancel: cancel}
}

// SetURL sets where messages without their own URL go ("" drops them).
func (d *Deliverer) SetURL(u string) {
	d.mu.Lock()
	d.url = u
	d.mu.Unlock()
}

// Enqueue sends one message according to the current faults.
func (d *Deliverer) Enqueue(m Message) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ctx.Err() != nil {
		return // closed
	}
	u := m.URL
	if u == "" {
		u = d.url
	}
	if u == "" {
		d.deliveries = append(d.deliveries, Delivery{EventID: m.ID, Type: m.Type, Dropped: true, Error: "no " + d.cfg.Noun + " URL configured", At: d.cfg.Now()})
		return
	}
	if !d.cfg.LateURL {
		m.URL = u
	}
	if d.drop > 0 {
		d.drop--
		d.deliveries = append(d.deliveries, Delivery{EventID: m.ID, Type: m.Type, URL: u, Dropped: true, At: d.cfg.Now()})
		return
	}
	if d.holding {
		d.held = append(d.held, m)
		return
	}
	n := 1
	if d.duplicate > 0 {
		d.duplicate--
		n = d.copies
	}
	for i := 0; i < n; i++ {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			d.send(m)
		}()
	}
}

// Faults are delivery faults to inject at once, as the sandboxes'
// /_sandbox/faults endpoints take them.
type Faults struct {
	Drop      int  // drop the next Drop messages
	Duplicate int  // deliver each of the next Duplicate messages Copies times
	Copies    int  // at least 2 (smaller values count as 2)
	Hold      bool // hold messages until Release
}

// Inject applies the faults that are set in f.
func (d *Deliverer) Inject(f Faults) {
	if f.Drop > 0 {
		d.Drop(f.Drop)
	}
	if f.Duplicate > 0 {
		d.Duplicate(f.Duplicate, max(f.Copies, 2))
	}
	if f.Hold {
		d.Hold()
	}
}

// Drop silently drops the next n messages.
func (d *Deliverer) Drop(n int) {
	d.mu.Lock()
	d.drop += n
	d.mu.Unlock()
}

// Duplicate delivers each of the next n messages copies times, concurrently.
func (d *Deliverer) Duplicate(n, copies int) {
	d.mu.Lock()
	d.duplicate, d.copies = n, copies
	d.mu.Unlock()
}

// Hold keeps messages back until Release.
func (d *Deliverer) Hold() {
	d.mu.Lock()
	d.holding = true
	d.mu.Unlock()
}

// Release sends held messages one after another, in reverse when asked.
func (d *Deliverer) Release(reverse bool) {
	d.mu.Lock()
	held := d.held
	d.held, d.holding = nil, false
	closed := d.ctx.Err() != nil
	if !closed {
		d.wg.Add(1)
	}
	d.mu.Unlock()
	if closed {
		return
	}
	if reverse {
		for i, j := 0, len(held)-1; i < j; i, j = i+1, j-1 {
			held[i], held[j] = held[j], held[i]
		}
	}
	go func() {
		defer d.wg.Done()
		for _, m := range held {
			d.send(m)
		}
	}()
}

func (d *Deliverer) send(m Message) {
	u := m.URL
	if u == "" {
		d.mu.Lock()
		u = d.url
		d.mu.Unlock()
	}
	for attempt := 0; attempt <= d.cfg.Retries; attempt++ {
		if attempt > 0 {
			select {
			case <-d.ctx.Done():
				return
			case <-time.After(d.cfg.RetryDelay):
			}
		}
		rec := Delivery{EventID: m.ID, Type: m.Type, URL: u, At: d.cfg.Now()}
		req, err := m.Request(d.ctx, u)
		if err != nil {
			rec.Error = err.Error()
			d.record(rec)
			return
		}
		resp, err := d.cfg.Client.Do(req)
		if err != nil {
			rec.Error = err.Error()
			d.record(rec)
			d.logFailure(rec, attempt)
			continue
		}
		resp.Body.Close()
		rec.Status = resp.StatusCode
		d.record(rec)
		if resp.StatusCode < 300 {
			return
		}
		d.logFailure(rec, attempt)
		if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusRequestTimeout {
			return // the receiver refused it; a retry would be refused too
		}
	}
}

func (d *Deliverer) logFailure(rec Delivery, attempt int) {
	if d.cfg.Logger == nil || d.ctx.Err() != nil {
		return
	}
	noun := d.cfg.Noun
	if noun == "" {
		noun = "message"
	}
	args := []any{"event_id", rec.EventID, "url", rec.URL, "attempt", attempt + 1, "of", d.cfg.Retries + 1}
	if rec.Status != 0 {
		args = append(args, "status", rec.Status)
	} else {
		args = append(args, "err", rec.Error)
	}
	d.cfg.Logger.Warn("sandbox "+noun+" delivery failed (is paysync serving there? pass --paysync URL)", args...)
}

func (d *Deliverer) record(rec Delivery) {
	d.mu.Lock()
	d.deliveries = append(d.deliveries, rec)
	d.mu.Unlock()
}

// Deliveries lists every attempt so far, drops included.
func (d *Deliverer) Deliveries() []Delivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Delivery(nil), d.deliveries...)
}

// Close stops deliveries, waiting for those in flight; later messages are
// ignored and held ones are never sent.
func (d *Deliverer) Close() {
	d.mu.Lock()
	d.cancel()
	d.mu.Unlock()
	d.wg.Wait()
}

// Wait blocks until every message sent so far has been delivered or given
// up (held ones excepted).
func (d *Deliverer) Wait() { d.wg.Wait() }
