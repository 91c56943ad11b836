package present_test

import (
	"strings"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/dispatcher"
	"github.com/paysync/paysync/present"
)

const nb = "\u00a0"

func TestMoneyAsShopsWriteIt(t *testing.T) {
	t.Parallel()
	en, ru, hy := present.Printer{Lang: present.English}, present.Printer{Lang: present.Russian}, present.Printer{Lang: present.Armenian}
	codes := present.Printer{Lang: present.English, CurrencyCodes: true}
	cases := []struct {
		p      present.Printer
		amount int64
		cur    string
		want   string
	}{
		{en, 1500000, "AMD", "15,000" + nb + "֏"},
		{ru, 1500000, "AMD", "15" + nb + "000" + nb + "֏"},
		{hy, 1500000, "AMD", "15" + nb + "000" + nb + "֏"},
		{codes, 1500000, "AMD", "15,000 AMD"},
		{codes, 123456789900, "AMD", "1,234,567,899 AMD"},
		{en, 1500050, "AMD", "15,000.50" + nb + "֏"}, // a real fraction is never dropped
		{en, 99, "AMD", "0.99" + nb + "֏"},
		{en, 0, "AMD", "0" + nb + "֏"},
		{en, 1250, "USD", "$12.50"},
		{en, -1250, "USD", "-$12.50"},
		{ru, 1250, "USD", "12,50" + nb + "$"},
		{ru, 123456, "RUB", "1" + nb + "234,56" + nb + "₽"},
		{en, 1000, "JPY", "1,000" + nb + "JPY"},
		{en, 12345, "BHD", "12.345" + nb + "BHD"},
		{en, 100, "XXX", "1.00" + nb + "XXX"},
		{en, -1500000, "AMD", "-15,000" + nb + "֏"},
	}
	for _, c := range cases {
		if got := c.p.Money(c.amount, c.cur); got != c.want {
			t.Errorf("%s Money(%d, %s) = %q, want %q", c.p.Lang, c.amount, c.cur, got, c.want)
		}
	}
}

func TestTimesInTheShopZoneWithTheZoneShown(t *testing.T) {
	t.Parallel()
	yerevan, err := time.LoadLocation("Asia/Yerevan")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 2, 10, 5, 9, 0, time.UTC) // 14:05:09 in Yerevan
	cases := map[present.Lang]string{
		present.English:  "2 Mar 2026, 14:05 UTC+4",
		present.Russian:  "2 марта 2026, 14:05 UTC+4",
		present.Armenian: "2 մարտի 2026 թ., 14:05 UTC+4",
	}
	for lang, want := range cases {
		if got := present.New(lang, yerevan).Time(at); got != want {
			t.Errorf("%s: %q, want %q", lang, got, want)
		}
	}
	if got := present.New(present.English, yerevan).TimeExact(at); got != "2 Mar 2026, 14:05:09 UTC+4" {
		t.Errorf("exact: %q", got)
	}
	if got := (present.Printer{}).Time(at); got != "2 Mar 2026, 10:05 UTC" {
		t.Errorf("zero printer: %q", got)
	}
	if got := (present.Printer{}).Time(time.Time{}); got != "—" {
		t.Errorf("zero time: %q", got)
	}
	if got := present.New(present.English, yerevan).ZoneName(at); got != "Asia/Yerevan (UTC+4)" {
		t.Errorf("zone name: %q", got)
	}
	kolkata, _ := time.LoadLocation("Asia/Kolkata")
	if got := present.ZoneLabel(at.In(kolkata)); got != "IST" {
		t.Errorf("Kolkata: %q", got)
	}
	if got := present.ZoneLabel(at.In(time.FixedZone("", -(3*3600 + 1800)))); got != "UTC-3:30" {
		t.Errorf("fixed -3:30: %q", got)
	}
}

func TestAgesAndPlurals(t *testing.T) {
	t.Parallel()
	en, ru, hy := present.Printer{Lang: present.English}, present.Printer{Lang: present.Russian}, present.Printer{Lang: present.Armenian}
	for d, want := range map[time.Duration]string{
		45 * time.Second: "45 s", 12 * time.Minute: "12 min", 3*time.Hour + 5*time.Minute: "3 h 5 min",
		2 * time.Hour: "2 h", 52 * time.Hour: "2 d 4 h", 72 * time.Hour: "3 d", -time.Second: "0 s",
	} {
		if got := en.Age(d); got != want {
			t.Errorf("Age(%s) = %q, want %q", d, got, want)
		}
	}
	if got := ru.Age(90 * time.Minute); got != "1 ч 30 мин" {
		t.Errorf("ru age: %q", got)
	}
	for n, want := range map[int]string{1: "1 attempt", 0: "0 attempts", 3: "3 attempts"} {
		if got := en.Attempts(n); got != want {
			t.Errorf("en %d: %q", n, got)
		}
	}
	for n, want := range map[int]string{1: "1 попытка", 3: "3 попытки", 5: "5 попыток", 11: "11 попыток", 12: "12 попыток", 21: "21 попытка", 24: "24 попытки"} {
		if got := ru.Attempts(n); got != want {
			t.Errorf("ru %d: %q, want %q", n, got, want)
		}
	}
	if got := hy.Attempts(3); got != "3 փորձ" {
		t.Errorf("hy: %q", got)
	}
}

func TestAcceptLanguage(t *testing.T) {
	t.Parallel()
	for header, want := range map[string]present.Lang{
		"":                                present.English,
		"hy-AM,hy;q=0.9,ru;q=0.8":         present.Armenian,
		"de-DE,de;q=0.9,ru;q=0.8,en;q=.5": present.Russian,
		"fr, en;q=0.1":                    present.English,
		"ru;q=0.3, hy;q=0.7":              present.Armenian,
	} {
		if got := present.FromAcceptLanguage(header); got != want {
			t.Errorf("%q -> %s, want %s", header, got, want)
		}
	}
	if l, ok := present.ParseLang("HY-am"); !ok || l != present.Armenian {
		t.Errorf("ParseLang(HY-am) = %q %v", l, ok)
	}
	if _, ok := present.ParseLang("de"); ok {
		t.Error("ParseLang(de) accepted")
	}
}

// Every status, verdict, delivery state and dispatcher state has words in
// every language: none prints as its code.
func TestEveryValueHasWords(t *testing.T) {
	t.Parallel()
	verdicts := []core.Verdict{core.VerdictAccepted, core.VerdictDuplicate, core.VerdictStale, core.VerdictIgnored,
		core.VerdictRejected, core.VerdictMalformed, core.VerdictAmountMismatch, core.VerdictOrphan, core.VerdictRefused,
		core.VerdictCreated, core.VerdictLinkCreated, core.VerdictManual, core.VerdictLookupFailed, core.VerdictExpired,
		core.VerdictNeedsReview, core.VerdictUnconfirmed, core.VerdictRelinked}
	states := []string{dispatcher.StateRunning, dispatcher.StateBackingOff, dispatcher.StateOpen, dispatcher.StateHalfOpen,
		dispatcher.StatePaused, dispatcher.StateStandby, dispatcher.StateStopped, ""}
	for _, lang := range present.Langs {
		p := present.Printer{Lang: lang}
		for _, s := range core.Statuses {
			if w := p.Status(s); w == string(s) || w == "" {
				t.Errorf("%s: status %s has no words", lang, s)
			}
		}
		for _, v := range verdicts {
			if w := p.Verdict(v); w == string(v) || w == "" {
				t.Errorf("%s: verdict %s has no words", lang, v)
			}
			if p.VerdictWhy(v) == "" {
				t.Errorf("%s: verdict %s is not explained", lang, v)
			}
		}
		for _, d := range []core.DeliveryState{core.DeliveryPending, core.DeliveryDelivered, core.DeliveryDead} {
			if w := p.DeliveryState(d); w == string(d) {
				t.Errorf("%s: delivery state %s has no words", lang, d)
			}
		}
		for _, s := range states {
			if w := p.ConnectorState(s); w == s || w == "" || strings.HasPrefix(w, "state.") {
				t.Errorf("%s: connector state %q has no words", lang, s)
			}
			if a := p.ConnectorAdvice(s, time.Time{}); a == "" || strings.HasPrefix(a, "advice.") {
				t.Errorf("%s: connector state %q has no advice", lang, s)
			}
		}
	}
	if got := (present.Printer{Lang: present.English}).Status("brand_new"); got != "brand_new" {
		t.Errorf("unknown status prints %q, want itself", got)
	}
}

func TestTimelineTellsTheStory(t *testing.T) {
	t.Parallel()
	p := present.Printer{Lang: present.English, Zone: time.UTC}
	o := core.Order{ID: "IG-1", AmountMinor: 1500000, Currency: "AMD"}
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	title := func(name string) string { return map[string]string{"vpos": "VPOS.am"}[name] }
	steps := p.Timeline(o, []core.JournalEntry{
		{ID: 1, Source: core.SourceAPI, Verdict: core.VerdictCreated, StatusAfter: core.StatusPending, AmountMinor: 1500000, Currency: "AMD", CreatedAt: at},
		{ID: 2, Source: core.SourceWebhook, Provider: "vpos", EventType: "payment.succeeded", Verdict: core.VerdictAmountMismatch,
			StatusBefore: core.StatusPending, StatusAfter: core.StatusManualReview, AmountMinor: 1400000, Currency: "AMD", Payload: []byte("{}"), CreatedAt: at},
		{ID: 3, Source: core.SourceManual, Verdict: core.VerdictManual, StatusBefore: core.StatusManualReview, StatusAfter: core.StatusPaid,
			Reason: "console (Anna): the rest came in cash", CreatedAt: at},
		{ID: 4, Source: core.SourceWebhook, Provider: "vpos", Verdict: core.VerdictAccepted, StatusBefore: core.StatusPaid,
			StatusAfter: core.StatusRefunded, AmountMinor: 500000, Currency: "AMD", CreatedAt: at},
		{ID: 5, Source: core.SourceWebhook, Provider: "vpos", Verdict: core.VerdictAccepted, StatusBefore: core.StatusRefunded,
			StatusAfter: core.StatusRefunded, AmountMinor: 1500000, Currency: "AMD", CreatedAt: at},
		{ID: 6, Source: core.SourceWebhook, Provider: "vpos", Verdict: core.VerdictDuplicate, StatusBefore: core.StatusRefunded,
			StatusAfter: core.StatusRefunded, CreatedAt: at},
		{ID: 7, Source: core.SourceConnector, EventType: "bitrix24", Verdict: core.VerdictRelinked,
			Reason: "linked deal 1 belongs to order IG-2; wrote deal 7 instead", CreatedAt: at},
	}, title)
	if len(steps) != 7 {
		t.Fatalf("%d steps", len(steps))
	}
	want := []struct{ what, change, extra string }{
		{"Order created", "Awaiting payment", "15,000" + nb + "֏"},
		{"Webhook from VPOS.am", "Awaiting payment → Needs review", "14,000" + nb + "֏ was paid, but the order is for 15,000" + nb + "֏"},
		{"Decision by a person", "Needs review → Paid", "Anna (console): the rest came in cash"},
		{"Webhook from VPOS.am", "Paid → Refunded", "Refunded 5,000" + nb + "֏; 10,000" + nb + "֏ of 15,000" + nb + "֏ left"},
		{"Webhook from VPOS.am", "stays Refunded", "Refunded 10,000" + nb + "֏: nothing left"},
		{"Webhook from VPOS.am", "stays Refunded", "paysync had already recorded this"},
		{"CRM bitrix24", "", "wrote the order's own record"},
	}
	for i, w := range want {
		s := steps[i]
		all := strings.Join([]string{s.What, s.Verdict, s.Why, s.Detail, s.Change, s.Amount, s.Refund}, " | ")
		if s.What != w.what || s.Change != w.change || !strings.Contains(all, w.extra) {
			t.Errorf("step %d = %s\nwant what %q, change %q, mentioning %q", i+1, all, w.what, w.change, w.extra)
		}
	}
	if !steps[1].Payload || steps[0].Payload || steps[1].Tone != "warn" || !steps[2].Moved || steps[5].Moved || steps[6].Moved || steps[6].Tone != "warn" {
		t.Errorf("payload, tone or moved flags wrong: %+v", steps[1])
	}
}

func BenchmarkMoney(b *testing.B) {
	p := present.Printer{Lang: present.Russian}
	for b.Loop() {
		_ = p.Money(123456789900, "AMD")
	}
}

// A person's journal entry says who and how in the page's language, and
// keeps their note as they wrote it.
func TestManualDetailInEachLanguage(t *testing.T) {
	cases := []struct {
		reason         string
		via, who, note string
	}{
		{"console (Anna): the rest came in cash", "console", "Anna", "the rest came in cash"},
		{"api (admin token): refund confirmed", "api", "admin token", "refund confirmed"},
		{"cli:aram: paid at pickup", "cli", "aram", "paid at pickup"},
		{"cli: paid at pickup", "cli", "", "paid at pickup"},
		{"a note from before: no prefix", "", "", "a note from before: no prefix"},
	}
	for _, c := range cases {
		via, who, note := present.ParseManualReason(c.reason)
		if via != c.via || who != c.who || note != c.note {
			t.Errorf("ParseManualReason(%q) = %q, %q, %q", c.reason, via, who, note)
		}
	}
	o := core.Order{ID: "IG-9", AmountMinor: 100, Currency: "AMD", Status: core.StatusExpired}
	entries := []core.JournalEntry{
		{Source: core.SourceManual, Verdict: core.VerdictNewLink, StatusBefore: core.StatusExpired, StatusAfter: core.StatusExpired,
			Reason: "console (Анна): new payment link in order IG-9-2"},
		{Source: core.SourceManual, Verdict: core.VerdictManual, StatusBefore: core.StatusManualReview, StatusAfter: core.StatusPaid,
			Reason: "api (admin token): доплата наличными"},
	}
	ru := present.Printer{Lang: present.Russian}.Timeline(o, entries, nil)
	if ru[0].Detail != "Анна (консоль): новая ссылка на оплату, в заказе IG-9-2" ||
		ru[1].Detail != "владелец с токеном администратора (API): доплата наличными" {
		t.Errorf("Russian details: %q, %q", ru[0].Detail, ru[1].Detail)
	}
	hy := present.Printer{Lang: present.Armenian}.Timeline(o, entries, nil)
	if !strings.Contains(hy[0].Detail, "վահանակ") || strings.Contains(hy[0].Detail, "new payment link") {
		t.Errorf("Armenian detail: %q", hy[0].Detail)
	}
}

// The provider the money came through is the one that reported it, not
// necessarily the one that made the link.
func TestPaidThrough(t *testing.T) {
	entries := []core.JournalEntry{
		{Source: core.SourceAPI, Verdict: core.VerdictLinkCreated, Provider: "vpos", StatusAfter: core.StatusPending},
		{Source: core.SourceWebhook, Verdict: core.VerdictIgnored, Provider: "vpos", StatusAfter: core.StatusPending},
	}
	if got := present.PaidThrough(entries); got != "" {
		t.Errorf("before any payment: %q", got)
	}
	entries = append(entries, core.JournalEntry{Source: core.SourceWebhook, Verdict: core.VerdictAmountMismatch, Provider: "generic",
		AmountMinor: 1700000, Currency: "AMD", StatusBefore: core.StatusPending, StatusAfter: core.StatusManualReview})
	if got := present.PaidThrough(entries); got != "generic" {
		t.Errorf("a bank transfer for a VPOS.am link: %q", got)
	}
}
