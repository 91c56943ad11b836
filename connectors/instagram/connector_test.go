package instagram_test

import (
	"context"
	"net/http/httptest"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/connectors/connectortest"
	"github.com/paysync/paysync/connectors/instagram"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/setting"
	"github.com/paysync/paysync/internal/testutil"
	"github.com/paysync/paysync/mapping"
	igdouble "github.com/paysync/paysync/sandbox/instagram"
	"github.com/paysync/paysync/storage"
	"github.com/paysync/paysync/storage/testdb"
)

// staticMappings hands out fixed mappings.
type staticMappings map[string]*mapping.Mapping

func (s staticMappings) Get(name string) *mapping.Mapping { return s[name] }

func shipped(t testing.TB) *mapping.Mapping {
	t.Helper()
	m, err := mapping.Shipped(instagram.Name)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// env is a sandbox account served over loopback, a database, and the
// connector built through the registry as serve builds it.
type env struct {
	acct  *igdouble.Account
	srv   *httptest.Server
	db    *storage.DB
	conn  core.Connector
	deps  connectors.Deps
	mapng *mapping.Mapping
}

func newEnv(t testing.TB, opts igdouble.Options, tweak func(*instagram.Settings)) *env {
	t.Helper()
	a := igdouble.New(opts)
	srv := httptest.NewServer(a)
	t.Cleanup(func() { a.Close(); srv.Close() })
	e := &env{acct: a, srv: srv, db: testdb.Open(t, storage.SQLite), mapng: shipped(t)}
	s := instagram.DefaultSettings()
	s.AccessToken, s.AccountID = setting.Secret(a.AccessToken()), a.AccountID()
	s.AppSecret, s.VerifyToken = setting.Secret(a.AppSecret()), "verify-me"
	s.BaseURL = srv.URL + "/"
	if tweak != nil {
		tweak(s)
	}
	spec, ok := connectors.Lookup(instagram.Name)
	if !ok {
		t.Fatal("the instagram connector is not registered")
	}
	e.deps = connectors.Deps{Settings: s, Store: e.db, Mappings: staticMappings{instagram.Name: e.mapng}, Owner: "test", Logger: testutil.Logger(t)}
	c, err := spec.New(context.Background(), e.deps)
	if err != nil {
		t.Fatal(err)
	}
	e.conn = c
	return e
}

// writes is a customer writing at at: the account's thread and paysync's
// record of it (the webhook that would carry it is not served here).
func (e *env) writes(t testing.TB, igsid, text string, at time.Time) {
	t.Helper()
	mid := e.acct.CustomerWrites(igdouble.Customer{IGSID: igsid, Username: "ani.shop.fan", Name: "Ani"}, text, at)
	if _, _, err := e.db.RecordDirect(context.Background(), core.DirectMessage{MID: mid, IGSID: igsid, Text: text, Language: "en", At: at}); err != nil {
		t.Fatal(err)
	}
}

var amountIn = regexp.MustCompile(`(\d+)\.(\d\d) AMD`)

// harness adapts the connector and the sandbox account to connectortest.
type harness struct {
	t *testing.T
	e *env
}

func (h *harness) Features() connectortest.Features { return connectortest.Features{Messages: true} }

func (h *harness) NewConnector(t *testing.T) core.Connector {
	h.e = newEnv(t, igdouble.Options{}, nil)
	h.e.writes(t, "1784", "Hi! Is the silver ring still available?", time.Now().Add(-time.Hour))
	return h.e.conn
}

// Records are the messages the account sent about the order, read back
// through the shipped mapping, oldest first.
func (h *harness) Records(t *testing.T, orderID string) []connectortest.Record {
	var out []connectortest.Record
	for _, m := range h.e.acct.Sent() {
		st, _, id, ok := h.e.mapng.ReadMessage(m.Text)
		if !ok || id != orderID {
			continue
		}
		rec := connectortest.Record{ExternalID: m.ID, Stage: string(st), Contact: m.To}
		if a := amountIn.FindStringSubmatch(m.Text); a != nil {
			major, _ := strconv.ParseInt(a[1], 10, 64)
			minor, _ := strconv.ParseInt(a[2], 10, 64)
			rec.AmountMinor = major*100 + minor
		}
		out = append(out, rec)
	}
	return out
}

func (h *harness) StageFor(s core.Status) string {
	if s == core.StatusManualReview {
		return "" // sends nothing
	}
	return string(s)
}
func (h *harness) LaterStage() string { return "" }
func (h *harness) SetStage(t *testing.T, _, _ string) {
	t.Fatal("a message is never moved")
}
func (h *harness) LoseNextCreateResponse(*testing.T) { h.e.acct.LoseNextSendAnswer(1) }
func (h *harness) ExhaustRateLimit(*testing.T)       { h.e.acct.ExhaustRate(true) }
func (h *harness) WaitRateLimit(*testing.T)          { h.e.acct.ExhaustRate(false) }
func (h *harness) BreakCredentials(*testing.T)       { h.e.acct.ExpireToken() }
func (h *harness) Secrets() []string {
	return []string{igdouble.DefaultAccessToken, igdouble.DefaultAppSecret, "verify-me"}
}
func (h *harness) RebuildAccount(t *testing.T) {
	t.Fatal("no account is rebuilt for a messaging connector")
}

// MakeInvalid sends the order to someone paysync heard from but Instagram
// knows no more: the Send API answers code 100, "No matching user found".
func (h *harness) MakeInvalid(t *testing.T, o *core.Order) string {
	o.Customer.ID = "4040"
	if _, _, err := h.e.db.RecordDirect(context.Background(), core.DirectMessage{MID: "m-4040", IGSID: "4040", Text: "hi", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return "No matching user found"
}

func TestConformance(t *testing.T) {
	connectortest.Run(t, &harness{t: t})
}
