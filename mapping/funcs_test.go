package mapping

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

func TestE164(t *testing.T) {
	cases := []struct{ in, cc, want string }{
		{"091 23-45-67", "374", "+37491234567"},
		{"+374 (91) 23.45.67", "374", "+37491234567"},
		{"0037491234567", "374", "+37491234567"},
		{"37491234567", "374", "+37491234567"},
		{"91234567", "374", "+37491234567"},
		{"+1 415 555 0100", "374", "+14155550100"},
		{"call me", "374", "call me"},
		{"123", "374", "123"},
		{"", "374", ""},
		{"+12345678901234567", "374", "+12345678901234567"}, // too long for E.164: unchanged
	}
	for _, tc := range cases {
		if got := E164(tc.in, tc.cc); got != tc.want {
			t.Errorf("E164(%q, %q) = %q, want %q", tc.in, tc.cc, got, tc.want)
		}
	}
}

func TestMoneyFuncs(t *testing.T) {
	if s, err := fnMoney(int64(1500000), "AMD"); err != nil || s != "15000.00 AMD" {
		t.Errorf("money = %q, %v", s, err)
	}
	if s, err := fnMoney("JPY", int64(1500)); err != nil || s != "1500 JPY" {
		t.Errorf("money piped = %q, %v", s, err)
	}
	if s, err := fnDecimal(json.Number("12345"), "BHD"); err != nil || s != "12.345" {
		t.Errorf("decimal BHD = %q, %v", s, err)
	}
	majors := []struct {
		n    int64
		cur  string
		want int64
	}{{1500050, "AMD", 15000}, {1500099, "AMD", 15000}, {-1, "AMD", -1}, {1500, "JPY", 1500}, {1999, "BHD", 1}}
	for _, tc := range majors {
		if got, err := fnMajor(tc.n, tc.cur); err != nil || got != tc.want {
			t.Errorf("major(%d %s) = %d, %v; want %d", tc.n, tc.cur, got, err, tc.want)
		}
	}
	if _, err := fnMoney("AMD", "lots"); err == nil {
		t.Error("money of text: no error")
	}
	if _, err := fnMul(int64(math.MaxInt64), int64(2)); err == nil {
		t.Error("mul overflow: no error")
	}
	if n, err := fnMul(int64(3), int64(-330000)); err != nil || n != -990000 {
		t.Errorf("mul = %d, %v", n, err)
	}
}

func TestTextFuncs(t *testing.T) {
	if got, _ := fnTruncate(3, "Բարև ձեզ"); got != "Բար" {
		t.Errorf("truncate splits runes: %q", got)
	}
	if _, err := fnTruncate(-1, "x"); err == nil {
		t.Error("truncate -1: no error")
	}
	for in, want := range map[string]string{
		"=1+1": "'=1+1", "@SUM(A1)": "'@SUM(A1)", "+cmd|x": "'+cmd|x", "-2+3": "'-2+3",
		"+37491234567": "+37491234567", "-15.5": "-15.5", "Anna": "Anna", "": "", "+": "'+",
	} {
		if got := cellSafe(in); got != want {
			t.Errorf("cellSafe(%q) = %q, want %q", in, got, want)
		}
	}
	if got := fnDefault("x", ""); got != "x" {
		t.Errorf("default of empty = %v", got)
	}
	if got := fnDefault("x", int64(0)); got != int64(0) {
		t.Errorf("default of 0 = %v: zero is a value", got)
	}
}

func TestDateFunc(t *testing.T) {
	loc, _ := time.LoadLocation("Asia/Yerevan")
	date := funcMap(loc, "02.01.2006 15:04", "374")["date"].(func(...any) (string, error))
	at := time.Date(2026, 1, 15, 20, 30, 0, 0, time.UTC)
	if s, _ := date(at); s != "16.01.2026 00:30" {
		t.Errorf("date in Yerevan = %q", s)
	}
	if s, _ := date("2006-01-02", &at); s != "2026-01-16" {
		t.Errorf("date with layout = %q", s)
	}
	if s, err := date(nil); s != "" || err != nil {
		t.Errorf("date(nil) = %q, %v", s, err)
	}
	if _, err := date("2006", "yesterday"); err == nil {
		t.Error("date of text: no error")
	}
}

// TestSoleFieldMatchesTextTemplate: the fast path prints what text/template prints.
func TestSoleFieldMatchesTextTemplate(t *testing.T) {
	at := time.Date(2026, 1, 15, 8, 30, 0, 0, time.UTC)
	data := map[string]any{
		"s": "x", "i": int64(-7), "b": true, "t": at, "n": nil, "l": []any{"a", int64(1)},
		"m": map[string]any{"k": json.Number("1.50"), "deep": map[string]any{"z": 1.5}},
	}
	funcs := funcMap(time.UTC, DefaultDateFormat, DefaultCountry)
	for _, src := range []string{"{{.s}}", "{{.i}}", "{{.b}}", "{{.t}}", "{{.n}}", "{{.l}}", "{{.m}}", "{{.m.k}}", "{{.m.deep.z}}", "{{.m.nope}}", "{{$.s}}", "{{.s.x}}"} {
		fast, err := compile("t", src, funcs, sAny)
		if err != nil {
			t.Fatal(err)
		}
		if fast.field == nil {
			t.Fatalf("%s: not on the fast path", src)
		}
		slow := *fast
		slow.field = nil
		got, err1 := fast.exec(data)
		want, err2 := slow.exec(data)
		if got != want || (err1 == nil) != (err2 == nil) {
			t.Errorf("%s: fast %q, %v; text/template %q, %v", src, got, err1, want, err2)
		}
	}
}
