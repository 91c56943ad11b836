package core

import (
	"encoding/json"
	"net/netip"
	"time"
)

// RefusalWindow is how long one refusal record counts: there is one record
// per provider, source, verdict and window.
const RefusalWindow = time.Hour

// MaxRefusalReason bounds the reasons a refusal record keeps.
const MaxRefusalReason = 500

// MaxRefusalSources bounds the sources one provider's refusals of one
// verdict are counted under in one window; the requests of any further
// source are counted under OtherSources. With RefusalSource's networks, the
// records a flood leaves are bounded whatever the number of its senders.
const MaxRefusalSources = 64

// OtherSources is the source of the record that counts the refused
// requests of the sources past MaxRefusalSources in a window.
const OtherSources = "other networks"

// RefusalSource is the source a refused request from addr is counted under:
// its network, /24 for IPv4 and /48 for IPv6, so that one sender spread
// over many addresses of its network is one record. An address that does
// not parse is kept as it is (shortened).
func RefusalSource(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return Shorten(CleanText(addr), 64)
	}
	a = a.Unmap().WithZone("")
	bits := 24
	if a.Is6() {
		bits = 48
	}
	p, _ := a.Prefix(bits)
	return p.String()
}

// Refusal counts the inbound requests refused (bad signature, checksum or
// timestamp; malformed; too large) for one provider from one source address
// in one window, instead of journaling each: whoever sends them cannot fill
// the disk. It keeps the first request's reason and a sample of it (digest,
// size, first MaxPayloadSample bytes), and the latest reason. The journal of
// real orders is kept apart, and kept longer.
type Refusal struct {
	ID       int64   `json:"id"`
	Provider string  `json:"provider"`
	Source   string  `json:"source"`  // the sender's network (RefusalSource), or OtherSources
	Verdict  Verdict `json:"verdict"` // rejected or malformed
	// WindowStart is the start of the window the record counts.
	WindowStart time.Time `json:"window_start"`
	// Requests counts the refused requests; Throttled how many of them came
	// over the per-source limit and were answered 429; Bytes their total size.
	Requests  int64     `json:"requests"`
	Throttled int64     `json:"throttled"`
	Bytes     int64     `json:"bytes"`
	FirstAt   time.Time `json:"first_at"`
	LastAt    time.Time `json:"last_at"`
	// Reason says why the first request was refused, LastReason the latest.
	Reason     string `json:"reason"`
	LastReason string `json:"last_reason"`
	// The first request: its size, digest and first bytes (see JournalEntry
	// for how the JSON shows them).
	SampleSize   int64  `json:"sample_size"`
	SampleSHA256 string `json:"sample_sha256"`
	Sample       []byte `json:"-"`
}

// NewRefusal describes one request refused at a time, with a sample of it
// (SampleOf its body, or a SampleWriter's).
func NewRefusal(provider, source string, v Verdict, reason string, sample PayloadSample, at time.Time) Refusal {
	at = at.UTC()
	return Refusal{Provider: provider, Source: source, Verdict: v, WindowStart: at.Truncate(RefusalWindow),
		Requests: 1, Bytes: sample.Size, FirstAt: at, LastAt: at, Reason: reason, LastReason: reason,
		Sample: sample.Head, SampleSize: sample.Size, SampleSHA256: sample.SHA256}
}

// Key is what one refusal record counts: provider, source, verdict, window.
func (r *Refusal) Key() string {
	return r.Provider + "\x00" + r.Source + "\x00" + string(r.Verdict) + "\x00" + r.WindowStart.UTC().Format(time.RFC3339)
}

// Add counts more refused requests of the same key into r.
func (r *Refusal) Add(more Refusal) {
	r.Requests += more.Requests
	r.Throttled += more.Throttled
	r.Bytes += more.Bytes
	if more.LastAt.After(r.LastAt) {
		r.LastAt = more.LastAt
	}
	if more.LastReason != "" {
		r.LastReason = more.LastReason
	}
}

// Clean makes every text field storable (see CleanText) and bounds the reasons.
func (r *Refusal) Clean() {
	r.Provider, r.Source, r.SampleSHA256 = CleanText(r.Provider), CleanText(r.Source), CleanText(r.SampleSHA256)
	r.Verdict = Verdict(CleanText(string(r.Verdict)))
	// Reasons may quote the request: no card data in them either.
	r.Reason = Shorten(ScrubCardText(CleanText(r.Reason)), MaxRefusalReason)
	r.LastReason = Shorten(ScrubCardText(CleanText(r.LastReason)), MaxRefusalReason)
	if r.Sample == nil {
		r.Sample = []byte{}
	}
}

// MarshalJSON shows the sample as text when it is UTF-8, else as base64.
func (r Refusal) MarshalJSON() ([]byte, error) {
	type plain Refusal // without this method
	return json.Marshal(struct {
		plain
		SampleText   *string `json:"sample,omitempty"`
		SampleBase64 string  `json:"sample_base64,omitempty"`
	}{plain(r), payloadText(r.Sample), payloadBase64(r.Sample)})
}
