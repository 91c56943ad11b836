package core_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/paysync/paysync/core"
)

// TestScrubCardData is issue 22, item 4: card numbers (Luhn-valid runs of
// 13 to 19 digits, together or grouped by spaces, dashes or form encoding's
// +, in any field or free text) keep their first 6 and last 4 digits;
// security codes and expiry dates lose their values by field name; nothing
// else changes.
func TestScrubCardData(t *testing.T) {
	cases := []struct{ in, want string }{
		{`{"pan":"4111111111111111"}`, `{"pan":"411111******1111"}`},
		{`{"card":4111111111111111,"amount_minor":1500000}`, `{"card":411111******1111,"amount_minor":1500000}`},
		{`note: paid with 4111 1111 1111 1111 yesterday`, `note: paid with 4111 11** **** 1111 yesterday`},
		{`card=4111-1111-1111-1111&x=1`, `card=4111-11**-****-1111&x=1`},
		{`card=5555+5555+5555+4444`, `card=5555+55**+****+4444`},
		{`ArCa 9051 0000 0000 0009 paid`, `ArCa 9051 00** **** 0009 paid`}, // a domestic ArCa card (Luhn-valid)
		{`{"a":"371449635398431"}`, `{"a":"371449*****8431"}`},             // 15 digits (Amex)
		{`{"pan":"4111 1111 1111 1111 12/26"}`, `{"pan":"4111 11** **** 1111 12/26"}`},
		{`{"cvv":"123","cvc2":987,"card_expiry":"12/26","exp_month":12,"expYear":"2026"}`,
			`{"cvv":"***","cvc2":***,"card_expiry":"*****","exp_month":**,"expYear":"****"}`},
		{`cvv=123&expiry=12%2F26&orderNumber=A-1`, `cvv=***&expiry=*******&orderNumber=A-1`},
		{`card[cvv]=123&card%5Bcvc%5D=456`, `card[cvv]=***&card%5Bcvc%5D=***`},
		{`<Card><CVV2>123</CVV2><ns:ExpiryDate>1226</ns:ExpiryDate></Card>`, `<Card><CVV2>***</CVV2><ns:ExpiryDate>****</ns:ExpiryDate></Card>`},
		{`Customer says: CVV: 321, thanks`, `Customer says: CVV: ***, thanks`},
		// Left alone: not Luhn-valid, too short or too long, not card fields.
		{`{"pan":"4111111111111112"}`, `{"pan":"4111111111111112"}`},
		{`{"order":"123456789012","ts":1709301234}`, `{"order":"123456789012","ts":1709301234}`},
		{`{"id":"41111111111111111111"}`, `{"id":"41111111111111111111"}`},
		{`{"expires_at":"2026-03-01T10:00:00Z","expires_in":"24h","service":"x"}`, `{"expires_at":"2026-03-01T10:00:00Z","expires_in":"24h","service":"x"}`},
		{`mdOrder=ed6f3abf-cea0-427e-afdf-0ba43ead124f&amount=1500`, `mdOrder=ed6f3abf-cea0-427e-afdf-0ba43ead124f&amount=1500`},
		{"", ""},
	}
	for _, c := range cases {
		got := string(core.ScrubCardData([]byte(c.in)))
		if got != c.want {
			t.Errorf("ScrubCardData(%s)\n got %s\nwant %s", c.in, got, c.want)
		}
	}
	// Nothing to mask: the same bytes, no copy.
	clean := []byte(`{"order_id":"A-1","status":"paid"}`)
	if got := core.ScrubCardData(clean); &got[0] != &clean[0] {
		t.Error("a payload without card data was copied")
	}
}

// TestCardDataNeverKept: what the journal and the refusal records keep of
// a request (whole, a sample, or a stream's sample) has its card data
// masked, and the size and digest are those of the request as received.
func TestCardDataNeverKept(t *testing.T) {
	body := []byte(`{"event_id":"e1","card":{"number":"4111 1111 1111 1111","cvv":"123","expiry":"12/26"},"note":"` + strings.Repeat("x", 480) + ` 5555555555554444"}`)
	sum := sha256.Sum256(body)
	digest := hex.EncodeToString(sum[:])
	check := func(what string, kept []byte, size int64, sha string) {
		t.Helper()
		for _, secret := range []string{"1111 1111 1111", "1111111111", "555555555555", `"123"`, "12/26"} {
			if bytes.Contains(kept, []byte(secret)) {
				t.Errorf("%s keeps %q: %s", what, secret, kept)
			}
		}
		if size != int64(len(body)) || sha != digest {
			t.Errorf("%s: size %d digest %s, want those of the request as received (%d, %s)", what, size, sha, len(body), digest)
		}
	}
	var e core.JournalEntry
	e.KeepPayload(body)
	check("a verified event's payload", e.Payload, e.PayloadSize, e.PayloadSHA256)
	if !bytes.Contains(e.Payload, []byte("4111 11** **** 1111")) || len(e.Payload) != len(body) {
		t.Errorf("the payload lost more than its card data: %s", e.Payload)
	}
	e.KeepSample(body)
	check("a sample", e.Payload, e.PayloadSize, e.PayloadSHA256)
	s := core.SampleOf(body)
	check("a refused request's sample", s.Head, s.Size, s.SHA256)
	w := core.NewSampleWriter()
	for _, b := range body { // byte by byte, as a slow sender streams it
		w.Write([]byte{b})
	}
	ws := w.Sample()
	check("a streamed sample", ws.Head, ws.Size, ws.SHA256)
	// A card number cut by the sample's end is masked too.
	edge := append(bytes.Repeat([]byte("a"), core.MaxPayloadSample-10), []byte(" 4111111111111111 ")...)
	if s := core.SampleOf(edge); bytes.Contains(s.Head, []byte("4111111111")) {
		t.Errorf("a card number across the sample's end is kept: %q", s.Head[len(s.Head)-12:])
	}
	// Reasons quote requests: they are scrubbed when stored.
	r := core.NewRefusal("arca", "10.0.0.0/24", core.VerdictMalformed, `callback status "4111111111111111" must be 1 or 0`, s, e.CreatedAt)
	r.Clean()
	if strings.Contains(r.Reason, "1111111111") {
		t.Errorf("a refusal reason keeps a card number: %s", r.Reason)
	}
}

// FuzzScrubCardData: whatever the bytes, the scrub keeps their length,
// changes only digits of card numbers and values of card fields (to '*'),
// keeps valid UTF-8 valid, and leaves no card number it was given: a
// Luhn-valid number written between quotes anywhere in the input is
// masked but for its first 6 and last 4 digits.
func FuzzScrubCardData(f *testing.F) {
	for _, seed := range []string{
		`{"pan":"4111111111111111","cvv":"123"}`, "card=4111+1111+1111+1111&expiry=12%2F26",
		"<CVV>123</CVV>", "4111 1111 1111 1111 2222 2222", "Երևան 9051000000000003 ✓", "\x00\xff4111111111111111",
	} {
		f.Add([]byte(seed), uint16(0), uint64(4111111111111111))
	}
	f.Fuzz(func(t *testing.T, in []byte, at uint16, digits uint64) {
		// Place a Luhn-valid number of 16 digits, grouped or not, between quotes.
		pan := panFrom(digits)
		written := pan
		if digits%3 == 0 {
			written = pan[:4] + " " + pan[4:8] + " " + pan[8:12] + " " + pan[12:]
		}
		pos := int(at) % (len(in) + 1)
		body := append(append(append(bytes.Clone(in[:pos]), '"'), written...), '"')
		body = append(body, in[pos:]...)

		out := core.ScrubCardData(body)
		if len(out) != len(body) {
			t.Fatalf("length %d -> %d", len(body), len(out))
		}
		for i := range body {
			if out[i] != body[i] && out[i] != core.MaskedPANChar {
				t.Fatalf("byte %d changed from %q to %q, not masked", i, body[i], out[i])
			}
		}
		if utf8.Valid(body) && !utf8.Valid(out) {
			t.Fatalf("valid UTF-8 became invalid: %q", out)
		}
		placed := out[pos+1 : pos+1+len(written)]
		kept := strings.NewReplacer(" ", "").Replace(string(placed))
		if strings.Contains(string(out), written) || strings.Count(kept, "*") < 6 {
			t.Fatalf("card number %s kept: %q", written, placed)
		}
		if again := core.ScrubCardData(out); len(again) != len(out) {
			t.Fatalf("a second scrub changed the length")
		}
	})
}

// panFrom makes a Luhn-valid 16-digit number from n.
func panFrom(n uint64) string {
	s := []byte(strings.Repeat("0", 15))
	for i := 14; i >= 0 && n > 0; i-- {
		s[i] = byte('0' + n%10)
		n /= 10
	}
	for d := byte('0'); d <= '9'; d++ {
		if cand := string(s) + string(d); core.Luhn(cand) {
			return cand
		}
	}
	panic("no Luhn digit")
}
