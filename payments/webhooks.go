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
// configured -> 404. Every request that reaches a configured provider is
// recorded: events in the journal (2xx is sent only after the entry is
// committed), refused requests counted in refusal records (core.Refusal).
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

// webhook serves /webhooks/{provider} for every configured provider.
func (s *Service) webhook(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("provider")
	p, ok := s.providers[name]
	if !ok {
		writeError(w, s.noProvider(name))
		return
	}
	if methods := webhookMethods(p); !slices.Contains(methods, r.Method) {
		w.Header().Set("Allow", strings.Join(methods, ", "))
		writeError(w, core.Errorf(core.EMETHOD, "%s webhooks are sent with %s, not %s", s.displayName(name), strings.Join(methods, " or "), r.Method))
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
			s.refuseError(ctx, w, r, name, err, sw.Sample())
			return
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxWebhookBytes)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			err = core.Errorf(core.ETOOLARGE, "body is larger than %d bytes", MaxWebhookBytes)
			s.refuse(ctx, w, r, name, core.VerdictMalformed, err, core.SampleOf(body))
			return
		}
		writeError(w, core.Errorf(core.EINVALID, "cannot read the body"))
		return
	}
	raw := body
	if len(raw) == 0 {
		raw = []byte(r.URL.RawQuery) // GET callbacks carry everything in the query
	}
	req.Body = body
	events, err := p.Verify(ctx, req)
	if err != nil {
		s.refuseError(ctx, w, r, name, err, core.SampleOf(raw))
		return
	}
	for _, ev := range events {
		if err := ev.CheckFields(); err != nil {
			err = core.Errorf(core.EINVALID, "%s event: %s", s.displayName(name), core.ErrorMessage(err))
			s.refuse(ctx, w, r, name, core.VerdictMalformed, err, core.SampleOf(raw))
			return
		}
	}
	res := WebhookResult{Verdicts: []core.Verdict{}}
	for _, ev := range events {
		v, err := s.receive(ctx, p, ev)
		if v == core.VerdictRejected {
			s.metrics.webhooks.WithLabelValues(name, string(v)).Inc()
			writeError(w, err)
			return
		}
		if err != nil {
			// Not journaled: answer 5xx so the sender delivers it again.
			s.log.ErrorContext(ctx, "webhook not journaled", "provider", name, "order_id", ev.OrderID, "err", err)
			if core.ErrorCode(err) == core.EINTERNAL {
				err = &core.Error{Code: core.EUNAVAILABLE, Message: "the event could not be recorded; deliver it again later", Err: err}
			}
			writeError(w, err)
			return
		}
		s.metrics.webhooks.WithLabelValues(name, string(v)).Inc()
		res.Verdicts = append(res.Verdicts, v)
	}
	writeJSON(w, http.StatusOK, res)
}

// refuseError refuses a request that failed verification: rejected when it
// is not authentic, malformed when it cannot be read.
func (s *Service) refuseError(ctx context.Context, w http.ResponseWriter, r *http.Request, provider string, err error, sample core.PayloadSample) {
	switch core.ErrorCode(err) {
	case core.EUNAUTHORIZED:
		s.refuse(ctx, w, r, provider, core.VerdictRejected, err, sample)
	case core.EINVALID, core.ETOOLARGE:
		s.refuse(ctx, w, r, provider, core.VerdictMalformed, err, sample)
	default:
		s.log.ErrorContext(ctx, "webhook verification failed", "provider", provider, "err", err)
		writeError(w, err)
	}
}

// refuse records a request that did not become a verified event and
// answers it. Refusals are counted per source (see core.Refusal), and a
// source over its allowance of failing requests gets 429 with Retry-After:
// the request is then only counted in memory until the next flush.
func (s *Service) refuse(ctx context.Context, w http.ResponseWriter, r *http.Request, provider string, v core.Verdict, cause error, sample core.PayloadSample) {
	now := s.now()
	src := sourceOf(r)
	if n := r.ContentLength; n > sample.Size {
		sample.Size = n // a body too large was not read whole
	}
	ref := core.NewRefusal(provider, src, v, core.ErrorMessage(cause), sample, now)
	if wait, ok := s.gate.allow(src, now); !ok {
		ref.Throttled = 1
		s.gate.hold(ref)
		s.metrics.webhooks.WithLabelValues(provider, "rate_limited").Inc()
		secs := int64((wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		writeError(w, core.Errorf(core.ETOOMANY, "too many failing webhook requests from %s: retry after %ds. This one was refused because: %s",
			src, secs, core.ErrorMessage(cause)))
		return
	}
	s.metrics.webhooks.WithLabelValues(provider, string(v)).Inc()
	if err := s.ledger.Refuse(ctx, ref); err != nil {
		// The answer stays a refusal: the sender must not retry a forgery.
		s.log.ErrorContext(ctx, "refused webhook not recorded", "provider", provider, "verdict", v, "err", err)
	}
	s.log.WarnContext(ctx, "webhook refused", "provider", provider, "source", src, "verdict", v, "reason", core.ErrorMessage(cause))
	writeError(w, cause)
}

// receive journals one parsed event. Providers confirmed by lookup get an
// "unconfirmed" entry and a lookup; the others go straight to the ledger.
func (s *Service) receive(ctx context.Context, p core.Provider, ev core.PaymentEvent) (core.Verdict, error) {
	ev.Provider = p.Name()
	ev.Source = core.SourceWebhook
	moving := ev.Status != "" && ev.Status != core.StatusPending
	if !p.Capabilities().ConfirmsByLookup || !moving {
		if !ev.Verified && moving {
			// Only a status lookup could make an unsigned event count, and
			// this provider is not confirmed by one.
			err := core.Errorf(core.EUNAUTHORIZED, "%s event is not signed", s.displayName(p.Name()))
			if jerr := s.ledger.Record(ctx, s.entry(ctx, ev, core.VerdictRejected, core.ErrorMessage(err))); jerr != nil {
				return "", jerr
			}
			return core.VerdictRejected, err
		}
		if !ev.Verified {
			// An unsigned notice that does not move a payment: note it.
			return core.VerdictIgnored, s.ledger.Record(ctx, s.entry(ctx, ev, core.VerdictIgnored,
				"unsigned notice "+ev.Type+" does not change a payment"))
		}
		out, err := s.ledger.ApplyEvent(ctx, ev)
		return out.Verdict, err
	}
	reason := "signature valid; the order moves once a " + s.displayName(p.Name()) + " status lookup confirms " + string(ev.Status)
	if !ev.Verified {
		reason = "unsigned callback; the order moves only if a " + s.displayName(p.Name()) + " status lookup says " + string(ev.Status)
	}
	entry := s.entry(ctx, ev, core.VerdictUnconfirmed, reason)
	verdict := core.VerdictUnconfirmed
	if ev.Verified {
		// Journaled with its event id, so that a redelivery is a duplicate.
		entry.EventID = ev.EventID
		err := s.ledger.Receive(ctx, entry)
		if core.ErrorCode(err) == core.EDUPLICATE {
			verdict = core.VerdictDuplicate
			dup := s.entry(ctx, ev, core.VerdictDuplicate, "event "+ev.EventID+" was already received")
			if err := s.ledger.Record(ctx, dup); err != nil {
				return "", err
			}
			if o, err := s.store.GetOrder(ctx, ev.OrderID); err == nil && o.Status == ev.Status {
				return verdict, nil // already confirmed: no new lookup
			}
		} else if err != nil {
			return "", err
		}
	} else if err := s.ledger.Record(ctx, entry); err != nil {
		return "", err
	}
	evCopy := ev
	evCopy.Payload = nil
	s.enqueue(lookupJob{provider: p.Name(), orderID: ev.OrderID, ref: ev.ProviderRef, claimed: &evCopy})
	return verdict, nil
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
<html><head><meta charset="utf-8"><title>Payment</title></head>
<body style="font-family:sans-serif;max-width:32em;margin:3em auto">
<h1>Thank you</h1>
<p>{{if .}}Your payment for order <b>{{.}}</b> is being confirmed with the bank.{{else}}Your payment is being confirmed with the bank.{{end}}
You can close this page; the shop will message you.</p>
</body></html>`))

// returnPage is where the provider sends the buyer back. The visit proves
// nothing, but it is a good moment to ask the provider.
func (s *Service) returnPage(w http.ResponseWriter, r *http.Request) {
	p, ok := s.providers[r.PathValue("provider")]
	if !ok {
		writeError(w, s.noProvider(r.PathValue("provider")))
		return
	}
	id := r.URL.Query().Get("order_id")
	if core.ValidateOrderID(id) != nil {
		id = ""
	}
	if id != "" && p.Capabilities().LooksUp {
		if o, err := s.store.GetOrder(r.Context(), id); err == nil && o.Provider == p.Name() &&
			(o.Status == core.StatusPending || o.Status == core.StatusFailed) {
			s.enqueue(lookupJob{provider: p.Name(), orderID: o.ID, ref: o.ProviderRef})
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	returnTmpl.Execute(w, id)
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
