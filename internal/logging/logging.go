// Package logging builds paysync's slog logger: JSON when the output is not
// a terminal (a service manager, a container, a file), text on a terminal;
// every line about a request or an order carries its request_id and
// order_id; and the configured secrets never reach the output, whoever
// logged them.
package logging

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"os"

	"github.com/paysync/paysync/internal/redact"
)

// Options configure New.
type Options struct {
	// Level is debug, info, warn or error (default info).
	Level string
	// Format is "json", "text", or "" to choose by the output: text on a
	// terminal, JSON otherwise.
	Format string
	// Secrets are values that must never be printed (tokens, webhook URLs,
	// passwords); each is replaced by [redacted] in messages and attributes.
	Secrets []string
}

// New returns a logger writing to w.
func New(w io.Writer, o Options) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.Level)); err != nil {
		level = slog.LevelInfo
	}
	scrub := newScrubber(o.Secrets)
	ho := &slog.HandlerOptions{Level: level, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		return scrub.attr(a)
	}}
	var h slog.Handler
	format := o.Format
	if format == "" {
		format = "json"
		if IsTerminal(w) {
			format = "text"
		}
	}
	if format == "text" {
		h = slog.NewTextHandler(w, ho)
	} else {
		h = slog.NewJSONHandler(w, ho)
	}
	return slog.New(&contextHandler{next: h, scrub: scrub})
}

// IsTerminal reports whether w is a character device (a terminal).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyOrderID
)

// WithRequestID returns ctx carrying a request id for every line logged with it.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, keyRequestID, id)
}

// RequestID returns the request id ctx carries, "" when none.
func RequestID(ctx context.Context) string {
	s, _ := ctx.Value(keyRequestID).(string)
	return s
}

// WithOrderID returns ctx carrying an order id for every line logged with it.
func WithOrderID(ctx context.Context, id string) context.Context {
	if id == "" {
		return ctx
	}
	return context.WithValue(ctx, keyOrderID, id)
}

// OrderID returns the order id ctx carries, "" when none.
func OrderID(ctx context.Context) string {
	s, _ := ctx.Value(keyOrderID).(string)
	return s
}

// NewRequestID returns a random request id.
func NewRequestID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// contextHandler adds request_id and order_id from the context and scrubs
// the message.
type contextHandler struct {
	next  slog.Handler
	scrub *scrubber
	// has records the ids already added with With, so they are not repeated.
	hasRequest, hasOrder bool
}

func (h *contextHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if h.scrub.active() {
		r.Message = h.scrub.string(r.Message)
	}
	if ctx != nil {
		if id := RequestID(ctx); id != "" && !h.hasRequest {
			r.AddAttrs(slog.String("request_id", id))
		}
		if id := OrderID(ctx); id != "" && !h.hasOrder && !hasAttr(r, "order_id") {
			r.AddAttrs(slog.String("order_id", id))
		}
	}
	return h.next.Handle(ctx, r)
}

func hasAttr(r slog.Record, key string) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			found = true
			return false
		}
		return true
	})
	return found
}

func (h *contextHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	for _, a := range as {
		switch a.Key {
		case "request_id":
			c.hasRequest = true
		case "order_id":
			c.hasOrder = true
		}
	}
	c.next = h.next.WithAttrs(as)
	return &c
}

func (h *contextHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.next = h.next.WithGroup(name)
	return &c
}

// scrubber replaces secrets in log text.
type scrubber struct{ r *redact.Redactor }

func newScrubber(secrets []string) *scrubber { return &scrubber{r: redact.New(secrets...)} }

func (s *scrubber) active() bool { return !s.r.Empty() }

func (s *scrubber) string(v string) string { return s.r.String(v) }

func (s *scrubber) attr(a slog.Attr) slog.Attr {
	if !s.active() {
		return a
	}
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, s.string(v.String()))
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, s.string(err.Error()))
		}
		if st, ok := v.Any().(interface{ String() string }); ok {
			return slog.String(a.Key, s.string(st.String()))
		}
	}
	return a
}
