// Package payments is paysync's inbound side: it creates orders with their
// payment links, receives provider webhooks, confirms them by status lookup
// where the provider needs it, reconciles orders whose webhook never came and
// expires unpaid orders. Every decision is the ledger's (core.Ledger); this
// package only feeds it verified events.
//
// The path of one webhook: read (at most 256 KiB) -> provider.Verify ->
// journaled in one transaction (applied at once, or, for providers confirmed
// by lookup, recorded as "unconfirmed") -> 2xx -> background status lookup ->
// ledger.ApplyEvent. A lookup that fails is journaled as lookup_failed and
// retried by the next Reconcile run; nothing is ever guessed.
package payments

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paysync/paysync/core"
)

// MaxWebhookBytes bounds a webhook body; larger ones get 413.
const MaxWebhookBytes = 256 << 10

// Defaults for Options.
const (
	DefaultLookupWorkers   = 4
	DefaultLookupQueue     = 1024
	DefaultLookupTimeout   = 20 * time.Second
	DefaultLinkTimeout     = 30 * time.Second
	DefaultReconcileBatch  = 200
	DefaultReconcileMaxAge = 7 * 24 * time.Hour
	DefaultShutdownTimeout = 15 * time.Second
	DefaultPromptInterval  = 5 * time.Second
	DefaultPromptBurst     = 20
	DefaultPromptEvery     = 3 * time.Second
)

// DefaultConfirmRetry is when a webhook the lookup does not yet confirm is
// looked up again (the provider's API may lag its own webhook briefly).
var DefaultConfirmRetry = []time.Duration{2 * time.Second, 10 * time.Second, 30 * time.Second}

// Options configure a Service. Ledger and Store are required.
type Options struct {
	Ledger    *core.Ledger
	Store     core.Store
	Providers []core.Provider
	// EnableHint says what turns a provider on, for the error of an order
	// that names one while none is configured.
	EnableHint string
	Logger     *slog.Logger
	// ReconcileAfter: Reconcile looks up pending and failed orders whose
	// status has not changed for this long (0: every such order).
	ReconcileAfter time.Duration
	// ReconcileMaxAge: orders whose status changed longer ago than this are
	// no longer looked up (default 7 days; negative: no limit).
	ReconcileMaxAge time.Duration
	// ReconcileBatch bounds the orders per status one Reconcile or ExpireDue
	// pass reads (default 200).
	ReconcileBatch int
	// LookupWorkers bounds concurrent status lookups (default 4);
	// LookupQueue bounds the lookups waiting (default 1024; beyond it a
	// lookup is left to Reconcile).
	LookupWorkers int
	LookupQueue   int
	// LookupTimeout bounds one status lookup (default 20s); LinkTimeout one
	// payment-link creation (default 30s).
	LookupTimeout time.Duration
	LinkTimeout   time.Duration
	// ConfirmRetry: when a lookup does not (yet) confirm what a webhook
	// said, it is repeated after each of these delays (default 2s, 10s, 30s;
	// empty slice: never) before the webhook is left unconfirmed.
	ConfirmRetry []time.Duration
	// FailingBurst and FailingEvery limit failing webhook requests (refused
	// as unsigned, forged, malformed or too large) per source address:
	// FailingBurst at once, then one more every FailingEvery (default 20,
	// then one every 3s). Beyond that the answer is 429 with Retry-After and
	// the request is only counted. Requests that verify are never limited.
	FailingBurst int
	FailingEvery time.Duration
	// RefusalFlush is how often counts of requests over the limit are
	// written (default 1s).
	RefusalFlush time.Duration
	// Anonymous requests that prompt a status lookup (a callback without a
	// checksum, the buyer's return page) cost a request at the provider's
	// API each, so they are bounded: an order is looked up at most once in
	// flight and once per PromptInterval because of them (default 5s; the
	// prompts between are one lookup when it ends), and each source
	// address may prompt PromptBurst lookups at once, then one more every
	// PromptEvery (default 20, then one every 3s).
	PromptInterval time.Duration
	PromptBurst    int
	PromptEvery    time.Duration
	Now            func() time.Time
	// ShutdownTimeout bounds how long Run lets lookups in flight finish once
	// its context ends (default 15s); then they are cancelled.
	ShutdownTimeout time.Duration
}

// Service is the payments service; see the package comment.
type Service struct {
	ledger    *core.Ledger
	store     core.Store
	log       *slog.Logger
	providers map[string]core.Provider
	names     []string
	pages     map[string]http.Handler // the providers' own pages, by pattern
	o         Options
	now       func() time.Time
	metrics   *metrics
	gate      *refusalGate // failing requests per source; counts over the limit
	prompts   *refusalGate // lookups prompted by anonymous requests, per source

	// linkLocks serialise link creation per order (striped by id), so that
	// concurrent creates of one order in this process make one link.
	linkLocks [64]sync.Mutex

	queue   chan lookupJob
	mu      sync.Mutex
	waiting int // lookups waiting to be tried again (ConfirmRetry)
	// refundCursor is where the next reconcile run goes on reading paid
	// orders of providers that find refunds only by lookup.
	refundCursor time.Time
	inflight     map[string]*flight
	// lastLookup is when each order's latest lookup began, and deferred
	// the orders whose prompted lookup waits for PromptInterval to pass.
	lastLookup map[string]time.Time
	deferred   map[string]bool
	closed     bool
	running    bool
	stopping   chan struct{}
	wg         sync.WaitGroup
	ctx        context.Context // lookups (set by Run); cancelled when shutdown gives up waiting
	cancel     context.CancelFunc
}

// New returns a Service. Orders and webhooks work at once; status lookups
// run while Run runs (queued until then).
func New(o Options) (*Service, error) {
	if o.Ledger == nil || o.Store == nil {
		return nil, errors.New("payments: Ledger and Store are required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ReconcileMaxAge == 0 {
		o.ReconcileMaxAge = DefaultReconcileMaxAge
	}
	if o.ReconcileBatch <= 0 {
		o.ReconcileBatch = DefaultReconcileBatch
	}
	if o.LookupWorkers <= 0 {
		o.LookupWorkers = DefaultLookupWorkers
	}
	if o.LookupQueue <= 0 {
		o.LookupQueue = DefaultLookupQueue
	}
	if o.LookupTimeout <= 0 {
		o.LookupTimeout = DefaultLookupTimeout
	}
	if o.LinkTimeout <= 0 {
		o.LinkTimeout = DefaultLinkTimeout
	}
	if o.ConfirmRetry == nil {
		o.ConfirmRetry = DefaultConfirmRetry
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	if o.FailingBurst <= 0 {
		o.FailingBurst = DefaultFailingBurst
	}
	if o.FailingEvery <= 0 {
		o.FailingEvery = DefaultFailingEvery
	}
	if o.RefusalFlush <= 0 {
		o.RefusalFlush = DefaultRefusalFlush
	}
	if o.PromptInterval <= 0 {
		o.PromptInterval = DefaultPromptInterval
	}
	if o.PromptBurst <= 0 {
		o.PromptBurst = DefaultPromptBurst
	}
	if o.PromptEvery <= 0 {
		o.PromptEvery = DefaultPromptEvery
	}
	s := &Service{ledger: o.Ledger, store: o.Store, log: o.Logger, providers: map[string]core.Provider{}, o: o, now: o.Now,
		metrics: newMetrics(), queue: make(chan lookupJob, o.LookupQueue), inflight: map[string]*flight{}, stopping: make(chan struct{}),
		gate: newRefusalGate(o.FailingBurst, o.FailingEvery), prompts: newRefusalGate(o.PromptBurst, o.PromptEvery),
		lastLookup: map[string]time.Time{}, deferred: map[string]bool{}, pages: map[string]http.Handler{}}
	owner := map[string]string{} // page pattern -> the provider serving it
	for _, p := range o.Providers {
		if _, dup := s.providers[p.Name()]; dup {
			return nil, fmt.Errorf("payments: provider %s given twice", p.Name())
		}
		s.providers[p.Name()] = p
		s.names = append(s.names, p.Name())
		if ps, ok := p.(core.PageServer); ok {
			for pattern, h := range ps.Pages() {
				if other, dup := owner[pattern]; dup {
					return nil, fmt.Errorf("payments: providers %s and %s both serve %s", other, p.Name(), pattern)
				}
				owner[pattern], s.pages[pattern] = p.Name(), h
			}
		}
	}
	sort.Strings(s.names)
	return s, nil
}

// Run does the queued status lookups (Options.LookupWorkers at a time) until
// ctx ends; then it stops as Shutdown does, letting lookups in flight finish
// within Options.ShutdownTimeout.
func (s *Service) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.closed || s.running {
		s.mu.Unlock()
		return errors.New("payments: Run called on a stopped or running service")
	}
	s.running = true
	// Lookups outlive the stop request until the shutdown deadline.
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	for i := 0; i < s.o.LookupWorkers; i++ {
		s.wg.Add(1)
		go s.worker()
	}
	s.wg.Add(1)
	go s.flushRefusals()
	s.mu.Unlock()
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.o.ShutdownTimeout)
	defer cancel()
	return s.Shutdown(sctx)
}

// Pages are the pages the enabled providers serve to buyers themselves
// (Idram's checkout form at GET /pay/{order_id}), by ServeMux pattern: mount
// each at its pattern, without the admin token.
func (s *Service) Pages() map[string]http.Handler {
	out := make(map[string]http.Handler, len(s.pages))
	for k, v := range s.pages {
		out[k] = v
	}
	return out
}

// Providers lists the enabled provider names, sorted.
func (s *Service) Providers() []string { return append([]string(nil), s.names...) }

// Provider returns an enabled provider by name.
func (s *Service) Provider(name string) (core.Provider, bool) {
	p, ok := s.providers[name]
	return p, ok
}

// Collectors are the service's Prometheus metrics, for the caller's registry.
func (s *Service) Collectors() []prometheus.Collector { return s.metrics.collectors() }

// displayName is how messages name a provider: its title, else its name.
func (s *Service) displayName(provider string) string {
	if p, ok := s.providers[provider]; ok {
		if t := p.Capabilities().Title; t != "" {
			return t
		}
	}
	return provider
}

func (s *Service) lockOrder(id string) func() {
	h := fnv.New32a()
	h.Write([]byte(id))
	mu := &s.linkLocks[h.Sum32()%uint32(len(s.linkLocks))]
	mu.Lock()
	return mu.Unlock
}

// CreateOrder stores the order (see core.Ledger.CreateOrder: a repeat of the
// same body returns the stored order, created=false) and, when it names a
// provider that creates links and has none yet, creates its payment link.
// When the provider fails, the order stays pending without a link and the
// error (EUNAVAILABLE) says so; the same request again retries the link.
func (s *Service) CreateOrder(ctx context.Context, o core.Order) (core.Order, bool, error) {
	if o.Provider != "" {
		if _, ok := s.providers[o.Provider]; !ok {
			if len(s.names) == 0 {
				hint := s.o.EnableHint
				if hint == "" {
					hint = "see docs/payments.md: each provider turns on when its credentials are set"
				} else {
					hint = "set " + hint
				}
				return core.Order{}, false, core.Errorf(core.EINVALID, "provider %q is not enabled: no payment provider is configured (%s)", o.Provider, hint)
			}
			return core.Order{}, false, core.Errorf(core.EINVALID, "provider %q is not enabled; enabled providers: %s", o.Provider, strings.Join(s.names, ", "))
		}
	}
	if ov, ok := s.providers[o.Provider].(core.OrderValidator); ok {
		if err := ov.ValidateOrder(o); err != nil {
			return core.Order{}, false, err
		}
	}
	got, created, err := s.ledger.CreateOrder(ctx, o)
	if err != nil || got.Provider == "" {
		return got, created, err
	}
	p := s.providers[got.Provider]
	if !p.Capabilities().CreatesLinks || got.PaymentURL != "" || got.Status != core.StatusPending {
		return got, created, nil
	}
	unlock := s.lockOrder(got.ID)
	defer unlock()
	if cur, err := s.store.GetOrder(ctx, got.ID); err == nil && cur.PaymentURL != "" {
		return cur, created, nil // another request made the link meanwhile
	}
	lctx, cancel := context.WithTimeout(ctx, s.o.LinkTimeout)
	link, err := p.CreateLink(lctx, got)
	cancel()
	if err != nil {
		s.log.Warn("payment link not created", "order_id", got.ID, "provider", got.Provider, "err", err)
		return got, created, &core.Error{Code: core.EUNAVAILABLE, Err: err, Message: fmt.Sprintf(
			"order %s is saved as pending, but %s did not create a payment link: %s; send the same request again to retry",
			got.ID, s.displayName(got.Provider), core.ErrorMessage(err))}
	}
	if link.URL == "" && link.ProviderRef == "" {
		return got, created, core.Errorf(core.EUNAVAILABLE, "order %s is saved as pending, but %s returned no payment link; send the same request again to retry", got.ID, s.displayName(got.Provider))
	}
	updated, err := s.ledger.AttachLink(ctx, got.ID, link)
	if err != nil {
		return got, created, err
	}
	if link.URL == "" {
		// The provider knew the order already (e.g. its first answer was
		// lost) and does not hand the page out twice: find out where it stands.
		s.enqueue(lookupJob{provider: got.Provider, orderID: got.ID, ref: link.ProviderRef})
		return updated, created, core.Errorf(core.EUNAVAILABLE,
			"%s already had order %s (registered by an earlier attempt) and does not give its payment page again; paysync is checking its status. If the buyer has not paid, create the order again under a new order_id",
			s.displayName(got.Provider), got.ID)
	}
	return updated, created, nil
}

// Review settles an order in manual_review (see core.Ledger.Review).
func (s *Service) Review(ctx context.Context, id string, decision core.Status, note, who string) (core.Order, error) {
	return s.ledger.Review(ctx, id, decision, note, who)
}

// Shutdown stops taking lookups and waits for those running until ctx is
// done, then cancels them. Lookups still queued are left to Reconcile.
func (s *Service) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stopping)
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	var err error
	cancelLookups := func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.cancel != nil {
			s.cancel()
		}
	}
	select {
	case <-done:
	case <-ctx.Done():
		cancelLookups()
		<-done
		err = ctx.Err()
	}
	cancelLookups()
	if n := len(s.queue); n > 0 {
		s.log.Info("payments stopped with status lookups still queued; the next reconcile run does them", "queued", n)
	}
	// Refused requests counted since the last flush are written, even
	// after the deadline: it is one statement per source.
	fctx, fcancel := dbContext(ctx)
	defer fcancel()
	s.FlushRefusals(fctx)
	return err
}

// Close is Shutdown with a 15-second grace.
func (s *Service) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultShutdownTimeout)
	defer cancel()
	return s.Shutdown(ctx)
}
