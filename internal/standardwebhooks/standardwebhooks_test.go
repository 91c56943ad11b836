package standardwebhooks

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
)

// The Standard Webhooks reference vector (standard-webhooks libraries/go/webhook_test.go).
const (
	vecSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vecID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vecTS     = int64(1614265330)
	vecBody   = `{"test": 2432232314}`
	vecSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestStandardWebhooksVector(t *testing.T) {
	sig, err := Sign(vecSecret, vecID, vecTS, []byte(vecBody))
	if err != nil {
		t.Fatal(err)
	}
	if sig != vecSig {
		t.Fatalf("Sign = %s, want %s", sig, vecSig)
	}
	ts, err := Verify([]string{vecSecret}, vecID, strconv.FormatInt(vecTS, 10), vecSig, []byte(vecBody), time.Unix(vecTS, 0))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if ts.Unix() != vecTS {
		t.Fatalf("timestamp = %v", ts)
	}
}

func TestStandardVerify(t *testing.T) {
	now := time.Unix(vecTS, 0)
	other := "whsec_" + "c2Vjb25kLXNlY3JldC1mb3Itcm90YXRpb24="
	otherSig, _ := Sign(other, vecID, vecTS, []byte(vecBody))
	ts := strconv.FormatInt(vecTS, 10)
	cases := []struct {
		name    string
		secrets []string
		id, ts  string
		sig     string
		body    string
		now     time.Time
		ok      bool
	}{
		{"valid", []string{vecSecret}, vecID, ts, vecSig, vecBody, now, true},
		{"one of several entries", []string{vecSecret}, vecID, ts, "v1,Zm9v " + vecSig + " v2,bar", vecBody, now, true},
		{"previous secret during rotation", []string{other, vecSecret}, vecID, ts, vecSig, vecBody, now, true},
		{"new secret during rotation", []string{other, vecSecret}, vecID, ts, otherSig, vecBody, now, true},
		{"4m59s late", []string{vecSecret}, vecID, ts, vecSig, vecBody, now.Add(299 * time.Second), true},
		{"5m01s late", []string{vecSecret}, vecID, ts, vecSig, vecBody, now.Add(301 * time.Second), false},
		{"from the future", []string{vecSecret}, vecID, ts, vecSig, vecBody, now.Add(-301 * time.Second), false},
		{"wrong secret", []string{other}, vecID, ts, vecSig, vecBody, now, false},
		{"body changed", []string{vecSecret}, vecID, ts, vecSig, `{"test": 2432232315}`, now, false},
		{"id changed", []string{vecSecret}, "msg_other", ts, vecSig, vecBody, now, false},
		{"timestamp changed", []string{vecSecret}, vecID, strconv.FormatInt(vecTS+1, 10), vecSig, vecBody, now, false},
		{"missing signature", []string{vecSecret}, vecID, ts, "", vecBody, now, false},
		{"missing id", []string{vecSecret}, "", ts, vecSig, vecBody, now, false},
		{"missing timestamp", []string{vecSecret}, vecID, "", vecSig, vecBody, now, false},
		{"timestamp not a number", []string{vecSecret}, vecID, "yesterday", vecSig, vecBody, now, false},
		{"other scheme only", []string{vecSecret}, vecID, ts, strings.Replace(vecSig, "v1,", "v1a,", 1), vecBody, now, false},
		{"bad base64", []string{vecSecret}, vecID, ts, "v1,!!!", vecBody, now, false},
		{"truncated signature", []string{vecSecret}, vecID, ts, vecSig[:20], vecBody, now, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Verify(c.secrets, c.id, c.ts, c.sig, []byte(c.body), c.now)
			if c.ok && err != nil {
				t.Fatalf("want ok, got %v", err)
			}
			if !c.ok {
				if err == nil {
					t.Fatal("want an error")
				}
				if core.ErrorCode(err) != core.EUNAUTHORIZED {
					t.Fatalf("code = %s, want unauthorized (%v)", core.ErrorCode(err), err)
				}
			}
		})
	}
}

func TestDecodeSecret(t *testing.T) {
	if _, err := DecodeSecret("whsec_***"); core.ErrorCode(err) != core.EINVALID {
		t.Fatalf("bad whsec_ secret: %v", err)
	}
	if k, err := DecodeSecret("plain shared secret"); err != nil || string(k) != "plain shared secret" {
		t.Fatalf("raw secret: %q %v", k, err)
	}
	if _, err := New("", ""); err == nil {
		t.Fatal("no secret accepted")
	}
}
