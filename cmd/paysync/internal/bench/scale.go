package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/storage"
)

// `paysync bench --scale` (issue 23, "A million orders"): a database filled
// with years of a shop's orders, five journal entries each, and what a
// manager and the daemon feel on it: search, the order page, the order
// list, the dispatcher's claim, ingest beside an empty database (in turns), and
// the bytes an order costs.

// ScaleOptions configure a scale run.
type ScaleOptions struct {
	// Orders is how many orders the fill writes (default 1,000,000).
	Orders int
	// DatabaseURL is a PostgreSQL server on which the run creates, and drops
	// at the end, a scratch database. Empty: SQLite only.
	DatabaseURL string
	// Samples is how many times each query kind is timed (default 200).
	Samples int
	// Webhooks is how many webhooks each ingest measurement sends (default 2,000).
	Webhooks int
	// SQLiteOnly and PostgresOnly leave the other database out (to fill
	// both at once from two runs).
	SQLiteOnly, PostgresOnly bool
	Progress                 io.Writer
}

// ScaleReport is what a scale run measured, one entry per database.
type ScaleReport struct {
	StartedAt time.Time     `json:"started_at"`
	Machine   Machine       `json:"machine"`
	Databases []ScaleResult `json:"databases"`
	Skipped   []string      `json:"skipped,omitempty"`
}

// ScaleResult is one database, filled.
type ScaleResult struct {
	Database       string        `json:"database"`
	Orders         int           `json:"orders"`
	JournalEntries int           `json:"journal_entries"`
	FillSeconds    float64       `json:"fill_seconds"`
	Queries        []QueryResult `json:"queries"`
	// Ingest is webhooks a second (8 clients) on the database empty and filled.
	IngestEmpty float64 `json:"ingest_empty_per_s"`
	IngestFull  float64 `json:"ingest_full_per_s"`
	IngestRatio float64 `json:"ingest_ratio"`
	IngestMet   bool    `json:"ingest_met"`
	// BytesPerOrder is the database's size on disk over its orders (with
	// their journal, links and indexes).
	Bytes         int64   `json:"bytes"`
	BytesPerOrder float64 `json:"bytes_per_order"`
}

// QueryResult is one kind of read, timed Samples times.
type QueryResult struct {
	What      string  `json:"what"`
	Runs      int     `json:"runs"`
	P50ms     float64 `json:"p50_ms"`
	P95ms     float64 `json:"p95_ms"`
	MaxMs     float64 `json:"max_ms"`
	GoalP95ms float64 `json:"goal_p95_ms,omitempty"`
	Met       bool    `json:"met"`
}

// Goals of issues 20 and 23.
const (
	scaleGoalP95ms  = 50
	scaleIngestGoal = 0.9 // ingest on the full database, over the empty one's
	scaleJournal    = 5   // journal entries an order
	scaleClaimLimit = 20
)

// Scale fills a database of each dialect and measures it.
func Scale(ctx context.Context, o ScaleOptions) (*ScaleReport, error) {
	if o.Orders <= 0 {
		o.Orders = 1_000_000
	}
	if o.Samples <= 0 {
		o.Samples = 200
	}
	if o.Webhooks <= 0 {
		o.Webhooks = 2000
	}
	r := &run{o: Options{DatabaseURL: o.DatabaseURL, Progress: o.Progress}, start: time.Now(), rep: &Report{}}
	rep := &ScaleReport{StartedAt: time.Now().UTC(), Machine: machine()}
	rep.Machine.LoadBefore = loadAverage()
	defer func() { rep.Machine.LoadAfter = loadAverage() }()
	var dbs []string
	if !o.PostgresOnly {
		dbs = append(dbs, storage.SQLite)
	}
	switch {
	case o.SQLiteOnly:
	case o.DatabaseURL != "":
		dbs = append(dbs, storage.Postgres)
	default:
		rep.Skipped = append(rep.Skipped, "PostgreSQL: no --database-url and no "+EnvDatabaseURL)
	}
	for _, dialect := range dbs {
		res, err := r.scaleOn(ctx, dialect, o)
		if err != nil {
			return rep, fmt.Errorf("%s: %w", dialect, err)
		}
		rep.Databases = append(rep.Databases, *res)
	}
	return rep, nil
}

func (r *run) scaleOn(ctx context.Context, dialect string, o ScaleOptions) (*ScaleResult, error) {
	sc, err := r.scratchDB(ctx, dialect)
	if err != nil {
		return nil, err
	}
	defer sc.close()
	in, err := startIngest(ctx, sc.db)
	if err != nil {
		return nil, err
	}
	defer in.close()
	res := &ScaleResult{Database: dialect, Orders: o.Orders, JournalEntries: o.Orders * scaleJournal}

	start := time.Now()
	if err := r.fill(ctx, sc.db, o.Orders); err != nil {
		return nil, fmt.Errorf("fill: %w", err)
	}
	res.FillSeconds = round2(time.Since(start).Seconds())
	if res.Bytes, err = dbSize(ctx, sc.db); err != nil {
		return nil, err
	}
	res.BytesPerOrder = float64(int64(float64(res.Bytes) / float64(o.Orders)))

	rng := rand.New(rand.NewPCG(uint64(o.Orders), 23))
	pick := func() int { return rng.IntN(o.Orders) }
	// timeAfter times job, each run after an untimed prepare (nil: none).
	timeAfter := func(what string, goal float64, prepare, job func(ctx context.Context) error) error {
		r.progress("scale on %s: %s (%d runs)", dialect, what, o.Samples)
		if prepare == nil {
			prepare = func(context.Context) error { return nil }
		}
		for range 3 { // warm the caches the first runs would otherwise pay for
			if err := prepare(ctx); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			if err := job(ctx); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
		}
		ds := make([]time.Duration, o.Samples)
		for k := range ds {
			if err := prepare(ctx); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			t := time.Now()
			if err := job(ctx); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			ds[k] = time.Since(t)
		}
		q := QueryResult{What: what, Runs: o.Samples, P50ms: quantileMS(ds, 0.5), P95ms: quantileMS(ds, 0.95), MaxMs: quantileMS(ds, 1), GoalP95ms: goal}
		q.Met = goal == 0 || q.P95ms <= goal
		res.Queries = append(res.Queries, q)
		r.progress("  p50 %.2f ms, p95 %.2f ms", q.P50ms, q.P95ms)
		return nil
	}
	timeIt := func(what string, goal float64, job func(ctx context.Context) error) error {
		return timeAfter(what, goal, nil, job)
	}
	db := sc.db
	search := func(q func(c scaleCustomer) string, wantOne bool) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			i := pick()
			c := customerOf(i)
			got, err := db.ListOrders(ctx, core.OrderQuery{Q: q(c), Limit: 51})
			if err != nil {
				return err
			}
			found := len(got) > 0 && !wantOne
			for _, o := range got {
				found = found || o.ID == c.id
			}
			// A page of newer orders that also match (a shorter handle,
			// the same digits elsewhere) may hide it.
			if !found && len(got) < 51 {
				return fmt.Errorf("%q found %d orders, not %s", q(c), len(got), c.id)
			}
			return nil
		}
	}
	kinds := []struct {
		what    string
		q       func(c scaleCustomer) string
		wantOne bool
	}{
		{"search: last 6 digits of the phone", func(c scaleCustomer) string { return c.national[2:] }, true},
		{"search: phone as +374 91 000102", func(c scaleCustomer) string { return "+374 " + c.national[:2] + " " + c.national[2:] }, true},
		{"search: phone as 091000102", func(c scaleCustomer) string { return "0" + c.national }, true},
		{"search: surname (Latin, Cyrillic, Armenian)", func(c scaleCustomer) string { return strings.ToUpper(c.surname) }, false},
		{"search: @handle", func(c scaleCustomer) string { return "@" + c.handle }, true},
		{"search: order id", func(c scaleCustomer) string { return strings.ToLower(c.id) }, true},
	}
	for _, k := range kinds {
		if err := timeIt(k.what, scaleGoalP95ms, search(k.q, k.wantOne)); err != nil {
			return nil, err
		}
	}
	if err := timeIt("search: nothing matches", scaleGoalP95ms, func(ctx context.Context) error {
		got, err := db.ListOrders(ctx, core.OrderQuery{Q: fmt.Sprintf("zq%dx", rng.IntN(1e6)), Limit: 51})
		if err == nil && len(got) != 0 {
			err = fmt.Errorf("a search for nothing found %d orders", len(got))
		}
		return err
	}); err != nil {
		return nil, err
	}
	if err := timeIt("order list, first page", scaleGoalP95ms, func(ctx context.Context) error {
		got, err := db.ListOrders(ctx, core.OrderQuery{Limit: 51})
		if err == nil && len(got) != 51 {
			err = fmt.Errorf("the first page has %d orders", len(got))
		}
		return err
	}); err != nil {
		return nil, err
	}
	if err := timeIt("order list, by status", scaleGoalP95ms, func(ctx context.Context) error {
		st := []core.Status{core.StatusPaid, core.StatusPending, core.StatusExpired, core.StatusManualReview}[rng.IntN(4)]
		_, err := db.ListOrders(ctx, core.OrderQuery{Status: st, Limit: 51})
		return err
	}); err != nil {
		return nil, err
	}
	// The console's order page: the order, its journal, its deliveries and
	// its CRM links (console.orderPage, httpapi.LoadOrderView).
	if err := timeIt("order page", scaleGoalP95ms, func(ctx context.Context) error {
		id := scaleID(pick())
		if _, err := db.GetOrder(ctx, id); err != nil {
			return err
		}
		j, err := db.ListJournal(ctx, id)
		if err != nil {
			return err
		}
		if len(j) != scaleJournal {
			return fmt.Errorf("order %s has %d journal entries, want %d", id, len(j), scaleJournal)
		}
		if _, err := db.OrderDeliveries(ctx, id); err != nil {
			return err
		}
		_, err = db.ListLinks(ctx, id)
		return err
	}); err != nil {
		return nil, err
	}
	// A claim as the dispatcher makes it, its records then delivered (not
	// timed), so that each claim finds a queue of due records as the last.
	var claimed []core.OutboxRecord
	claims := 0
	deliver := func(ctx context.Context) error {
		for _, rec := range claimed {
			if err := db.CompleteOutbox(ctx, core.Completion{ID: rec.ID, Token: rec.LeaseToken, Outcome: core.OutcomeDelivered, Now: time.Now()}); err != nil {
				return err
			}
		}
		return nil
	}
	if err := timeAfter(fmt.Sprintf("dispatcher claim (%d records)", scaleClaimLimit), 0, deliver, func(ctx context.Context) error {
		claims++
		var err error
		claimed, err = db.ClaimOutbox(ctx, core.ClaimRequest{Connector: "bitrix24", Owner: "bench", Token: "scale-" + strconv.Itoa(claims),
			Limit: scaleClaimLimit, Lease: time.Hour})
		if err == nil && len(claimed) == 0 {
			err = fmt.Errorf("claim %d found nothing due", claims)
		}
		return err
	}); err != nil {
		return nil, err
	}

	// Ingest: a second, empty database beside the filled one, measured in
	// turns (empty, filled, empty, filled), so that both see the same load
	// of the machine; measured minutes apart, the ratio followed whatever
	// else ran (0.48x to 5.59x on a shared machine).
	base, err := r.scratchDB(ctx, dialect)
	if err != nil {
		return nil, err
	}
	defer base.close()
	bin, err := startIngest(ctx, base.db)
	if err != nil {
		return nil, err
	}
	defer bin.close()
	const turns = 2
	for turn := 1; turn <= turns; turn++ {
		for _, side := range []struct {
			name string
			env  *ingestEnv
			rate *float64
		}{{"empty", bin, &res.IngestEmpty}, {"filled", in, &res.IngestFull}} {
			r.progress("scale on %s: ingest on the %s database, turn %d of %d (%d webhooks, 8 clients)", dialect, side.name, turn, turns, o.Webhooks)
			s, err := side.env.webhooks(ctx, fmt.Sprintf("%s%d-", side.name, turn), o.Webhooks, 8)
			if err != nil {
				return nil, err
			}
			*side.rate += s.perSecond() / turns
		}
	}
	res.IngestRatio = round2(res.IngestFull / res.IngestEmpty)
	res.IngestMet = res.IngestRatio >= scaleIngestGoal
	r.progress("  empty %.0f/s, filled %.0f/s: %.2fx", res.IngestEmpty, res.IngestFull, res.IngestRatio)
	return res, nil
}

// scaleCustomer is order i's customer: a surname shared with many others
// (in one of three scripts), a phone and a handle of their own.
type scaleCustomer struct {
	id, first, surname, national, phone, handle, email string
}

var (
	scaleFirst = []string{"Anna", "Aram", "Mariam", "Davit", "Lilit", "Narek", "Ani", "Tigran", "Syuzanna", "Hayk",
		"Анна", "Игорь", "Мария", "Ольга", "Сергей", "Աննա", "Արամ", "Մարիամ", "Դավիթ", "Լիլիթ"}
	// Surnames in Latin, Cyrillic and Armenian letters: 60 in all, so that a
	// surname finds about one order in sixty (thousands, at scale).
	scaleSurnames = []string{
		"Petrosyan", "Sargsyan", "Hovhannisyan", "Grigoryan", "Harutyunyan", "Khachatryan", "Hakobyan", "Vardanyan", "Karapetyan", "Gevorgyan",
		"Avetisyan", "Mkrtchyan", "Ghazaryan", "Poghosyan", "Manukyan", "Martirosyan", "Simonyan", "Davtyan", "Arakelyan", "Baghdasaryan",
		"Петросян", "Саргсян", "Ованнисян", "Григорян", "Арутюнян", "Хачатрян", "Акопян", "Варданян", "Морозов", "Кузнецова",
		"Иванова", "Смирнов", "Попова", "Соколов", "Лебедева", "Новиков", "Козлова", "Волков", "Зайцева", "Павлов",
		"Պետրոսյան", "Սարգսյան", "Հովհաննիսյան", "Գրիգորյան", "Հարությունյան", "Խաչատրյան", "Հակոբյան", "Վարդանյան", "Կարապետյան", "Գևորգյան",
		"Ավետիսյան", "Մկրտչյան", "Ղազարյան", "Պողոսյան", "Մանուկյան", "Մարտիրոսյան", "Սիմոնյան", "Դավթյան", "Առաքելյան", "Բաղդասարյան",
	}
	scaleOperators = []string{"91", "93", "94", "95", "77", "98", "99", "55"}
	scaleHandles   = []string{"anna", "aram", "mariam", "davit", "lilit", "narek", "ani", "tigran", "syuzi", "hayk"}
)

func scaleID(i int) string { return fmt.Sprintf("SC-%07d", i) }

func customerOf(i int) scaleCustomer {
	c := scaleCustomer{id: scaleID(i), first: scaleFirst[i%len(scaleFirst)], surname: scaleSurnames[(i/7)%len(scaleSurnames)]}
	// Six digits of their own for each operator's customer (7919 is prime to
	// 10^6: no two orders share a number below 8,000,000 orders).
	c.national = scaleOperators[i%len(scaleOperators)] + fmt.Sprintf("%06d", ((i/len(scaleOperators))*7919+123_457)%1_000_000)
	n := c.national
	switch i % 4 { // the forms phones arrive in
	case 0:
		c.phone = "0" + n[:2] + " " + n[2:5] + " " + n[5:]
	case 1:
		c.phone = "+374 " + n[:2] + " " + n[2:]
	case 2:
		c.phone = "+374(" + n[:2] + ")" + n[2:5] + "-" + n[5:]
	default:
		c.phone = n
	}
	c.handle = fmt.Sprintf("%s.%d", scaleHandles[i%len(scaleHandles)], i)
	if i%3 == 0 {
		c.email = c.handle + "@example.am"
	}
	return c
}

// fill writes n orders (with their journal, CRM links and a recent outbox)
// in transactions of scaleTx orders, each statement inserting many rows.
func (r *run) fill(ctx context.Context, db *storage.DB, n int) error {
	const scaleTx = 5000
	now := time.Now()
	// Orders are 30 s apart, the newest a minute ago.
	first := now.Add(-time.Minute - time.Duration(n)*30*time.Second)
	// The newest orders still have outbox records (delivered ones are purged
	// after a while); the newest 5,000 are pending, for the claims.
	recent, pending := max(n-20_000, 0), max(n-5_000, 0)
	for lo := 0; lo < n; lo += scaleTx {
		hi := min(lo+scaleTx, n)
		if err := fillBatch(ctx, db, lo, hi, first, recent, pending); err != nil {
			return err
		}
		if hi%100_000 == 0 || hi == n {
			r.progress("  filled %d of %d orders", hi, n)
		}
	}
	if db.Dialect() == storage.Postgres {
		_, err := db.Writer().ExecContext(ctx, `ANALYZE`)
		return err
	}
	_, err := db.Writer().ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	if err == nil {
		_, err = db.Writer().ExecContext(ctx, `ANALYZE`)
	}
	return err
}

var (
	scaleOrderCols = []string{"id", "status", "amount_minor", "currency", "customer", "items", "customer_handle", "customer_phone",
		"provider", "provider_ref", "created_at", "updated_at", "status_changed_at", "paid_at", "version", "search"}
	scaleJournalCols = []string{"order_id", "provider", "event_id", "source", "event_type", "verdict", "status_before", "status_after",
		"amount_minor", "currency", "provider_ref", "reason", "payload", "payload_size", "payload_sha256", "order_version", "created_at"}
	scaleLinkCols   = []string{"connector", "order_id", "external_id", "synced_version", "synced_status", "data", "updated_at"}
	scaleOutboxCols = []string{"connector", "order_id", "order_version", "state", "attempts", "available_at", "external_id",
		"created_at", "updated_at", "delivered_at"}
)

func fillBatch(ctx context.Context, db *storage.DB, lo, hi int, first time.Time, recent, pending int) error {
	var orders, journal, links, outbox [][]any
	us := func(t time.Time) int64 { return t.UnixMicro() }
	for i := lo; i < hi; i++ {
		c := customerOf(i)
		at := first.Add(time.Duration(i) * 30 * time.Second)
		amount := int64(500_000 + (i%40)*100_000)
		status := core.StatusPaid
		switch {
		case i%50 == 0:
			status = core.StatusManualReview
		case i%10 == 1:
			status = core.StatusExpired
		}
		o := core.Order{ID: c.id, Status: status, AmountMinor: amount, Currency: "AMD",
			Customer: core.Customer{Handle: "@" + c.handle, Name: c.first + " " + c.surname, Phone: c.phone, Email: c.email},
			Items:    []core.Item{{SKU: "SCARF-" + strconv.Itoa(i%30), Name: "Silk scarf", Quantity: 1, PriceMinor: amount}}}
		customer, _ := json.Marshal(o.Customer)
		items, _ := json.Marshal(o.Items)
		ref := "pi_" + strconv.Itoa(i)
		var paidAt any
		if status == core.StatusPaid {
			paidAt = us(at.Add(10 * time.Minute))
		}
		orders = append(orders, []any{c.id, string(status), amount, "AMD", string(customer), string(items), c.handle, digitsOf(c.phone),
			"vpos", ref, us(at), us(at.Add(20 * time.Minute)), us(at.Add(10 * time.Minute)), paidAt, int64(3), core.SearchText(o)})
		payload := fmt.Appendf(nil, `{"event_id":"evt-%d","order_id":%q,"status":"paid","amount_minor":%d,"currency":"AMD","provider_ref":%q,"card":"4111********1111","approval":"%06d"}`,
			i, c.id, amount, ref, i%1_000_000)
		sum := sha256.Sum256(payload)
		for k, e := range []struct {
			event, source, verdict, before, after string
			body                                  []byte
		}{
			{"", core.SourceAPI, string(core.VerdictCreated), "", "pending", nil},
			{"", core.SourceAPI, string(core.VerdictLinkCreated), "pending", "pending", nil},
			{"evt-" + strconv.Itoa(i), core.SourceWebhook, string(core.VerdictAccepted), "pending", string(status), payload},
			{"", core.SourceWebhook, string(core.VerdictDuplicate), string(status), string(status), payload},
			{"", core.SourceLookup, string(core.VerdictAccepted), string(status), string(status), nil},
		} {
			var event any
			if e.event != "" {
				event = e.event
			}
			body, size, digest := []byte{}, 0, ""
			if e.body != nil {
				body, size, digest = e.body, len(e.body), hex.EncodeToString(sum[:])
			}
			journal = append(journal, []any{c.id, "vpos", event, e.source, "", e.verdict, e.before, e.after, amount, "AMD", ref, "",
				body, int64(size), digest, int64(min(k+1, 3)), us(at.Add(time.Duration(k) * 5 * time.Minute))})
		}
		links = append(links, []any{"bitrix24", c.id, strconv.Itoa(100_000 + i), int64(3), string(status), "", us(at.Add(21 * time.Minute))})
		if i >= recent {
			state, delivered := "delivered", any(us(at.Add(21*time.Minute)))
			if i >= pending {
				state, delivered = "pending", nil
			}
			outbox = append(outbox, []any{"bitrix24", c.id, int64(3), state, int64(1), us(at.Add(20 * time.Minute)), strconv.Itoa(100_000 + i),
				us(at.Add(20 * time.Minute)), us(at.Add(21 * time.Minute)), delivered})
		}
	}
	tx, err := db.Writer().BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, t := range []struct {
		table string
		cols  []string
		rows  [][]any
	}{{"orders", scaleOrderCols, orders}, {"journal", scaleJournalCols, journal}, {"crm_links", scaleLinkCols, links}, {"outbox", scaleOutboxCols, outbox}} {
		if err := insertRows(ctx, tx, t.table, t.cols, t.rows); err != nil {
			return fmt.Errorf("%s: %w", t.table, err)
		}
	}
	return tx.Commit()
}

// insertRows inserts rows with multi-row INSERTs of at most 16,000
// parameters each (under SQLite's and PostgreSQL's limits).
func insertRows(ctx context.Context, tx *sqlx.Tx, table string, cols []string, rows [][]any) error {
	per := 16_000 / len(cols)
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	for lo := 0; lo < len(rows); lo += per {
		part := rows[lo:min(lo+per, len(rows))]
		var b strings.Builder
		b.WriteString("INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES ")
		args := make([]any, 0, len(part)*len(cols))
		for k, row := range part {
			if k > 0 {
				b.WriteString(", ")
			}
			b.WriteString(one)
			args = append(args, row...)
		}
		if _, err := tx.ExecContext(ctx, tx.Rebind(b.String()), args...); err != nil {
			return err
		}
	}
	return nil
}

func digitsOf(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

// dbSize is the database's size on disk: the SQLite file (its log
// checkpointed) or the PostgreSQL database.
func dbSize(ctx context.Context, db *storage.DB) (int64, error) {
	var n int64
	if db.Dialect() == storage.Postgres {
		err := db.Reader().GetContext(ctx, &n, `SELECT pg_database_size(current_database())`)
		return n, err
	}
	var file string
	rows, err := db.Reader().QueryContext(ctx, `PRAGMA database_list`)
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var seq int
		var name, path string
		if err := rows.Scan(&seq, &name, &path); err != nil {
			rows.Close()
			return 0, err
		}
		if name == "main" {
			file = path
		}
	}
	rows.Close()
	for _, f := range []string{file, file + "-wal"} {
		if st, err := os.Stat(filepath.Clean(f)); err == nil {
			n += st.Size()
		}
	}
	return n, nil
}

// WriteTable prints the scale report as Markdown tables.
func (rep *ScaleReport) WriteTable(w io.Writer) {
	m := rep.Machine
	fmt.Fprintf(w, "paysync bench --scale, %s: %d CPUs (%s), %s/%s, %s", rep.StartedAt.Format("2006-01-02 15:04 MST"),
		m.CPUs, m.CPUModel, m.OS, m.Arch, m.Go)
	for _, l := range []struct {
		when string
		avg  []float64
	}{{"before", m.LoadBefore}, {"after", m.LoadAfter}} {
		if len(l.avg) == 3 {
			fmt.Fprintf(w, ", load average %s %.2f %.2f %.2f", l.when, l.avg[0], l.avg[1], l.avg[2])
		}
	}
	fmt.Fprintln(w)
	for _, d := range rep.Databases {
		fmt.Fprintf(w, "\n%s: %s orders, %s journal entries (filled in %.0f s), %.1f MiB, %s bytes an order\n\n", d.Database,
			num(float64(d.Orders)), num(float64(d.JournalEntries)), d.FillSeconds, float64(d.Bytes)/(1<<20), num(d.BytesPerOrder))
		t := table{"what", "runs", "p50 ms", "p95 ms", "max ms", "goal"}
		var rows [][]string
		for _, q := range d.Queries {
			goal := "—"
			if q.GoalP95ms > 0 {
				goal = verdict(q.Met, fmt.Sprintf("p95 ≤ %.0f ms", q.GoalP95ms))
			}
			rows = append(rows, []string{q.What, strconv.Itoa(q.Runs), dec(q.P50ms), dec(q.P95ms), dec(q.MaxMs), goal})
		}
		t.write(w, rows)
		fmt.Fprintln(w)
		t = table{"ingest, 8 clients", "empty database", "filled database", "ratio", "goal"}
		t.write(w, [][]string{{"webhooks/s", num(d.IngestEmpty), num(d.IngestFull), fmt.Sprintf("%.2fx", d.IngestRatio),
			verdict(d.IngestMet, fmt.Sprintf("≥ %.2fx", scaleIngestGoal))}})
	}
	for _, s := range rep.Skipped {
		fmt.Fprintln(w, "\nskipped: "+s)
	}
}

// WriteJSON writes the report, indented.
func (rep *ScaleReport) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}
