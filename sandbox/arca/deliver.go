package arcasandbox

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Delivery is one attempt to deliver a callback.
type Delivery struct {
	EventID string    `json:"event_id"`
	Type    string    `json:"type"`
	URL     string    `json:"url"`
	Status  int       `json:"status"` // HTTP status; 0 when the request failed
	Error   string    `json:"error,omitempty"`
	Dropped bool      `json:"dropped,omitempty"`
	At      time.Time `json:"at"`
}

// outgoing is one callback to send.
type outgoing struct {
	id, typ string
	url     string // the order's dynamicCallbackUrl; empty: the configured URL
	params  url.Values
}

// deliverer sends callbacks the way real senders do: after the change,
// asynchronously, retrying failures, and, on request, dropping, duplicating,
// holding and reordering them.
type deliverer struct {
	client     *http.Client
	retries    int
	retryDelay time.Duration
	method     string // GET or POST
	now        func() time.Time

	mu         sync.Mutex
	url        string
	drop       int
	duplicate  int
	copies     int
	holding    bool
	held       []outgoing
	deliveries []Delivery
	wg         sync.WaitGroup
	ctx        context.Context
	cancel     context.CancelFunc
}

func newDeliverer(client *http.Client, retries int, delay time.Duration, now func() time.Time, method string) *deliverer {
	ctx, cancel := context.WithCancel(context.Background())
	return &deliverer{client: client, retries: retries, retryDelay: delay, method: method, now: now, ctx: ctx, cancel: cancel}
}

func (d *deliverer) setURL(u string) {
	d.mu.Lock()
	d.url = u
	d.mu.Unlock()
}

// enqueue sends one callback according to the current faults.
func (d *deliverer) enqueue(m outgoing) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ctx.Err() != nil {
		return // closed
	}
	if m.url == "" {
		m.url = d.url
	}
	if m.url == "" {
		d.deliveries = append(d.deliveries, Delivery{EventID: m.id, Type: m.typ, Dropped: true, Error: "no callback URL configured", At: d.now()})
		return
	}
	if d.drop > 0 {
		d.drop--
		d.deliveries = append(d.deliveries, Delivery{EventID: m.id, Type: m.typ, URL: m.url, Dropped: true, At: d.now()})
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

// release sends held callbacks one after another, in reverse when asked.
func (d *deliverer) release(reverse bool) {
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

func (d *deliverer) send(m outgoing) {
	u := m.url
	for attempt := 0; attempt <= d.retries; attempt++ {
		if attempt > 0 {
			select {
			case <-d.ctx.Done():
				return
			case <-time.After(d.retryDelay):
			}
		}
		rec := Delivery{EventID: m.id, Type: m.typ, URL: u, At: d.now()}
		req, err := d.request(u, m.params)
		if err != nil {
			rec.Error = err.Error()
			d.record(rec)
			return
		}
		resp, err := d.client.Do(req)
		if err != nil {
			rec.Error = err.Error()
			d.record(rec)
			continue
		}
		resp.Body.Close()
		rec.Status = resp.StatusCode
		d.record(rec)
		if resp.StatusCode < 300 {
			return
		}
		if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusRequestTimeout {
			return // the receiver refused it; a retry would be refused too
		}
	}
}

// request builds the callback: parameters in the query for GET, in a
// form body for POST, as RBS gateways do.
func (d *deliverer) request(u string, params url.Values) (*http.Request, error) {
	if d.method == http.MethodPost {
		req, err := http.NewRequestWithContext(d.ctx, http.MethodPost, u, strings.NewReader(params.Encode()))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return req, nil
	}
	pu, err := url.Parse(u)
	if err != nil {
		return nil, err
	}
	q := pu.Query()
	for k, vs := range params {
		q[k] = vs
	}
	pu.RawQuery = q.Encode()
	return http.NewRequestWithContext(d.ctx, http.MethodGet, pu.String(), nil)
}

func (d *deliverer) record(rec Delivery) {
	d.mu.Lock()
	d.deliveries = append(d.deliveries, rec)
	d.mu.Unlock()
}

func (d *deliverer) list() []Delivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Delivery(nil), d.deliveries...)
}

func (d *deliverer) close() {
	d.mu.Lock()
	d.cancel()
	d.mu.Unlock()
	d.wg.Wait()
}

// wait blocks until every callback sent so far has been delivered or given up.
func (d *deliverer) wait() { d.wg.Wait() }
