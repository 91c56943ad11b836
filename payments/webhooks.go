package payments

import (
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/httpapi"
)

// Webhooks returns the handler for /webhooks/ (mount it there, unstripped):
//
//	POST     /webhooks/vpos       VPOS.am events
//	GET|POST /webhooks/arca       ArCa callbacks
//	POST     /webhooks/generic    Standard Webhooks-signed normalized events
//	GET      /webhooks/{provider}/return?order_id=ID   the buyer's return page
//
// Answers: accepted, duplicate, ignored or awaiting confirmation -> 200;
// bad signature, checksum or timestamp -> 401; malformed -> 400; larger than
// 256 KiB -> 413; any of those from an address past its allowance of
// failing requests -> 429 with Retry-After; a provider that is not
// configured, or that sends no webhooks (Capabilities.NoWebhooks: Ameriabank
// vPOS has only its return page) -> 404. Every request that reaches a
// configured provider's webhook is recorded: events in the journal (2xx is
// sent only after the entry is committed), refused requests counted in
// refusal records (core.Refusal).
func (s *Service) Webhooks() http.Handler {
	m := httpapi.NewRouter() // JSON 404 and 405 for what it does not route
	m.HandleFunc("/webhooks/{provider}", s.webhook)
	m.HandleFunc("GET /webhooks/{provider}/return", s.returnPage)
	return m
}

// noProvider is the 404 of a provider that is not configured.
func (s *Service) noProvider(name string) error {
	configured := strings.Join(s.names, ", ")
	if configured == "" {
		configured = "none"
	}
	return core.Errorf(core.ENOTFOUND, "no payment provider %q is configured on this paysync (configured: %s)", core.CleanText(name), configured)
}

// webhookMethods are the methods a provider's webhook accepts.
func webhookMethods(p core.Provider) []string {
	if ms := p.Capabilities().WebhookMethods; len(ms) > 0 {
		return ms
	}
	return []string{http.MethodPost}
}

// WebhookResult is the body of a 2xx webhook answer.
type WebhookResult struct {
	Verdicts []core.Verdict `json:"verdicts"`
}

// replier answers one webhook request: in the provider's own words when it
// is a core.Answerer (Idram reads a body of "OK"), else as JSON.
type replier struct {
	w http.ResponseWriter
	a core.Answerer // nil: JSON
}

func (s *Service) replier(w http.ResponseWriter, p core.Provider) replier {
	a, _ := p.(core.Answerer)
	return replier{w: w, a: a}
}

// fail answers a request that was not taken because of err.
func (rp replier) fail(err error) {
	if rp.a != nil {
		rp.a.Answer(rp.w, core.WebhookAnswer{Err: err, Reason: core.ErrorMessage(err)})
		return
	}
	writeError(rp.w, err)
}

// done answers a request whose events were all journaled (or answered, for
// a precheck); a is whether they were taken.
func (rp replier) done(a core.WebhookAnswer) {
	if rp.a != nil {
		rp.a.Answer(rp.w, a)
		return
	}
	if a.Err != nil {
		writeError(rp.w, a.Err)
		return
	}
	writeJSON(rp.w, http.StatusOK, WebhookResult{Verdicts: a.Verdicts})
}

// webhook serves /webhooks/{provider} for every configured provider.
func (s *Service) webhook(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("provider")
	p, ok := s.providers[name]
	if !ok {
		writeError(w, s.noProvider(name))
		return
	}
	if p.Capabilities().NoWebhooks {
		// Nothing to verify or record: this provider never sends any.
		writeError(w, core.Errorf(core.ENOTFOUND, "%s sends no webhooks: its buyers return to /webhooks/%s/return, and paysync asks it where each payment stands",
			s.displayName(name), name))
		return
	}
	rp := s.replier(w, p)
	if methods := webhookMethods(p); !slices.Contains(methods, r.Method) {
		w.Header().Set("Allow", strings.Join(methods, ", "))
		rp.fail(core.Errorf(core.EMETHOD, "%s webhooks are sent with %s, not %s", s.displayName(name), strings.Join(methods, " or "), r.Method))
		return
	}
	start := time.Now()
	defer func() { s.metrics.ingest.WithLabelValues(name).Observe(time.Since(start).Seconds()) }()
	ctx := r.Context()
	req := core.InboundRequest{Method: r.Method, Header: r.Header, Query: r.URL.Query(), ReceivedAt: s.now()}
	if hv, ok := p.(core.HeaderVerifier); ok {
		if err := hv.VerifyHeaders(req); err != nil {
			// No body can make it verify: sample the body as it streams by
			// rather than hold it, so that a flood costs no memory.
			sw := core.NewSampleWriter()
			io.Copy(sw, io.LimitReader(r.Body, MaxWebhookBytes+1))
			s.refuseError(ctx, rp, r, name, err, sw.Sample())
			return
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxWebhookBytes)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			err = core.Errorf(core.ETOOLARGE, "body is larger than %d bytes", MaxWebhookBytes)
			s.refuse(ctx, rp, r, name, core.VerdictMalformed, err, core.SampleOf(body))
			return
		}
		rp.fail(core.Errorf(core.EINVALID, "cannot read the body"))
		return
	}
	raw := body
	if len(raw) == 0 {
		raw = []byte(r.URL.RawQuery) // GET callbacks carry everything in the query
	}
	req.Body = body
	events, err := p.Verify(ctx, req)
	if err != nil {
		s.refuseError(ctx, rp, r, name, err, core.SampleOf(raw))
		return
	}
	for _, ev := range events {
		if err := ev.CheckFields(); err != nil {
			err = core.Errorf(core.EINVALID, "%s event: %s", s.displayName(name), core.ErrorMessage(err))
			s.refuse(ctx, rp, r, name, core.VerdictMalformed, err, core.SampleOf(raw))
			return
		}
	}
	ans := core.WebhookAnswer{Taken: true, Verdicts: []core.Verdict{}}
	for _, ev := range events {
		if ev.Type == core.EventPrecheck {
			if err := s.precheck(ctx, p, ev); err != nil {
				ans.Taken, ans.Err, ans.Reason = false, err, core.ErrorMessage(err)
			}
			continue
		}
		if !ev.Verified && p.Capabilities().ConfirmsByLookup {
			// Anyone can send this: it is not journaled, it only prompts a
			// bounded lookup of an order paysync registered with the provider.
			if wait, err := s.prompt(ctx, p, ev, sourceOf(r)); err != nil {
				if wait > 0 {
					w.Header().Set("Retry-After", strconv.FormatInt(int64((wait+time.Second-1)/time.Second), 10))
				}
				if code := core.ErrorCode(err); code == core.EUNAUTHORIZED || code == core.ETOOMANY {
					s.refuse(ctx, rp, r, name, core.VerdictRejected, err, core.SampleOf(raw))
				} else {
					rp.fail(err)
				}
				return
			}
			s.metrics.webhooks.WithLabelValues(name, string(core.VerdictUnconfirmed)).Inc()
			ans.Verdicts = append(ans.Verdicts, core.VerdictUnconfirmed)
			continue
		}
		ev.Declinable = p.Capabilities().ApprovesPayments && ev.Status == core.StatusPaid
		out, err := s.receive(ctx, p, ev)
		if out.Verdict == core.VerdictRejected {
			s.metrics.webhooks.WithLabelValues(name, string(out.Verdict)).Inc()
			rp.fail(err)
			return
		}
		if err != nil {
			// Not journaled: answer 5xx so the sender delivers it again (a
			// provider that answers in its own words says "not taken").
			s.log.ErrorContext(ctx, "webhook not journaled", "provider", name, "order_id", ev.OrderID, "err", err)
			if core.ErrorCode(err) == core.EINTERNAL {
				err = &core.Error{Code: core.EUNAVAILABLE, Message: "the event could not be recorded; deliver it again later", Err: err}
			}
			rp.fail(err)
			return
		}
		s.metrics.webhooks.WithLabelValues(name, string(out.Verdict)).Inc()
		ans.Verdicts = append(ans.Verdicts, out.Verdict)
		if ev.Declinable && !paymentTaken(ev, out) {
			ans.Taken, ans.Reason = false, out.Reason
		}
	}
	rp.done(ans)
}

// paymentTaken reports whether a payment the provider waits on is the
// order's: accepted now, or accepted when this very transaction was first
// delivered (a redelivery is a duplicate of it).
func paymentTaken(ev core.PaymentEvent, out core.EventOutcome) bool {
	switch out.Verdict {
	case core.VerdictAccepted:
		return true
	case core.VerdictDuplicate:
		o := out.Order
		return o != nil && o.ProviderRef != "" && o.ProviderRef == ev.ProviderRef &&
			(o.Status == core.StatusPaid || o.Status == core.StatusPartiallyRefunded || o.Status == core.StatusRefunded)
	}
	return false
}

// precheck answers a checkout that asks whether an order may be paid before
// it takes the money (core.EventPrecheck). Nothing is journaled.
func (s *Service) precheck(ctx context.Context, p core.Provider, ev core.PaymentEvent) error {
	ev.Provider = p.Name()
	var op *core.Order
	o, err := s.store.GetOrder(ctx, ev.OrderID)
	switch {
	case err == nil:
		op = &o
	case core.ErrorCode(err) != core.ENOTFOUND:
		return &core.Error{Code: core.EUNAVAILABLE, Message: "the order could not be read; ask again later", Err: err}
	}
	err = core.Precheck(op, ev, s.now())
	outcome := "precheck_ok"
	if err != nil {
		outcome = "precheck_refused"
		s.log.InfoContext(ctx, "payment precheck refused", "provider", p.Name(), "order_id", ev.OrderID, "reason", core.ErrorMessage(err))
	}
	s.metrics.webhooks.WithLabelValues(p.Name(), outcome).Inc()
	return err
}

// refuseError refuses a request that failed verification: rejected when it
// is not authentic, malformed when it cannot be read.
func (s *Service) refuseError(ctx context.Context, rp replier, r *http.Request, provider string, err error, sample core.PayloadSample) {
	switch core.ErrorCode(err) {
	case core.EUNAUTHORIZED:
		s.refuse(ctx, rp, r, provider, core.VerdictRejected, err, sample)
	case core.EINVALID, core.ETOOLARGE:
		s.refuse(ctx, rp, r, provider, core.VerdictMalformed, err, sample)
	default:
		s.log.ErrorContext(ctx, "webhook verification failed", "provider", provider, "err", err)
		rp.fail(err)
	}
}

// refuse records a request that did not become a verified event and
// answers it. Refusals are counted per source network (see core.Refusal),
// and a source address over its allowance of failing requests gets 429 with Retry-After:
// the request is then only counted in memory until the next flush.
func (s *Service) refuse(ctx context.Context, rp replier, r *http.Request, provider string, v core.Verdict, cause error, sample core.PayloadSample) {
	if wait := s.RefuseRequest(ctx, r, provider, v, cause, sample); wait > 0 {
		secs := int64((wait + time.Second - 1) / time.Second)
		rp.w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		rp.fail(core.Errorf(core.ETOOMANY, "too many failing webhook requests from %s: retry after %ds. This one was refused because: %s",
			sourceOf(r), secs, core.ErrorMessage(cause)))
		return
	}
	rp.fail(cause)
}

// RefuseRequest records a request that did not verify at an endpoint other
// than a provider's (a connector's webhooks, named by source: "instagram")
// the way refused provider webhooks are recorded: counted per source
// network in the refusal records, on /metrics and in the log. It does not
// answer the request; it returns how long the sender must wait when its
// address is past its allowance of failing requests (answer 429 with
// Retry-After; the request is then counted at the next flush), else 0.
func (s *Service) RefuseRequest(ctx context.Context, r *http.Request, source string, v core.Verdict, cause error, sample core.PayloadSample) time.Duration {
	now := s.now()
	src := sourceOf(r)
	if n := r.ContentLength; n > sample.Size {
		sample.Size = n
	}
	reason := core.ScrubCardText(core.ErrorMessage(cause))
	ref := core.NewRefusal(source, core.RefusalSource(src), v, reason, sample, now)
	if wait, ok := s.gate.allow(src, now); !ok {
		ref.Throttled = 1
		s.gate.hold(ref)
		s.metrics.webhooks.WithLabelValues(source, "rate_limited").Inc()
		return max(wait, time.Second)
	}
	s.metrics.webhooks.WithLabelValues(source, string(v)).Inc()
	if err := s.ledger.Refuse(ctx, ref); err != nil {
		s.log.ErrorContext(ctx, "refused request not recorded", "source", source, "verdict", v, "err", err)
	}
	s.log.WarnContext(ctx, "webhook refused", "provider", source, "source", src, "verdict", v, "reason", reason)
	return 0
}

// CountWebhook counts a request a connector's webhook took, by verdict,
// in paysync_webhooks_total.
func (s *Service) CountWebhook(source, verdict string) {
	s.metrics.webhooks.WithLabelValues(source, verdict).Inc()
}

// receive journals one parsed event. Providers confirmed by lookup get an
// "unconfirmed" entry and a lookup; the others go straight to the ledger.
func (s *Service) receive(ctx context.Context, p core.Provider, ev core.PaymentEvent) (core.EventOutcome, error) {
	ev.Provider = p.Name()
	ev.Source = core.SourceWebhook
	moving := ev.Status != "" && ev.Status != core.StatusPending
	if !p.Capabilities().ConfirmsByLookup || !moving {
		if !ev.Verified && moving {
			// Only a status lookup could make an unsigned event count, and
			// this provider is not confirmed by one.
			err := core.Errorf(core.EUNAUTHORIZED, "%s event is not signed", s.displayName(p.Name()))
			if jerr := s.ledger.Record(ctx, s.entry(ctx, ev, core.VerdictRejected, core.ErrorMessage(err))); jerr != nil {
				return core.EventOutcome{}, jerr
			}
			return core.EventOutcome{Verdict: core.VerdictRejected, Reason: core.ErrorMessage(err)}, err
		}
		if !ev.Verified {
			// An unsigned notice that does not move a payment: note it.
			reason := "unsigned notice " + ev.Type + " does not change a payment"
			return core.EventOutcome{Verdict: core.VerdictIgnored, Reason: reason}, s.ledger.Record(ctx, s.entry(ctx, ev, core.VerdictIgnored, reason))
		}
		return s.ledger.ApplyEvent(ctx, ev)
	}
	// A verified webhook of a provider confirmed by lookup (unsigned ones
	// only prompt a lookup: see prompt). Journaled with its event id, so
	// that a redelivery is a duplicate.
	reason := "signature valid; the order moves once a " + s.displayName(p.Name()) + " status lookup confirms " + string(ev.Status)
	entry := s.entry(ctx, ev, core.VerdictUnconfirmed, reason)
	verdict := core.VerdictUnconfirmed
	entry.EventID = ev.EventID
	err := s.ledger.Receive(ctx, entry)
	if core.ErrorCode(err) == core.EDUPLICATE {
		verdict = core.VerdictDuplicate
		dup := s.entry(ctx, ev, core.VerdictDuplicate, "event "+ev.EventID+" was already received")
		if err := s.ledger.Record(ctx, dup); err != nil {
			return core.EventOutcome{}, err
		}
		if o, err := s.store.GetOrder(ctx, ev.OrderID); err == nil && o.Status == ev.Status {
			return core.EventOutcome{Verdict: verdict, Reason: dup.Reason, Order: &o}, nil // already confirmed: no new lookup
		}
	} else if err != nil {
		return core.EventOutcome{}, err
	}
	evCopy := ev
	evCopy.Payload = nil
	s.enqueue(lookupJob{provider: p.Name(), orderID: ev.OrderID, ref: ev.ProviderRef, claimed: &evCopy})
	return core.EventOutcome{Verdict: verdict, Reason: reason}, nil
}

// prompt takes an unsigned callback of a provider confirmed by lookup as
// what it is: a hint that the order may have moved, from anyone. It asks
// for a lookup of the order, bounded (see enqueue and Options.Prompt*), and
// journals nothing: the lookup's answer is journaled if it moves the order.
// A callback for an order paysync did not register with the provider is
// refused (EUNAUTHORIZED), as is one from a source past its allowance of
// prompts (ETOOMANY): both are counted in refusal records.
func (s *Service) prompt(ctx context.Context, p core.Provider, ev core.PaymentEvent, source string) (retryAfter time.Duration, err error) {
	o, err := s.store.GetOrder(ctx, ev.OrderID)
	if core.ErrorCode(err) == core.ENOTFOUND || err == nil && o.Provider != p.Name() {
		return 0, core.Errorf(core.EUNAUTHORIZED, "unsigned %s callback for order %s, which paysync did not register with %s: without a callback key a callback only prompts a status lookup of paysync's own orders (ask the bank to sign callbacks, and set the callback key: docs/payments.md)",
			s.displayName(p.Name()), ev.OrderID, s.displayName(p.Name()))
	}
	if err != nil {
		return 0, &core.Error{Code: core.EUNAVAILABLE, Message: "the order could not be read; deliver the callback again later", Err: err}
	}
	if wait, ok := s.prompts.allow(source, s.now()); !ok {
		return wait, core.Errorf(core.ETOOMANY, "too many unsigned callbacks from %s: each prompts a status lookup at %s, so they are limited; retry after %ds, or ask the bank to sign callbacks",
			source, s.displayName(p.Name()), int64((wait+time.Second-1)/time.Second))
	}
	s.enqueue(lookupJob{provider: p.Name(), orderID: o.ID, ref: o.ProviderRef, prompt: true})
	return 0, nil
}

// entry is a journal line for ev that does not go through the state machine.
func (s *Service) entry(ctx context.Context, ev core.PaymentEvent, v core.Verdict, reason string) core.JournalEntry {
	e := core.JournalEntry{OrderID: ev.OrderID, Provider: ev.Provider, Source: ev.Source, EventType: ev.Type, Verdict: v,
		AmountMinor: ev.AmountMinor, Currency: ev.Currency, ProviderRef: ev.ProviderRef, Reason: reason}
	if ev.Verified && v != core.VerdictDuplicate {
		e.KeepPayload(ev.Payload)
	} else {
		e.KeepSample(ev.Payload) // untrusted, or kept whole by the first delivery
	}
	if ev.Status == core.StatusRefunded {
		e.AmountMinor = ev.RefundFigure()
	}
	if core.ValidateOrderID(e.OrderID) != nil {
		e.OrderID = ""
	} else if o, err := s.store.GetOrder(ctx, e.OrderID); err == nil {
		e.StatusBefore, e.StatusAfter = o.Status, o.Status
	}
	return e
}

var returnTmpl = template.Must(template.New("return").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Payment</title>{{if .Refresh}}
<meta http-equiv="refresh" content="5">{{end}}</head>
<body style="font-family:sans-serif;max-width:32em;margin:3em auto">
<h1>{{.Title}}</h1>
<p>{{.Text}}</p>
</body></html>`))

// returnView is what the return page says: what paysync knows of the order.
type returnView struct {
	Title, Text string
	Refresh     bool // still being confirmed: look again in a few seconds
}

// returnMessage says what paysync knows of an order, in the buyer's words.
// A visit proves nothing, so it never says more than the provider did.
func returnMessage(id string, o *core.Order) returnView {
	if o == nil {
		return returnView{Title: "Thank you", Text: "Your payment is being confirmed with the bank. You can close this page; the shop will message you."}
	}
	order := "order " + id
	switch o.Status {
	case core.StatusPaid:
		return returnView{Title: "Payment received", Text: "The payment for " + order + " is confirmed. Thank you; the shop will message you."}
	case core.StatusPartiallyRefunded, core.StatusRefunded:
		return returnView{Title: "Payment refunded", Text: "The payment for " + order + " was refunded, in part or in whole. The shop will message you."}
	case core.StatusFailed:
		return returnView{Title: "Payment not completed", Text: "The bank has not confirmed a payment for " + order + " yet; if it was declined, you may pay again with the link the shop sent you.", Refresh: true}
	case core.StatusExpired:
		return returnView{Title: "Payment link expired", Text: "The payment link for " + order + " has expired. Ask the shop for a new one."}
	case core.StatusManualReview:
		return returnView{Title: "Payment being checked", Text: "The shop is checking the payment for " + order + " and will message you."}
	}
	return returnView{Title: "Thank you", Text: "Your payment for " + order + " is being confirmed with the bank. This page updates itself; you can also close it, the shop will message you.", Refresh: true}
}

// returnPage is where the provider sends the buyer back. The visit proves
// nothing, but it is a good moment to ask the provider: a lookup of the
// order, bounded as an anonymous prompt (at most one per PromptInterval
// for the order, within the visitor's allowance). The page says what
// paysync knows of the order.
func (s *Service) returnPage(w http.ResponseWriter, r *http.Request) {
	p, ok := s.providers[r.PathValue("provider")]
	if !ok {
		writeError(w, s.noProvider(r.PathValue("provider")))
		return
	}
	id := r.URL.Query().Get("order_id")
	if rr, ok := p.(core.ReturnReader); ok {
		id = rr.ReturnOrderID(r.URL.Query())
	}
	if core.ValidateOrderID(id) != nil {
		id = ""
	}
	var known *core.Order
	if id != "" {
		if o, err := s.store.GetOrder(r.Context(), id); err == nil && o.Provider == p.Name() {
			known = &o
			if p.Capabilities().LooksUp && (o.Status == core.StatusPending || o.Status == core.StatusFailed) {
				if _, ok := s.prompts.allow(sourceOf(r), s.now()); ok {
					s.enqueue(lookupJob{provider: p.Name(), orderID: o.ID, ref: o.ProviderRef, prompt: true})
				}
			}
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	returnTmpl.Execute(w, returnMessage(id, known))
}

// statusFor is the HTTP layer's mapping, except that a sender meeting a
// concurrent change (ESTALE) is asked to retry rather than told it conflicts.
func statusFor(code string) int {
	if code == core.ESTALE {
		return http.StatusServiceUnavailable
	}
	return httpapi.StatusFor(code)
}

// writeError answers like the admin API: {"error":{"code","message"}}.
func writeError(w http.ResponseWriter, err error) {
	code := core.ErrorCode(err)
	writeJSON(w, statusFor(code), map[string]any{"error": map[string]string{"code": code, "message": core.ErrorMessage(err)}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
