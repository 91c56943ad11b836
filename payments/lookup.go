package payments

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/paysync/paysync/core"
)

// lookupJob asks a provider where one order stands.
type lookupJob struct {
	provider string
	orderID  string
	ref      string             // the provider's reference, for orders paysync does not know
	claimed  *core.PaymentEvent // the webhook this lookup confirms; nil for a plain check
	attempt  int                // confirmations of claimed tried so far
	// prompt: asked for by an anonymous request (a callback without a
	// checksum, a return visit), so at most once per PromptInterval.
	prompt bool
}

// flight marks a lookup queued or running; rerun asks for one more
// afterwards (a webhook arrived while it ran), a prompt when every request
// for it was one.
type flight struct {
	rerun   bool
	prompt  bool
	claimed *core.PaymentEvent
}

func (j lookupJob) key() string { return j.provider + "\x00" + j.orderID }

// enqueue schedules a lookup unless one for the order is already queued or
// running (then one more runs after it). A prompted lookup also waits until
// PromptInterval has passed since the order's last one began; the prompts
// meanwhile are that one lookup. When the queue is full the lookup is left
// to Reconcile.
func (s *Service) enqueue(j lookupJob) bool {
	if core.ValidateOrderID(j.orderID) != nil {
		return false
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	if f, ok := s.inflight[j.key()]; ok {
		if !f.rerun {
			f.prompt = true
		}
		f.rerun = true
		f.prompt = f.prompt && j.prompt
		if j.claimed != nil {
			f.claimed = j.claimed
		}
		s.mu.Unlock()
		return true
	}
	if j.prompt {
		if s.deferred[j.key()] {
			s.mu.Unlock()
			return true // one waits already
		}
		// Real time, not Options.Now: this paces requests to the provider.
		if since := time.Since(s.lastLookup[j.key()]); since < s.o.PromptInterval {
			s.deferred[j.key()] = true
			s.mu.Unlock()
			s.deferPrompt(s.o.PromptInterval-since, j)
			return true
		}
	}
	s.inflight[j.key()] = &flight{}
	s.mu.Unlock()
	select {
	case s.queue <- j:
		return true
	default:
		s.mu.Lock()
		delete(s.inflight, j.key())
		s.mu.Unlock()
		s.log.Warn("status lookup queue is full; the next reconcile run looks the order up", "order_id", j.orderID, "provider", j.provider)
		return false
	}
}

func (s *Service) worker() {
	defer s.wg.Done()
	for {
		select {
		case <-s.stopping:
			return
		default:
		}
		select {
		case <-s.stopping:
			return
		case j := <-s.queue:
			s.startedLookup(j.key())
			s.confirm(j)
			s.mu.Lock()
			f := s.inflight[j.key()]
			delete(s.inflight, j.key())
			s.mu.Unlock()
			if f != nil && f.rerun {
				next := lookupJob{provider: j.provider, orderID: j.orderID, ref: j.ref, claimed: f.claimed, prompt: f.prompt && f.claimed == nil}
				if next.claimed == nil {
					next.claimed = j.claimed
				}
				s.enqueue(next)
			}
		}
	}
}

// maxLastLookups bounds the orders whose last lookup is remembered; past
// it, those looked up longer than PromptInterval ago are forgotten.
const maxLastLookups = 10000

// startedLookup notes when the order's lookup began, for PromptInterval.
func (s *Service) startedLookup(key string) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.lastLookup) >= maxLastLookups {
		for k, at := range s.lastLookup {
			if now.Sub(at) >= s.o.PromptInterval {
				delete(s.lastLookup, k)
			}
		}
	}
	s.lastLookup[key] = now
}

// deferPrompt enqueues the prompted lookup j after d (see enqueue).
func (s *Service) deferPrompt(d time.Duration, j lookupJob) {
	s.mu.Lock()
	if s.closed {
		delete(s.deferred, j.key())
		s.mu.Unlock()
		return
	}
	s.wg.Add(1)
	s.waiting++
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		t := time.NewTimer(d)
		defer t.Stop()
		fire := false
		select {
		case <-t.C:
			fire = true
		case <-s.stopping:
		}
		s.mu.Lock()
		delete(s.deferred, j.key())
		s.waiting--
		s.mu.Unlock()
		if fire {
			s.enqueue(j) // deferred again if another lookup began meanwhile
		}
	}()
}

// later re-enqueues j after d, unless the service stops first.
func (s *Service) later(d time.Duration, j lookupJob) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.wg.Add(1)
	s.waiting++
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		defer func() {
			s.mu.Lock()
			s.waiting--
			s.mu.Unlock()
		}()
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			s.enqueue(j)
		case <-s.stopping:
		}
	}()
}

// WaitIdle waits until no status lookup is queued, running or waiting to
// be tried again, or ctx ends: tests use it to see all that a request led to.
func (s *Service) WaitIdle(ctx context.Context) error {
	for {
		s.mu.Lock()
		idle := len(s.inflight) == 0 && s.waiting == 0
		s.mu.Unlock()
		if idle {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// dbContext bounds a journal write that must happen even when the lookup's
// own context (a child of parent) has run out.
func dbContext(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(parent), 15*time.Second)
}

// confirm runs one queued lookup.
func (s *Service) confirm(j lookupJob) {
	p, ok := s.providers[j.provider]
	if !ok || !p.Capabilities().LooksUp {
		return
	}
	dctx, dcancel := dbContext(s.ctx)
	defer dcancel()
	o, err := s.store.GetOrder(dctx, j.orderID)
	exists := err == nil
	switch {
	case core.ErrorCode(err) == core.ENOTFOUND:
		// Money may have come for an order paysync does not know: ask anyway,
		// so that a confirmed payment becomes an orphan for review.
		o = core.Order{ID: j.orderID, Provider: j.provider, ProviderRef: j.ref}
	case err != nil:
		s.log.Error("status lookup skipped: cannot read the order; the next reconcile run retries", "order_id", j.orderID, "err", err)
		return
	}
	if o.ProviderRef == "" {
		o.ProviderRef = j.ref
	}
	lctx, lcancel := context.WithTimeout(s.ctx, s.o.LookupTimeout)
	ev, err := p.Lookup(lctx, o)
	lcancel()
	if err != nil {
		s.lookupFailed(dctx, p.Name(), o, err)
		return
	}
	s.applyLookup(dctx, p.Name(), o, exists, ev, &j)
}

// lookupFailed journals a lookup that got no answer. Nothing is guessed:
// the order stays where it is until a later lookup answers.
func (s *Service) lookupFailed(ctx context.Context, provider string, o core.Order, err error) {
	s.metrics.lookups.WithLabelValues(provider, string(core.VerdictLookupFailed)).Inc()
	s.log.Warn("status lookup failed", "provider", provider, "order_id", o.ID, "err", err)
	entry := core.JournalEntry{OrderID: o.ID, Provider: provider, Source: core.SourceLookup, Verdict: core.VerdictLookupFailed,
		StatusBefore: o.Status, StatusAfter: o.Status, ProviderRef: o.ProviderRef,
		Reason: s.displayName(provider) + " status lookup failed: " + core.ErrorMessage(err) + "; the next reconcile run asks again"}
	if jerr := s.ledger.Record(ctx, entry); jerr != nil {
		s.log.Error("lookup failure not journaled", "order_id", o.ID, "err", jerr)
	}
}

// LookupEventID names a lookup result so that the same answer seen twice is
// one event: lookup:<provider>:<ref>:<status>, plus the refunded amount for
// refunds (each further partial refund is news).
func LookupEventID(provider, ref string, ev core.PaymentEvent) string {
	id := "lookup:" + provider + ":" + ref + ":" + string(ev.Status)
	if ev.Status == core.StatusRefunded {
		id += ":" + strconv.FormatInt(ev.RefundedMinor, 10)
	}
	return id
}

// applyLookup hands a lookup's answer to the ledger. job is nil for
// Reconcile. Unless the lookup confirms a webhook, answers that would
// change nothing are skipped, so that a pending order looked up every few
// minutes (or prompted by anonymous requests) does not fill its journal.
func (s *Service) applyLookup(ctx context.Context, provider string, o core.Order, exists bool, ev core.PaymentEvent, job *lookupJob) {
	ev.Provider, ev.Source, ev.Verified, ev.OrderID = provider, core.SourceLookup, true, o.ID
	ref := ev.ProviderRef
	if ref == "" {
		ref = o.ProviderRef
	}
	if ref == "" {
		ref = o.ID
	}
	ev.EventID = LookupEventID(provider, ref, ev)
	if err := ev.CheckFields(); err != nil {
		s.lookupFailed(ctx, provider, o, core.Errorf(core.EUNAVAILABLE, "its answer is unusable: %s", core.ErrorMessage(err)))
		return
	}
	var claimed *core.PaymentEvent
	if job != nil {
		claimed = job.claimed
	}
	moving := ev.Status != "" && ev.Status != core.StatusPending
	if !moving {
		s.metrics.lookups.WithLabelValues(provider, "no_change").Inc()
		if claimed == nil {
			return
		}
		if job.attempt < len(s.o.ConfirmRetry) {
			next := *job
			next.attempt++
			s.later(s.o.ConfirmRetry[job.attempt], next)
			return
		}
		s.unconfirmed(ctx, provider, o, exists, *claimed, ev, false)
		return
	}
	if claimed == nil && exists {
		// A plain check (reconcile, a return visit, a callback without a
		// checksum) journals only what changes the order.
		if d := core.Decide(&o, ev); d.Verdict == core.VerdictDuplicate || d.Verdict == core.VerdictIgnored {
			s.metrics.lookups.WithLabelValues(provider, "no_change").Inc()
			return
		}
	}
	out, err := s.ledger.ApplyEvent(ctx, ev)
	if err != nil {
		s.log.Error("lookup result not applied; the next reconcile run retries", "order_id", o.ID, "provider", provider, "err", err)
		return
	}
	s.metrics.lookups.WithLabelValues(provider, string(out.Verdict)).Inc()
	s.log.Info("status lookup applied", "order_id", o.ID, "provider", provider, "status", ev.Status, "verdict", out.Verdict)
	if claimed != nil && claimed.Status != ev.Status {
		s.unconfirmed(ctx, provider, o, exists, *claimed, ev, true)
	}
}

// unconfirmed journals that a lookup did not confirm what a webhook said.
func (s *Service) unconfirmed(ctx context.Context, provider string, o core.Order, exists bool, claimed, got core.PaymentEvent, applied bool) {
	said := string(got.Status)
	if said == "" {
		said = "no payment change (" + got.Type + ")"
	}
	reason := "webhook said " + string(claimed.Status) + ", but the " + s.displayName(provider) + " status lookup says " + said
	if applied {
		reason += "; the lookup's answer was applied"
	} else {
		reason += "; the order was not moved"
	}
	entry := core.JournalEntry{OrderID: o.ID, Provider: provider, Source: core.SourceLookup, EventType: claimed.Type,
		Verdict: core.VerdictUnconfirmed, AmountMinor: claimed.AmountMinor, Currency: claimed.Currency,
		ProviderRef: claimed.ProviderRef, Reason: reason}
	if exists {
		if cur, err := s.store.GetOrder(ctx, o.ID); err == nil {
			entry.StatusBefore, entry.StatusAfter = cur.Status, cur.Status
		}
	}
	s.log.Warn("webhook not confirmed by status lookup", "order_id", o.ID, "provider", provider, "reason", reason)
	if err := s.ledger.Record(ctx, entry); err != nil {
		s.log.Error("unconfirmed webhook not journaled", "order_id", o.ID, "err", err)
	}
}

// ReconcileResult counts what one Reconcile run did.
type ReconcileResult struct {
	Checked int // orders looked up
	Changed int // lookups that changed an order (or journaled a finding)
	Failed  int // lookups with no answer (journaled lookup_failed)
	Skipped int // due orders whose provider cannot look up, never linked, or too old
}

// Reconcile looks up pending and failed orders whose status has not changed
// for ReconcileAfter, and applies what each provider says. It is how a
// webhook that never arrived, or a lookup that timed out, gets settled. For
// providers that never call paysync (Capabilities.RefundsByLookup) it also
// looks up paid and partly refunded orders, the next batch each run, so
// that a refund made in the provider's back office is found.
func (s *Service) Reconcile(ctx context.Context) (ReconcileResult, error) {
	now := s.now()
	cutoff := now.Add(-s.o.ReconcileAfter)
	var oldest time.Time // orders older than ReconcileMaxAge are left alone
	if s.o.ReconcileMaxAge > 0 {
		oldest = now.Add(-s.o.ReconcileMaxAge)
	}
	r := reconcileRun{s: s, sem: make(chan struct{}, s.o.LookupWorkers)}
	// One query per status, so that a backlog of old failed orders cannot
	// starve pending ones (DueOrders returns the oldest first).
	for _, st := range []core.Status{core.StatusPending, core.StatusFailed} {
		orders, err := s.store.DueOrders(ctx, []core.Status{st}, oldest, cutoff, s.o.ReconcileBatch)
		if err != nil {
			r.wg.Wait()
			return r.res, err
		}
		if err := r.lookUp(ctx, orders, func(c core.Capabilities) bool { return c.LooksUp }); err != nil {
			return r.res, err
		}
	}
	if s.refundsByLookup() {
		s.mu.Lock()
		after := s.refundCursor
		s.mu.Unlock()
		if after.Before(oldest) {
			after = oldest
		}
		orders, err := s.store.DueOrders(ctx, []core.Status{core.StatusPaid, core.StatusPartiallyRefunded}, after, cutoff, s.o.ReconcileBatch)
		if err != nil {
			r.wg.Wait()
			return r.res, err
		}
		next := time.Time{} // from the start again once the last batch is read
		if len(orders) == s.o.ReconcileBatch {
			next = orders[len(orders)-1].StatusChangedAt.Add(time.Microsecond)
		}
		s.mu.Lock()
		s.refundCursor = next
		s.mu.Unlock()
		// Only the providers that never call paysync: the others' refunds
		// come by webhook, and their paid orders are not skipped work.
		orders = slices.DeleteFunc(orders, func(o core.Order) bool {
			p, ok := s.providers[o.Provider]
			return !ok || !p.Capabilities().RefundsByLookup
		})
		if err := r.lookUp(ctx, orders, func(c core.Capabilities) bool { return c.LooksUp }); err != nil {
			return r.res, err
		}
	}
	r.wg.Wait()
	res := r.res
	if res.Checked > 0 || res.Failed > 0 {
		s.log.Info("reconcile run", "checked", res.Checked, "changed", res.Changed, "failed", res.Failed, "skipped", res.Skipped)
	}
	return res, nil
}

// refundsByLookup reports whether an enabled provider finds refunds only by lookup.
func (s *Service) refundsByLookup() bool {
	for _, p := range s.providers {
		if c := p.Capabilities(); c.LooksUp && c.RefundsByLookup {
			return true
		}
	}
	return false
}

// reconcileRun is one Reconcile pass: its lookups, LookupWorkers at a time.
type reconcileRun struct {
	s   *Service
	sem chan struct{}
	wg  sync.WaitGroup
	mu  sync.Mutex
	res ReconcileResult
}

// lookUp starts a lookup of each order whose provider's capabilities pass
// want; the others are counted as skipped.
func (r *reconcileRun) lookUp(ctx context.Context, orders []core.Order, want func(core.Capabilities) bool) error {
	s := r.s
	for _, o := range orders {
		p, ok := s.providers[o.Provider]
		// An order that never got a link or a provider reference never
		// reached a checkout page: nobody can have paid it there.
		neverLinked := o.ProviderRef == "" && o.PaymentURL == ""
		if !ok || !want(p.Capabilities()) || neverLinked {
			r.count(func(res *ReconcileResult) { res.Skipped++ })
			continue
		}
		select {
		case r.sem <- struct{}{}:
		case <-ctx.Done():
			r.wg.Wait()
			return ctx.Err()
		}
		r.wg.Add(1)
		go func(o core.Order, p core.Provider) {
			defer r.wg.Done()
			defer func() { <-r.sem }()
			lctx, cancel := context.WithTimeout(ctx, s.o.LookupTimeout)
			ev, err := p.Lookup(lctx, o)
			cancel()
			dctx, dcancel := dbContext(ctx)
			defer dcancel()
			r.count(func(res *ReconcileResult) { res.Checked++ })
			if err != nil {
				s.lookupFailed(dctx, p.Name(), o, err)
				r.count(func(res *ReconcileResult) { res.Failed++ })
				return
			}
			before, _ := s.store.GetOrder(dctx, o.ID)
			s.applyLookup(dctx, p.Name(), o, true, ev, nil)
			after, _ := s.store.GetOrder(dctx, o.ID)
			if after.Version != before.Version {
				r.count(func(res *ReconcileResult) { res.Changed++ })
			}
		}(o, p)
	}
	return nil
}

func (r *reconcileRun) count(f func(*ReconcileResult)) {
	r.mu.Lock()
	f(&r.res)
	r.mu.Unlock()
}

// ExpireDue expires unpaid (pending or failed) orders past their expiry.
// It returns how many it expired.
func (s *Service) ExpireDue(ctx context.Context) (int, error) {
	total := 0
	for {
		orders, err := s.store.ExpiredOrders(ctx, []core.Status{core.StatusPending, core.StatusFailed}, s.now(), s.o.ReconcileBatch)
		if err != nil {
			return total, err
		}
		moved := 0
		for _, o := range orders {
			got, err := s.ledger.Expire(ctx, o.ID)
			if err != nil {
				s.log.Error("order not expired", "order_id", o.ID, "err", err)
				continue
			}
			if got.Status == core.StatusExpired {
				moved++
			}
		}
		total += moved
		// Expired orders leave the set, so the next page is new work; a page
		// that moved nothing (errors) would only repeat itself.
		if moved == 0 || len(orders) < s.o.ReconcileBatch {
			break
		}
	}
	if total > 0 {
		s.log.Info("orders expired", "count", total)
	}
	return total, nil
}
