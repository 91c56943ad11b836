package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/core/coretest"
	"github.com/paysync/paysync/internal/standardwebhooks"
	sandboxall "github.com/paysync/paysync/sandbox/all"
	igsandbox "github.com/paysync/paysync/sandbox/instagram"
)

// igsidOf is the Instagram id of a chaos order's customer.
func igsidOf(orderID string) string { return "91" + strings.TrimPrefix(orderID, "CH-") }

// story is one order of the chaos test: the events its provider sends, in
// the order they are sent, and when.
type story struct {
	id      string
	amount  int64
	history coretest.History // every distinct event, in the order they happened
	sends   []send           // in the order they are sent; a redelivery repeats an event
	start   time.Duration    // when the order is created, from the start of the storm
	shape   string           // what the story is, for the summary
}

type send struct {
	event int           // index into history.Events
	wait  time.Duration // pause before sending it
}

// implied is the status (and refunds' total) the story's events imply:
// every event is sent, and a redelivery is the same event.
func (s *story) implied() (core.Status, int64) { return s.history.Implied() }

// drawStory draws order i's story: a realistic life (declines, a payment,
// refunds in parts or whole, an expiry, now and then a late payment, a
// short payment or an over-refund that need a person), its events a few
// seconds apart in the order's past, sent in order or shuffled, some
// delivered twice.
func drawStory(rng *rand.Rand, i int, window, maxGap time.Duration, past time.Time) *story {
	s := &story{id: fmt.Sprintf("CH-%05d", i), amount: 100 * (1000 + rng.Int64N(49_000)), start: time.Duration(rng.Int64N(int64(window)))}
	h := coretest.History{Amount: s.amount, Currency: "AMD", Cumulative: rng.IntN(2) == 0}
	at := past.Add(time.Duration(i) * 17 * time.Second)
	var refunded int64
	add := func(st core.Status) *coretest.Event {
		// Two seconds or more apart: each event certainly follows the one
		// before at either precision (the property test in core covers
		// events that share a second).
		at = at.Add(2*time.Second + time.Duration(rng.Int64N(int64(40*time.Second))))
		e := coretest.Event{Key: "e" + strconv.Itoa(len(h.Events)), Status: st, Precision: time.Millisecond}
		if rng.IntN(3) == 0 {
			e.Precision = time.Second
		}
		e.Stated = at.Truncate(e.Precision)
		h.Events = append(h.Events, e)
		return &h.Events[len(h.Events)-1]
	}
	pay := func(amount int64) { e := add(core.StatusPaid); e.Amount, e.Currency = amount, "AMD" }
	refund := func(part int64) {
		refunded += part
		e := add(core.StatusRefunded)
		e.Currency = "AMD"
		if h.Cumulative {
			e.Total = refunded
		} else {
			e.Single = part
		}
	}
	declines := func(most int) {
		for n := rng.IntN(most + 1); n > 0; n-- {
			add(core.StatusFailed)
		}
	}
	switch r := rng.IntN(100); {
	case r < 3:
		s.shape = "no events"
	case r < 13:
		s.shape = "declined"
		add(core.StatusFailed)
		declines(1)
	case r < 23:
		s.shape = "expired"
		declines(1)
		add(core.StatusExpired)
	case r < 27:
		s.shape = "paid after expiry"
		add(core.StatusExpired)
		pay(s.amount)
	case r < 52:
		s.shape = "paid"
		declines(2)
		pay(s.amount)
	case r < 72:
		s.shape = "partly refunded"
		pay(s.amount)
		for n := 1 + rng.IntN(3); n > 0; n-- {
			refund(1 + rng.Int64N(s.amount/4))
		}
	case r < 87:
		s.shape = "refunded in parts"
		declines(1)
		pay(s.amount)
		for n := rng.IntN(3); n > 0; n-- {
			refund(1 + rng.Int64N(s.amount/4))
		}
		refund(s.amount - refunded)
	case r < 94:
		s.shape = "refunded"
		pay(s.amount)
		refund(s.amount)
	case r < 97:
		s.shape = "paid short"
		pay(s.amount - 100*(1+rng.Int64N(s.amount/200)))
	default:
		s.shape = "over-refunded"
		pay(s.amount)
		refund(s.amount / 2)
		refund(s.amount)
	}
	s.history = h
	// Most senders keep the order things happened in; some do not.
	order := make([]int, len(h.Events))
	for i := range order {
		order[i] = i
	}
	if rng.IntN(10) < 3 {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	gap := func() time.Duration { return time.Duration(rng.Int64N(int64(maxGap))) }
	for _, e := range order {
		s.sends = append(s.sends, send{event: e, wait: gap()})
		if rng.IntN(10) == 0 { // the provider delivers it again later
			s.sends = append(s.sends, send{event: e, wait: gap()})
		}
	}
	return s
}

// eventID is the provider's id of an event of an order.
func eventID(orderID string, e coretest.Event) string { return orderID + "-" + e.Key }

// eventBody is the generic webhook body of an event.
func eventBody(orderID string, e coretest.Event) []byte {
	layout := "2006-01-02T15:04:05Z"
	if e.Precision == time.Millisecond {
		layout = "2006-01-02T15:04:05.000Z"
	}
	m := map[string]any{"event_id": eventID(orderID, e), "order_id": orderID, "status": string(e.Status),
		"provider_ref": "pay_" + orderID, "occurred_at": e.Stated.UTC().Format(layout)}
	switch e.Status {
	case core.StatusPaid:
		m["amount_minor"], m["currency"] = e.Amount, e.Currency
	case core.StatusRefunded:
		m["currency"] = e.Currency
		if e.Total > 0 {
			m["amount_minor"], m["refunded_minor"] = e.Total, e.Total // a running total
		} else {
			m["amount_minor"] = e.Single // this one refund
		}
	}
	b, _ := json.Marshal(m)
	return b
}

// sender plays the shop's backend and the payment provider: it creates each
// order through the API and posts its events as signed webhooks, each until
// paysync answers 2xx, as providers retry.
type sender struct {
	base, adminToken, secret string
	client                   *http.Client
	// direct, when set, is the Instagram double: each order's customer
	// writes in Direct first, and the order carries their IGSID.
	direct *sandboxall.InstagramDouble

	webhooks, creates atomic.Int64 // accepted with a 2xx
	retries           atomic.Int64 // attempts that got no 2xx (refused connection, reset, 5xx)
	mu                sync.Mutex
	refusals          []string // 4xx answers: a bug in the test or in paysync, never retried
}

func newSender(base, adminToken, secret string) *sender {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &sender{base: base, adminToken: adminToken, secret: secret, client: &http.Client{Transport: tr, Timeout: 20 * time.Second}}
}

// play creates the order and sends its events; it returns when all were
// taken, or ctx ended.
func (s *sender) play(ctx context.Context, st *story, storm time.Time) {
	if !sleepUntil(ctx, storm.Add(st.start)) {
		return
	}
	customer := map[string]any{"handle": "buyer_" + st.id[3:], "name": "Buyer " + st.id[3:], "phone": "+3749" + st.id[3:] + "111"}
	if s.direct != nil {
		// The customer asks in Direct first; Meta's webhook is delivered
		// until paysync takes it, as Meta retries.
		igsid := igsidOf(st.id)
		mid := s.direct.CustomerWrites(igsandbox.Customer{IGSID: igsid, Username: "buyer_" + st.id[3:]}, "Barev! Is the silk scarf available?", time.Time{})
		body, sig, _ := s.direct.Webhook(mid)
		if !s.post(ctx, st.id, "/webhooks/instagram", body, func(r *http.Request) { r.Header.Set("X-Hub-Signature-256", sig) }) {
			return
		}
		customer["id"] = igsid
	}
	body, _ := json.Marshal(map[string]any{"order_id": st.id, "amount_minor": st.amount, "currency": "AMD",
		"customer": customer,
		"items":    []map[string]any{{"sku": "SKU-" + st.id[3:], "name": "Silk scarf", "quantity": 1, "price_minor": st.amount}}})
	if !s.post(ctx, st.id, "/v1/orders", body, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+s.adminToken) }) {
		return
	}
	s.creates.Add(1)
	for _, snd := range st.sends {
		if !sleepUntil(ctx, time.Now().Add(snd.wait)) {
			return
		}
		e := st.history.Events[snd.event]
		b := eventBody(st.id, e)
		id := eventID(st.id, e)
		if !s.post(ctx, st.id, "/webhooks/generic", b, func(r *http.Request) {
			ts := time.Now().Unix() // signed again at every attempt, as providers do
			sig, _ := standardwebhooks.Sign(s.secret, id, ts, b)
			r.Header.Set("webhook-id", id)
			r.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
			r.Header.Set("webhook-signature", sig)
		}) {
			return
		}
		s.webhooks.Add(1)
	}
}

// post sends body until a 2xx; a 4xx is recorded and ends the story.
func (s *sender) post(ctx context.Context, orderID, path string, body []byte, sign func(*http.Request)) bool {
	wait := 50 * time.Millisecond
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.base+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		sign(req)
		resp, err := s.client.Do(req)
		if err == nil {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			resp.Body.Close()
			switch {
			case resp.StatusCode/100 == 2:
				return true
			case resp.StatusCode/100 == 4:
				s.mu.Lock()
				s.refusals = append(s.refusals, fmt.Sprintf("%s %s: %d %s", orderID, path, resp.StatusCode, msg))
				s.mu.Unlock()
				return false
			}
		}
		s.retries.Add(1)
		if !sleepUntil(ctx, time.Now().Add(wait)) {
			return false
		}
		wait = min(2*wait, time.Second)
	}
	return false
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
