package mapping_test

import (
	"strings"
	"testing"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/mapping"
)

const chatFile = `connector: testchat
version: 1
languages: [hy, en]
statuses:
  pending:
    message:
      hy: 'Վճարման հղումը՝ {{.payment_url}}'
      en: 'Pay {{money .amount_minor .currency}} for {{.order_id}}: {{.payment_url}}'
  paid:
    message:
      hy: 'Վճարումը ստացանք'
      en: '  We received {{money .amount_minor .currency}}, thank you!  '
  failed: {message: null}
  expired: {message: null}
  manual_review: {message: null}
  partially_refunded: {message: null}
  refunded: {message: null}
`

// TestMessageProfile: a messaging connector's file has languages and a
// message per status instead of entity and stages; Render gives the
// message of the order's status in every language, none for message: null.
func TestMessageProfile(t *testing.T) {
	register(t, mapping.Profile{Connector: "testchat", Messages: true})
	m, err := mapping.Parse("testchat.yaml", []byte(chatFile))
	if err != nil {
		t.Fatal(err)
	}
	if !m.Messages() || strings.Join(m.Languages(), ",") != "hy,en" {
		t.Fatalf("Messages %v, Languages %v", m.Messages(), m.Languages())
	}
	o := core.Order{ID: "IG-1", Status: core.StatusPending, AmountMinor: 1500000, Currency: "AMD", PaymentURL: "https://pay.example/IG-1"}
	p, err := m.Render(mapping.Input{Order: o})
	if err != nil {
		t.Fatal(err)
	}
	if p.Messages["en"] != "Pay 15000.00 AMD for IG-1: https://pay.example/IG-1" || p.Messages["hy"] != "Վճարման հղումը՝ https://pay.example/IG-1" ||
		p.Entity != nil || p.Stage != "" {
		t.Fatalf("pending: %+v", p)
	}
	o.Status = core.StatusPaid
	if p, err = m.Render(mapping.Input{Order: o}); err != nil || p.Messages["en"] != "We received 15000.00 AMD, thank you!" {
		t.Fatalf("paid (trimmed): %+v, %v", p, err)
	}
	o.Status = core.StatusFailed
	if p, err = m.Render(mapping.Input{Order: o}); err != nil || p.Messages != nil {
		t.Fatalf("a status with message: null: %+v, %v", p, err)
	}
	// A CRM file's grammar does not apply, and the other way round.
	sheetish := strings.Replace(minimal, "connector: sheets", "connector: testchat", 1)
	_, err = mapping.Parse("testchat.yaml", []byte(sheetish))
	for _, want := range []string{"entity does not apply to testchat, which sends a message per status", "stages does not apply to testchat",
		"languages is missing", "status pending has no message"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("a CRM-shaped file for a messaging connector: %v\nwant %q", err, want)
		}
	}
	chatty := strings.Replace(chatFile, "connector: testchat", "connector: sheets", 1)
	if _, err := mapping.Parse("sheets.yaml", []byte(chatty)); err == nil || !strings.Contains(err.Error(), "unknown key languages in the file (known: version, connector, settings, tags, entity, contact, stages, statuses)") {
		t.Errorf("languages in a CRM's file: %v", err)
	}
}

// TestMessageProfileErrors: every mistake of a messaging file is reported
// at once, with its line.
func TestMessageProfileErrors(t *testing.T) {
	register(t, mapping.Profile{Connector: "testchat", Messages: true})
	bad := strings.NewReplacer(
		"languages: [hy, en]", "languages: [hy, en, eng, hy]",
		"      en: '  We received", "      ru: 'Получили'\n      fr: '  We received",
		"{{.payment_url}}'\n      en:", "{{.payment_ur}}'\n      en:",
		"  refunded: {message: null}\n", "",
	).Replace(chatFile)
	_, err := mapping.Parse("testchat.yaml", []byte(bad))
	if err == nil {
		t.Fatal("a broken file loaded")
	}
	for _, want := range []string{
		`testchat.yaml:3:21: language "eng" must be a two-letter code`,
		"testchat.yaml:3:26: language hy is listed twice",
		"testchat.yaml:7:11: statuses.pending.message.hy:",
		"unknown source field payment_ur",
		"testchat.yaml:12:7: statuses.paid.message: language ru is not listed in languages (hy, en)",
		"statuses.paid.message has no en text",
		"status refunded has no message",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
}

// TestReadMessage: a message rendered from the file reads back as its
// status, language and order; text the file never renders does not.
func TestReadMessage(t *testing.T) {
	m := load(t, "instagram")
	o := core.Order{ID: "IG-7.1", AmountMinor: 990000, RefundedMinor: 330000, Currency: "AMD", PaymentURL: "https://pay.example/IG-7.1?x=1"}
	for _, st := range core.Statuses {
		o.Status = st
		p, err := m.Render(mapping.Input{Order: o})
		if err != nil {
			t.Fatal(err)
		}
		for lang, text := range p.Messages {
			got, gotLang, id, ok := m.ReadMessage(text)
			if !ok || got != st || gotLang != lang || id != o.ID {
				t.Errorf("%s/%s %q read back as %s/%s %q (ok %v)", st, lang, text, got, gotLang, id, ok)
			}
		}
	}
	for _, text := range []string{"", "Hello! Anything else?", "Thank you! We received your payment"} {
		if st, _, id, ok := m.ReadMessage(text); ok {
			t.Errorf("%q read as %s of %s", text, st, id)
		}
	}
}
