package present

import (
	"fmt"
	"strings"
	"time"
)

func (p Printer) zone() *time.Location {
	if p.Zone != nil {
		return p.Zone
	}
	return time.UTC
}

// Time prints t in the printer's zone, to the minute, with the zone shown:
// "2 Mar 2026, 14:05 UTC+4". A zero time prints as a dash.
func (p Printer) Time(t time.Time) string { return p.format(t, false) }

// TimeExact is Time to the second, for journal entries that follow each other closely.
func (p Printer) TimeExact(t time.Time) string { return p.format(t, true) }

func (p Printer) format(t time.Time, seconds bool) string {
	if t.IsZero() {
		return "—"
	}
	lt := t.In(p.zone())
	clock := lt.Format("15:04")
	if seconds {
		clock = lt.Format("15:04:05")
	}
	month := p.T(fmt.Sprintf("month.%d", int(lt.Month())))
	var date string
	switch p.lang() {
	case Armenian:
		date = fmt.Sprintf("%d %s %d թ.", lt.Day(), month, lt.Year())
	default:
		date = fmt.Sprintf("%d %s %d", lt.Day(), month, lt.Year())
	}
	return date + ", " + clock + " " + ZoneLabel(lt)
}

// ZoneLabel is the short name of t's zone, "UTC+4" where the zone has no
// abbreviation (Asia/Yerevan), else the abbreviation ("MSK", "UTC").
func ZoneLabel(t time.Time) string {
	name, offset := t.Zone()
	if name != "" && name[0] != '+' && name[0] != '-' {
		return name
	}
	sign := "+"
	if offset < 0 {
		sign, offset = "-", -offset
	}
	h, m := offset/3600, offset%3600/60
	if m != 0 {
		return fmt.Sprintf("UTC%s%d:%02d", sign, h, m)
	}
	return fmt.Sprintf("UTC%s%d", sign, h)
}

// ZoneName names the printer's zone in full: "Asia/Yerevan (UTC+4)".
func (p Printer) ZoneName(now time.Time) string {
	z := p.zone()
	label := ZoneLabel(now.In(z))
	if z.String() == label || z == time.UTC {
		return label
	}
	return z.String() + " (" + label + ")"
}

// Age prints how long something has waited: "45 s", "12 min", "3 h 5 min", "2 d 4 h".
func (p Printer) Age(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s, m, h := int64(d/time.Second), int64(d/time.Minute), int64(d/time.Hour)
	switch {
	case d < time.Minute:
		return p.T("age.s", s)
	case d < time.Hour:
		return p.T("age.m", m)
	case d < 48*time.Hour:
		if m%60 == 0 {
			return p.T("age.h", h)
		}
		return p.T("age.hm", h, m%60)
	}
	if h%24 == 0 {
		return p.T("age.d", h/24)
	}
	return p.T("age.dh", h/24, h%24)
}

// LoadZone loads an IANA zone name, UTC for "".
func LoadZone(name string) (*time.Location, error) {
	if strings.TrimSpace(name) == "" {
		return time.UTC, nil
	}
	return time.LoadLocation(name)
}
