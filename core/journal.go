package core

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"hash"
	"time"
	"unicode/utf8"
)

// MaxJournalPayload bounds the raw payload kept with a journal entry. It is
// the largest webhook body paysync reads, so a verified webhook is kept whole.
const MaxJournalPayload = 256 << 10

// MaxPayloadSample bounds what is kept of a request paysync did not trust
// (a refused or unsigned one): its digest, its size and this many bytes.
const MaxPayloadSample = 512

// JournalEntry is one line of the append-only payment journal: every inbound
// request, lookup, decision and transition, valid or not.
type JournalEntry struct {
	ID           int64   `json:"id" db:"id"`
	OrderID      string  `json:"order_id,omitempty" db:"order_id"`
	Provider     string  `json:"provider,omitempty" db:"provider"`
	EventID      string  `json:"event_id,omitempty" db:"event_id"` // set only for verified events: the dedup key
	Source       string  `json:"source" db:"source"`
	EventType    string  `json:"event_type,omitempty" db:"event_type"`
	Verdict      Verdict `json:"verdict" db:"verdict"`
	StatusBefore Status  `json:"status_before,omitempty" db:"status_before"`
	StatusAfter  Status  `json:"status_after,omitempty" db:"status_after"`
	AmountMinor  int64   `json:"amount_minor,omitempty" db:"amount_minor"`
	Currency     string  `json:"currency,omitempty" db:"currency"`
	ProviderRef  string  `json:"provider_ref,omitempty" db:"provider_ref"`
	Reason       string  `json:"reason,omitempty" db:"reason"`
	// Payload is the request's bytes exactly as received (a BLOB, not text,
	// so that any bytes are kept as they came), or their first part: see
	// KeepPayload and KeepSample. In JSON it is "payload" when it is UTF-8
	// and "payload_base64" otherwise.
	Payload []byte `json:"-" db:"payload"`
	// PayloadSize is how many bytes were received (more than len(Payload)
	// when only a part was kept); PayloadSHA256 is the hex digest of all of them.
	PayloadSize   int64     `json:"payload_size,omitempty" db:"payload_size"`
	PayloadSHA256 string    `json:"payload_sha256,omitempty" db:"payload_sha256"`
	OrderVersion  int64     `json:"order_version,omitempty" db:"order_version"` // the order version this entry produced
	CreatedAt     time.Time `json:"created_at"`
}

// KeepPayload keeps a trusted request's bytes (a verified event, a lookup
// answer): all of them, up to MaxJournalPayload.
func (e *JournalEntry) KeepPayload(b []byte) {
	e.Payload, e.PayloadSize, e.PayloadSHA256 = payloadPart(b, MaxJournalPayload)
}

// KeepSample keeps what an untrusted request needs for the audit trail: its
// digest, its size and its first MaxPayloadSample bytes, so that nobody can
// fill the disk by sending large requests.
func (e *JournalEntry) KeepSample(b []byte) {
	e.Payload, e.PayloadSize, e.PayloadSHA256 = payloadPart(b, MaxPayloadSample)
}

// PayloadSample is what is kept of an untrusted request: its first
// MaxPayloadSample bytes (cut on a character boundary when it is text), its
// size and the digest of all of it.
type PayloadSample struct {
	Head   []byte
	Size   int64
	SHA256 string
}

// SampleOf samples a request read whole.
func SampleOf(b []byte) PayloadSample {
	var s PayloadSample
	s.Head, s.Size, s.SHA256 = payloadPart(b, MaxPayloadSample)
	return s
}

// SampleWriter samples what is written to it without keeping it: write a
// request's body as it streams in, then call Sample.
type SampleWriter struct {
	h    hash.Hash
	head []byte
	n    int64
}

// NewSampleWriter returns an empty SampleWriter.
func NewSampleWriter() *SampleWriter { return &SampleWriter{h: sha256.New()} }

func (w *SampleWriter) Write(p []byte) (int, error) {
	if room := MaxPayloadSample + panReach - len(w.head); room > 0 {
		w.head = append(w.head, p[:min(room, len(p))]...)
	}
	w.n += int64(len(p))
	return w.h.Write(p)
}

// Sample is the sample of everything written so far.
func (w *SampleWriter) Sample() PayloadSample {
	if w.n == 0 {
		return PayloadSample{Head: []byte{}}
	}
	head := ScrubCardData(w.head)
	if len(head) > MaxPayloadSample {
		head = head[:runeStart(string(head[:MaxPayloadSample+1]), MaxPayloadSample)]
	}
	return PayloadSample{Head: bytes.Clone(head), Size: w.n, SHA256: hex.EncodeToString(w.h.Sum(nil))}
}

// payloadPart returns the first max bytes of b, cut on a character boundary
// when b is text and scrubbed of card data (ScrubCardData), with b's size
// and the digest of b as received, so that a dispute can still compare it.
func payloadPart(b []byte, max int) (part []byte, size int64, digest string) {
	if len(b) == 0 {
		return []byte{}, 0, ""
	}
	sum := sha256.Sum256(b)
	n := len(b)
	if n > max {
		n = runeStart(string(b[:max+1]), max)
	}
	// A card number reaches at most panReach bytes past the cut.
	part = bytes.Clone(ScrubCardData(b[:min(len(b), n+panReach)])[:n])
	return part, int64(len(b)), hex.EncodeToString(sum[:])
}

// panReach is how far past a cut the scrub must look: a card number written
// in groups (19 digits, 18 separators) and the field name before a value.
const panReach = 64

// Clean makes every text field storable (see CleanText). The payload is
// bytes and stays as it is.
func (e *JournalEntry) Clean() {
	for _, f := range []*string{&e.OrderID, &e.Provider, &e.EventID, &e.Source, &e.EventType, &e.Currency, &e.ProviderRef, &e.Reason, &e.PayloadSHA256} {
		*f = CleanText(*f)
	}
	e.Reason = ScrubCardText(e.Reason) // it may quote the request
	e.Verdict = Verdict(CleanText(string(e.Verdict)))
	e.StatusBefore = Status(CleanText(string(e.StatusBefore)))
	e.StatusAfter = Status(CleanText(string(e.StatusAfter)))
	if e.Payload == nil {
		e.Payload = []byte{}
	}
}

// MarshalJSON shows the payload as text when it is UTF-8 (NUL characters
// escaped by JSON), and base64 otherwise, so that what is shown is exactly
// what was received.
func (e JournalEntry) MarshalJSON() ([]byte, error) {
	type plain JournalEntry // without this method
	return json.Marshal(struct {
		plain
		PayloadText   *string `json:"payload,omitempty"`
		PayloadBase64 string  `json:"payload_base64,omitempty"`
	}{plain(e), payloadText(e.Payload), payloadBase64(e.Payload)})
}

func payloadText(b []byte) *string {
	if len(b) == 0 || !utf8.Valid(b) {
		return nil
	}
	s := string(b)
	return &s
}

func payloadBase64(b []byte) string {
	if len(b) == 0 || utf8.Valid(b) {
		return ""
	}
	return base64.StdEncoding.EncodeToString(b)
}
