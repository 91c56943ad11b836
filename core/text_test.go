package core_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/paysync/paysync/core"
)

func TestCleanText(t *testing.T) {
	cases := map[string]string{
		"Երևան":             "Երևան",
		"ok\x00ref":         "ok\uFFFDref",
		"\xff\xfeabc":       "\uFFFDabc",
		"Москва\xd0":        "Москва\uFFFD",
		"":                  "",
		"tab\tand\nnewline": "tab\tand\nnewline",
	}
	for in, want := range cases {
		if got := core.CleanText(in); got != want {
			t.Errorf("CleanText(%q) = %q, want %q", in, got, want)
		}
		if !core.IsText(core.CleanText(in)) {
			t.Errorf("CleanText(%q) is not text", in)
		}
	}
}

func TestShortenCutsOnACharacter(t *testing.T) {
	for _, s := range []string{strings.Repeat("Հ", 50), strings.Repeat("ж", 50), strings.Repeat("a\xff", 50), strings.Repeat("€", 50)} {
		for n := 0; n < 40; n++ {
			got := core.Shorten(s, n)
			if len(got) > n {
				t.Fatalf("Shorten(%q, %d) = %q is longer than %d", s, n, got, n)
			}
			if utf8.ValidString(s) && !utf8.ValidString(got) {
				t.Fatalf("Shorten(%q, %d) = %q cut a character", s, n, got)
			}
		}
	}
	if got := core.Shorten("short", 10); got != "short" {
		t.Fatalf("Shorten of a short string changed it: %q", got)
	}
}

func TestCheckTextNamesTheField(t *testing.T) {
	if err := core.CheckText("query parameter q", "a\x00"); core.ErrorCode(err) != core.EINVALID || !strings.Contains(err.Error(), "query parameter q contains a NUL") {
		t.Fatalf("NUL: %v", err)
	}
	if err := core.CheckText("note", "\xc3"); core.ErrorCode(err) != core.EINVALID || !strings.Contains(err.Error(), "note is not valid UTF-8") {
		t.Fatalf("invalid UTF-8: %v", err)
	}
	if err := core.CheckText("note", "Спасибо, Երևան"); err != nil {
		t.Fatalf("text refused: %v", err)
	}
}

// TestJournalPayloadKeepsBytes: a trusted payload is kept byte for byte
// (cut, when larger than the bound, on a character boundary); an untrusted
// one keeps a sample; both keep the size and digest of all the bytes.
func TestJournalPayloadKeepsBytes(t *testing.T) {
	// Armenian letters are two bytes: an odd bound falls inside one.
	armenian := []byte(`{"note":"` + strings.Repeat("Հայաստան ", core.MaxJournalPayload/8) + `"}`)
	var e core.JournalEntry
	e.KeepPayload(armenian)
	sum := sha256.Sum256(armenian)
	if e.PayloadSize != int64(len(armenian)) || e.PayloadSHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("size %d digest %s, want %d %x", e.PayloadSize, e.PayloadSHA256, len(armenian), sum)
	}
	if len(e.Payload) > core.MaxJournalPayload || len(e.Payload) < core.MaxJournalPayload-3 || !utf8.Valid(e.Payload) ||
		string(e.Payload) != string(armenian[:len(e.Payload)]) {
		t.Fatalf("kept %d bytes (valid UTF-8: %v), want the first ≤%d cut on a character", len(e.Payload), utf8.Valid(e.Payload), core.MaxJournalPayload)
	}
	raw := []byte("{\"ref\":\"\xff\x00\"}\x00")
	e.KeepPayload(raw)
	if string(e.Payload) != string(raw) || e.PayloadSize != int64(len(raw)) {
		t.Fatalf("binary payload changed: %q", e.Payload)
	}
	e.KeepSample(armenian)
	if len(e.Payload) > core.MaxPayloadSample || e.PayloadSize != int64(len(armenian)) || e.PayloadSHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("sample: %d bytes, size %d", len(e.Payload), e.PayloadSize)
	}
}

// TestJournalPayloadJSON: UTF-8 payloads show as text, others as base64.
func TestJournalPayloadJSON(t *testing.T) {
	for _, c := range []struct {
		payload   string
		key, want string
	}{
		{`{"a":"Երևան"}`, "payload", `{"a":"Երևան"}`},
		{"nul\x00inside", "payload", "nul\x00inside"},
		{"\xff\xfe", "payload_base64", "//4="},
	} {
		e := core.JournalEntry{Source: core.SourceWebhook, Verdict: core.VerdictAccepted, Payload: []byte(c.payload)}
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
		if out[c.key] != c.want || out["verdict"] != "accepted" {
			t.Errorf("%q: JSON %s, want %s = %q", c.payload, b, c.key, c.want)
		}
	}
}

// TestSampleWriterMatchesSampleOf: sampling a body as it streams by keeps
// what sampling it whole keeps, whatever the chunk sizes.
func TestSampleWriterMatchesSampleOf(t *testing.T) {
	for _, body := range [][]byte{nil, []byte("x"), []byte(strings.Repeat("Ժամ ", 400)), []byte(strings.Repeat("\xff\x00ab", 300))} {
		want := core.SampleOf(body)
		for _, chunk := range []int{1, 7, 511, 4096} {
			w := core.NewSampleWriter()
			for i := 0; i < len(body); i += chunk {
				w.Write(body[i:min(i+chunk, len(body))])
			}
			got := w.Sample()
			if string(got.Head) != string(want.Head) || got.Size != want.Size || got.SHA256 != want.SHA256 {
				t.Fatalf("%d-byte body in %d-byte chunks: %d/%d/%s, want %d/%d/%s", len(body), chunk,
					len(got.Head), got.Size, got.SHA256, len(want.Head), want.Size, want.SHA256)
			}
		}
		if len(want.Head) > core.MaxPayloadSample {
			t.Fatalf("sample of %d bytes", len(want.Head))
		}
	}
}
