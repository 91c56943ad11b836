package core_test

import (
	"testing"
	"time"

	"github.com/paysync/paysync/core"
)

func TestEventTime(t *testing.T) {
	parse := func(s string) core.EventTime {
		t.Helper()
		et, err := core.ParseEventTime(s)
		if err != nil {
			t.Fatal(err)
		}
		return et
	}
	for s, want := range map[string]time.Duration{
		"2026-03-01T15:07:20Z":           time.Second,
		"2026-03-01T15:07:20+04:00":      time.Second,
		"2026-03-01T15:07:20.4Z":         100 * time.Millisecond,
		"2026-03-01T15:07:20.483Z":       time.Millisecond,
		"2026-03-01T15:07:20.483000Z":    time.Microsecond,
		"2026-03-01T15:07:20.483000001Z": time.Microsecond, // kept to the microsecond, as both databases store it
	} {
		if got := parse(s); got.Precision != want || got.At.Nanosecond()%int(got.Precision) != 0 {
			t.Errorf("%s: precision %v at %v, want %v", s, got.Precision, got.At, want)
		}
	}
	if _, err := core.ParseEventTime("20.3.2026"); err == nil {
		t.Error("a non-RFC 3339 time parsed")
	}
	sec := parse("2026-03-01T15:07:20Z")
	inSecond := parse("2026-03-01T15:07:20.483Z")
	next := parse("2026-03-01T15:07:21Z")
	switch {
	case sec.Before(inSecond) || inSecond.Before(sec):
		t.Error("…:20Z is ordered against a time in its own second")
	case !sec.Before(next) || !inSecond.Before(next) || next.Before(sec):
		t.Error("…:20Z is not before …:21Z")
	case (core.EventTime{}).Before(next) || next.Before(core.EventTime{}):
		t.Error("an unknown time is ordered")
	}
	for in, want := range map[time.Time]time.Duration{
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC):         time.Second,
		time.Date(2026, 1, 1, 0, 0, 0, 120000000, time.UTC): time.Millisecond,
		time.Date(2026, 1, 1, 0, 0, 0, 120001000, time.UTC): time.Microsecond,
		time.Date(2026, 1, 1, 0, 0, 0, 120001001, time.UTC): time.Nanosecond,
	} {
		if got := core.PrecisionOf(in); got != want {
			t.Errorf("PrecisionOf(%v) = %v, want %v", in, got, want)
		}
	}
	if got := core.NewEventTime(time.Date(2026, 1, 1, 0, 0, 0, 120001001, time.UTC), 0); got.Precision != time.Microsecond || got.String() != "2026-01-01T00:00:00.120001Z" {
		t.Errorf("nanoseconds kept as %v %s", got.Precision, got)
	}
	if got := sec.String(); got != "2026-03-01T15:07:20Z" {
		t.Errorf("String() = %s", got)
	}
}
