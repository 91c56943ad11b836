package instagram

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/core"
)

// WebhookPath is where Meta's webhooks for Instagram come.
const WebhookPath = "/webhooks/instagram"

// maxWebhook bounds a webhook body, as the payment providers' are bounded.
const maxWebhook = core.MaxJournalPayload

// Routes serves GET|POST /webhooks/instagram: Meta's verification
// handshake and its message events.
func (c *Connector) Routes(in connectors.Inbound) map[string]http.Handler {
	return map[string]http.Handler{WebhookPath: &webhook{c: c, in: in}}
}

type webhook struct {
	c  *Connector
	in connectors.Inbound
}

func (h *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		h.verify(w, r)
	case http.MethodPost:
		h.receive(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		writeError(w, http.StatusMethodNotAllowed, core.EMETHOD,
			WebhookPath+" takes GET (Meta's verification) and POST (its events), not "+r.Method)
	}
}

// verify answers Meta's verification request: hub.mode=subscribe and the
// configured verify token get hub.challenge back, anything else 403.
func (h *webhook) verify(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	mode, token, challenge := q.Get("hub.mode"), q.Get("hub.verify_token"), q.Get("hub.challenge")
	want := h.c.cfg.VerifyToken
	ok := mode == "subscribe" && want != "" && subtle.ConstantTimeCompare([]byte(token), []byte(want)) == 1 &&
		challenge != "" && len(challenge) <= 128 && core.IsText(challenge) && !strings.ContainsAny(challenge, "<>&\"'")
	if !ok {
		why := "the verification request's hub.verify_token does not match PAYSYNC_INSTAGRAM_VERIFY_TOKEN (or hub.mode is not subscribe, or hub.challenge is missing)"
		// The sample holds the mode only: never a token, right or wrong.
		if h.refuse(w, r, core.VerdictRejected, core.Errorf(core.EUNAUTHORIZED, "%s", why), core.SampleOf([]byte("hub.mode="+mode))) {
			return
		}
		writeError(w, http.StatusForbidden, core.EFORBIDDEN, why)
		return
	}
	h.count("verified")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, challenge)
}

// refuse records a refused request; it answers 429 itself, and returns
// true, when the sender is past its allowance of failing requests.
func (h *webhook) refuse(w http.ResponseWriter, r *http.Request, v core.Verdict, cause error, sample core.PayloadSample) bool {
	h.c.log.Warn("Instagram webhook refused", "verdict", v, "reason", core.ErrorMessage(cause))
	if h.in.Refuse == nil {
		return false
	}
	if wait := h.in.Refuse(r.Context(), r, v, cause, sample); wait > 0 {
		secs := int64((wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", itoa(secs))
		writeError(w, http.StatusTooManyRequests, core.ETOOMANY, "too many failing requests from this address: retry after "+itoa(secs)+"s. "+core.ErrorMessage(cause))
		return true
	}
	return false
}

func (h *webhook) count(verdict string) {
	if h.in.Count != nil {
		h.in.Count(verdict)
	}
}

// event is the part of a webhook body paysync reads.
type event struct {
	Object string `json:"object"`
	Entry  []struct {
		ID        string `json:"id"`
		Time      int64  `json:"time"`
		Messaging []struct {
			Sender    struct{ ID string } `json:"sender"`
			Recipient struct{ ID string } `json:"recipient"`
			Timestamp int64               `json:"timestamp"`
			Message   *struct {
				MID         string `json:"mid"`
				Text        string `json:"text"`
				IsEcho      bool   `json:"is_echo"`
				IsDeleted   bool   `json:"is_deleted"`
				Attachments []struct {
					Type string `json:"type"`
				} `json:"attachments"`
			} `json:"message"`
		} `json:"messaging"`
	} `json:"entry"`
}

// WebhookResult is the body of a 200 answer to an event.
type WebhookResult struct {
	Recorded   int `json:"recorded"`   // messages new to paysync
	Duplicates int `json:"duplicates"` // messages it had (Meta redelivers)
	Ignored    int `json:"ignored"`    // events that are not messages (reactions, reads, postbacks)
}

// receive takes one POST: the signature over the bytes received, then each
// message recorded before the 200 goes back.
func (h *webhook) receive(w http.ResponseWriter, r *http.Request) {
	sig := r.Header.Get("X-Hub-Signature-256")
	if !strings.HasPrefix(sig, "sha256=") {
		sw := core.NewSampleWriter()
		io.Copy(sw, io.LimitReader(r.Body, maxWebhook+1))
		err := core.Errorf(core.EUNAUTHORIZED, "the request has no X-Hub-Signature-256 header: Meta signs every webhook it sends")
		if !h.refuse(w, r, core.VerdictRejected, err, sw.Sample()) {
			writeError(w, http.StatusUnauthorized, core.EUNAUTHORIZED, core.ErrorMessage(err))
		}
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhook))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			err := core.Errorf(core.ETOOLARGE, "body is larger than %d bytes", maxWebhook)
			if !h.refuse(w, r, core.VerdictMalformed, err, core.SampleOf(body)) {
				writeError(w, http.StatusRequestEntityTooLarge, core.ETOOLARGE, core.ErrorMessage(err))
			}
			return
		}
		writeError(w, http.StatusBadRequest, core.EINVALID, "cannot read the body")
		return
	}
	if !h.signed(body, sig) {
		err := core.Errorf(core.EUNAUTHORIZED, "X-Hub-Signature-256 does not match the body: the request is not from Meta, "+
			"or paysync has the wrong app secret (PAYSYNC_INSTAGRAM_APP_SECRET; connectors.instagram.webhook_secret when Meta signs with another)")
		if !h.refuse(w, r, core.VerdictRejected, err, core.SampleOf(body)) {
			writeError(w, http.StatusUnauthorized, core.EUNAUTHORIZED, core.ErrorMessage(err))
		}
		return
	}
	var ev event
	if err := json.Unmarshal(body, &ev); err != nil {
		err := core.Errorf(core.EINVALID, "the signed body is not the JSON of an Instagram webhook: %s", core.CleanText(err.Error()))
		if !h.refuse(w, r, core.VerdictMalformed, err, core.SampleOf(body)) {
			writeError(w, http.StatusBadRequest, core.EINVALID, core.ErrorMessage(err))
		}
		return
	}
	var res WebhookResult
	if ev.Object != "instagram" && ev.Object != "page" {
		res.Ignored = len(ev.Entry)
		h.count("ignored")
		writeJSON(w, http.StatusOK, res)
		return
	}
	for _, e := range ev.Entry {
		for _, m := range e.Messaging {
			msg := m.Message
			if msg == nil || msg.MID == "" || msg.IsDeleted {
				res.Ignored++
				h.count("ignored")
				continue
			}
			dm := core.DirectMessage{MID: msg.MID, IGSID: m.Sender.ID, Echo: msg.IsEcho, Text: msg.Text}
			if msg.IsEcho {
				dm.IGSID = m.Recipient.ID // the shop wrote; the thread is the customer's
			}
			if dm.Text == "" && len(msg.Attachments) > 0 {
				dm.Text = "[" + core.Shorten(core.CleanText(msg.Attachments[0].Type), 20) + "]"
			}
			if !msg.IsEcho {
				dm.Language = detectLanguage(msg.Text)
			}
			switch ts := m.Timestamp; {
			case ts > 0:
				dm.At = time.UnixMilli(ts)
			case e.Time > 0:
				dm.At = time.UnixMilli(e.Time)
			default:
				dm.At = h.c.now()
			}
			if dm.IGSID == "" {
				res.Ignored++
				h.count("ignored")
				continue
			}
			conv, added, err := h.c.store.RecordDirect(r.Context(), dm)
			if err != nil {
				// Not recorded: Meta delivers it again on a non-2xx.
				h.c.log.Error("Instagram message not recorded; Meta will deliver it again", "err", err)
				writeError(w, http.StatusServiceUnavailable, core.EUNAVAILABLE, "the message could not be recorded; deliver it again later")
				return
			}
			if !added {
				res.Duplicates++
				h.count(string(core.VerdictDuplicate))
				continue
			}
			res.Recorded++
			h.count(string(core.VerdictAccepted))
			if !msg.IsEcho && conv.UsernameCheckedAt.IsZero() {
				select {
				case h.c.lookups <- conv.IGSID:
				default: // busy: the customer's next message asks again
				}
			}
		}
	}
	writeJSON(w, http.StatusOK, res)
}

// signed checks X-Hub-Signature-256: HMAC-SHA256 of the bytes as received,
// keyed with one of the app secrets, compared in constant time.
func (h *webhook) signed(body []byte, header string) bool {
	got, err := hex.DecodeString(strings.TrimPrefix(header, "sha256="))
	if err != nil || len(got) != sha256.Size {
		return false
	}
	ok := false
	for _, secret := range h.c.cfg.AppSecrets {
		if secret == "" {
			continue
		}
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		if hmac.Equal(mac.Sum(nil), got) {
			ok = true // no early return: each secret costs the same
		}
	}
	return ok
}

// Run asks the profile API for the username of each new customer, once.
func (c *Connector) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case igsid := <-c.lookups:
			c.lookUp(ctx, igsid)
		}
	}
}

func (c *Connector) lookUp(ctx context.Context, igsid string) {
	conv, err := c.store.GetConversation(ctx, igsid)
	if err != nil || !conv.UsernameCheckedAt.IsZero() {
		return
	}
	lctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	p, err := c.client.Profile(lctx, igsid)
	if err != nil {
		var ae *APIError
		if !errors.As(err, &ae) || ae.uncertain() || ae.rateLimited() || ae.Code == codeToken {
			c.log.Info("no username for a customer this time; asked again at their next message", "igsid", igsid, "err", err)
			return
		}
		// Instagram will not say (no consent, blocked): asked once.
		c.log.Info("Instagram would not say a customer's username", "igsid", igsid, "reason", ae.Error())
	}
	if err := c.store.SetUsername(ctx, igsid, strings.TrimPrefix(p.Username, "@"), c.now()); err != nil {
		c.log.Warn("could not record a customer's username", "igsid", igsid, "err", err)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// writeError answers like the rest of paysync: {"error":{"code","message"}}.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
