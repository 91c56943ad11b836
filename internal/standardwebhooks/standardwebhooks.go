// Package standardwebhooks signs and verifies webhooks the Standard Webhooks
// way (standardwebhooks.com, the Svix scheme). The generic and VPOS.am
// providers verify with it; the sandbox doubles sign with it.
package standardwebhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/paysync/paysync/core"
)

// Standard Webhooks (standardwebhooks.com, the Svix scheme): the sender signs
// "{webhook-id}.{webhook-timestamp}.{raw body}" with HMAC-SHA256 and sends
// space-separated "v1,<base64>" entries in webhook-signature. Several entries
// and several accepted secrets are how keys are rotated without downtime.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"

	// DefaultTolerance is how far the timestamp may be from now, either way;
	// it bounds how long a captured request can be replayed.
	DefaultTolerance = 5 * time.Minute

	secretPrefix = "whsec_"
	maxIDLen     = 255
)

// DecodeSecret turns a Standard Webhooks secret into the HMAC key: the base64
// after "whsec_". A secret without the prefix is base64-decoded when it can be,
// else used as raw bytes (some senders hand out plain shared secrets).
func DecodeSecret(secret string) ([]byte, error) {
	s, prefixed := strings.CutPrefix(strings.TrimSpace(secret), secretPrefix)
	if s == "" {
		return nil, core.Errorf(core.EINVALID, "webhook secret is empty")
	}
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if prefixed {
			return nil, core.Errorf(core.EINVALID, "webhook secret: the part after whsec_ is not base64; copy the whole secret from the sender's dashboard")
		}
		return []byte(s), nil
	}
	return key, nil
}

// Verifier verifies Standard Webhooks signatures against one or more secrets.
type Verifier struct {
	keys      [][]byte
	Tolerance time.Duration
}

// New accepts every non-empty secret given (the current one and,
// during a rotation, the previous one). At least one is required.
func New(secrets ...string) (*Verifier, error) {
	s := &Verifier{Tolerance: DefaultTolerance}
	for _, sec := range secrets {
		if sec == "" {
			continue
		}
		k, err := DecodeSecret(sec)
		if err != nil {
			return nil, err
		}
		s.keys = append(s.keys, k)
	}
	if len(s.keys) == 0 {
		return nil, core.Errorf(core.EINVALID, "no webhook secret configured")
	}
	return s, nil
}

// Sign returns the "v1,<base64>" signature of body for a message id
// and unix timestamp, as a sender would put it in webhook-signature.
func Sign(secret, id string, timestamp int64, body []byte) (string, error) {
	key, err := DecodeSecret(secret)
	if err != nil {
		return "", err
	}
	return "v1," + base64.StdEncoding.EncodeToString(sign(key, id, strconv.FormatInt(timestamp, 10), body)), nil
}

// Verify checks one request against the given secrets with the
// default tolerance. It is the one-call form of New + Verifier.Verify.
func Verify(secrets []string, id, timestamp, signature string, body []byte, now time.Time) (time.Time, error) {
	s, err := New(secrets...)
	if err != nil {
		return time.Time{}, err
	}
	return s.Verify(id, timestamp, signature, body, now)
}

func sign(key []byte, id, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify authenticates a message: id and timestamp must be present, the
// timestamp within Tolerance of now, and one v1 entry of signature must match
// one key. Every failure is EUNAUTHORIZED; the returned time is the timestamp.
func (s *Verifier) Verify(id, timestamp, signature string, body []byte, now time.Time) (time.Time, error) {
	ts, err := s.CheckHeaders(id, timestamp, signature, now)
	if err != nil {
		return ts, err
	}
	return ts, s.checkSignature(id, timestamp, signature, body)
}

// CheckHeaders is Verify without the body: it fails exactly when Verify
// would fail whatever the body, so that a caller can refuse a request
// without reading its body.
func (s *Verifier) CheckHeaders(id, timestamp, signature string, now time.Time) (time.Time, error) {
	if id == "" || timestamp == "" || signature == "" {
		return time.Time{}, core.Errorf(core.EUNAUTHORIZED, "missing %s, %s or %s header: the request is not signed", HeaderID, HeaderTimestamp, HeaderSignature)
	}
	if len(id) > maxIDLen {
		return time.Time{}, core.Errorf(core.EUNAUTHORIZED, "%s is longer than %d characters", HeaderID, maxIDLen)
	}
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return time.Time{}, core.Errorf(core.EUNAUTHORIZED, "%s %q is not a unix time in seconds", HeaderTimestamp, truncate(timestamp, 40))
	}
	tol := s.Tolerance
	if tol <= 0 {
		tol = DefaultTolerance
	}
	nowSec := now.Unix()
	if sec < nowSec-int64(tol/time.Second) || sec > nowSec+int64(tol/time.Second) {
		return time.Time{}, core.Errorf(core.EUNAUTHORIZED, "%s is more than %s from now (check the sender's clock, or this is a replay)", HeaderTimestamp, tol)
	}
	return time.Unix(sec, 0).UTC(), nil
}

func (s *Verifier) checkSignature(id, timestamp, signature string, body []byte) error {
	// The signed content holds the timestamp exactly as sent.
	var want [][]byte
	for _, k := range s.keys {
		want = append(want, sign(k, id, timestamp, body))
	}
	matched := false
	for _, entry := range strings.Fields(signature) {
		version, sig, ok := strings.Cut(entry, ",")
		if !ok || version != "v1" {
			continue // other schemes (v1a: asymmetric) are not ours
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err != nil {
			continue
		}
		for _, w := range want {
			// hmac.Equal is constant time; keep checking every pair so that
			// the time taken does not tell which entry matched.
			if hmac.Equal(got, w) {
				matched = true
			}
		}
	}
	if !matched {
		return core.Errorf(core.EUNAUTHORIZED, "webhook signature does not match: check that the sender and paysync share the same secret")
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
