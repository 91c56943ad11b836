package all

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/paysync/paysync/connectors/instagram"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/mapping"
	"github.com/paysync/paysync/sandbox"
	igdouble "github.com/paysync/paysync/sandbox/instagram"
)

func init() {
	sandbox.Register(sandbox.Spec{Name: instagram.Name, Title: "Instagram Direct", New: newInstagramDouble})
}

// InstagramDouble is the sandbox Instagram account as `paysync sandbox`
// serves it: its webhooks go to paysync's /webhooks/instagram.
type InstagramDouble struct {
	*igdouble.Account
	base string
}

func newInstagramDouble(o sandbox.DoubleOptions) sandbox.Double {
	return InstagramDouble{Account: igdouble.New(igdouble.Options{PaysyncURL: o.PaysyncURL, Logger: o.Logger}), base: strings.TrimRight(o.PublicURL, "/")}
}

func (d InstagramDouble) Env() map[string]string {
	return map[string]string{
		"PAYSYNC_INSTAGRAM_BASE_URL":     d.base + "/",
		"PAYSYNC_INSTAGRAM_ACCOUNT_ID":   d.AccountID(),
		"PAYSYNC_INSTAGRAM_ACCESS_TOKEN": d.AccessToken(),
		"PAYSYNC_INSTAGRAM_APP_SECRET":   d.AppSecret(),
		"PAYSYNC_INSTAGRAM_VERIFY_TOKEN": igdouble.DefaultVerifyToken,
	}
}

// instagramMapping is the shipped mapping, through which the messages the
// account sent are read back.
var instagramMapping = sync.OnceValue(func() *mapping.Mapping {
	ms, err := mapping.LoadDir("", []string{instagram.Name})
	if err != nil {
		return nil
	}
	return ms[instagram.Name]
})

// Records lists every message the account sent through the API that the
// shipped mapping reads back as an order's: one record per message, its
// stage and status the status it told, oldest first.
func (d InstagramDouble) Records() []sandbox.Record {
	m := instagramMapping()
	if m == nil {
		return nil
	}
	var out []sandbox.Record
	for _, msg := range d.Sent() {
		st, _, orderID, ok := m.ReadMessage(msg.Text)
		if !ok {
			continue
		}
		out = append(out, sandbox.Record{OrderID: orderID, ID: msg.ID, Stage: string(st), Status: st, Stages: []string{string(st)}})
	}
	return out
}

// Describe says which messages an order's customer got in Direct.
func (d InstagramDouble) Describe(orderID string) string {
	var told []string
	for _, r := range d.Records() {
		if r.OrderID == orderID {
			told = append(told, messageWord(r.Status))
		}
	}
	if len(told) == 0 {
		return ""
	}
	return strings.Join(told, ", ")
}

func messageWord(s core.Status) string {
	switch s {
	case core.StatusPending:
		return "link"
	case core.StatusPartiallyRefunded:
		return "part refund"
	}
	return strings.ReplaceAll(string(s), "_", " ")
}

// CustomerSays is a customer writing to the shop in Direct: Meta posts it
// to paysync as a signed webhook.
func (d InstagramDouble) CustomerSays(igsid, handle, text string) error {
	d.CustomerWrites(igdouble.Customer{IGSID: igsid, Username: handle, Name: handle}, text, time.Time{})
	return nil
}

// Transcript is a customer's thread as they see it, oldest first.
func (d InstagramDouble) Transcript(igsid string) []string {
	var out []string
	for _, m := range d.Account.Thread(igsid) {
		who := "@" + d.handleOf(igsid)
		if m.FromShop {
			who = "shop"
		}
		out = append(out, fmt.Sprintf("%s  %s: %s", m.At.Format("15:04:05"), who, m.Text))
	}
	return out
}

func (d InstagramDouble) handleOf(igsid string) string {
	for _, c := range d.Customers() {
		if c.IGSID == igsid && c.Username != "" {
			return c.Username
		}
	}
	return igsid
}
