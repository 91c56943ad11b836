package amocrm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/mapping"
)

// Renderer is what the connector needs of a mapping; *mapping.Mapping has it.
type Renderer interface {
	Render(mapping.Input) (mapping.Payload, error)
	AllowStageMove(current, next string) bool
}

// Mappings hands out the live mapping of a connector; *mapping.Set has it.
type Mappings interface {
	Get(connector string) *mapping.Mapping
}

// DefaultMaxBatch is the most orders one delivery takes: one PATCH of
// status updates (at most 250 leads), one GET to verify their links and one
// POST of their notes, 3 requests for 250 orders; new orders take one
// /leads/complex request per 50.
const DefaultMaxBatch = MaxEntities

// ConnectorConfig configures a Connector. Set Mapping, or Mappings for a
// mapping that reloads (read once per delivery).
type ConnectorConfig struct {
	Client   *Client
	Mapping  Renderer
	Mappings Mappings
	// Unconfirmed keeps the orders whose create may have happened unseen
	// (default in memory; serve keeps it in the database).
	Unconfirmed Unconfirmed
	// Merges counts the leads amoCRM's duplicate control merged, for
	// `paysync connectors check` (default in memory).
	Merges Merges
	// OrderFieldID is the lead custom field that holds the order id; 0
	// finds it in the mapping: the field whose value it renders as the
	// order id.
	OrderFieldID int64
	MaxBatch     int // default and most 250
	// MaxSearches bounds the searches by order id of one delivery (one
	// request each; default 100, 14 s at 7 a second), so that a delivery
	// full of them still writes what it resolved before its deadline; the
	// rest are searched on retry.
	MaxSearches int
	Now         func() time.Time
}

// Connector writes orders into amoCRM leads with their contacts.
type Connector struct {
	client      *Client
	mapping     Renderer
	mappings    Mappings
	unconfirmed Unconfirmed
	merges      Merges
	orderField  int64
	maxBatch    int
	maxSearches int
	now         func() time.Time
}

var _ core.Connector = (*Connector)(nil)

// NewConnector returns a Connector.
func NewConnector(cfg ConnectorConfig) (*Connector, error) {
	if cfg.Client == nil || (cfg.Mapping == nil && cfg.Mappings == nil) {
		return nil, core.Errorf(core.EINVALID, "amocrm: the connector needs a client and a mapping")
	}
	c := &Connector{client: cfg.Client, mapping: cfg.Mapping, mappings: cfg.Mappings, unconfirmed: cfg.Unconfirmed, merges: cfg.Merges,
		orderField: cfg.OrderFieldID, maxBatch: cfg.MaxBatch, maxSearches: cfg.MaxSearches, now: cfg.Now}
	if c.maxSearches <= 0 {
		c.maxSearches = DefaultMaxSearches
	}
	if c.unconfirmed == nil {
		c.unconfirmed = NewMemoryUnconfirmed()
	}
	if c.merges == nil {
		c.merges = &MemoryMerges{}
	}
	if c.maxBatch <= 0 || c.maxBatch > DefaultMaxBatch {
		c.maxBatch = DefaultMaxBatch
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

func (c *Connector) Name() string  { return Name }
func (c *Connector) MaxBatch() int { return c.maxBatch }

// LinkData is what the connector keeps with a link (core.CRMLink.Data).
type LinkData struct {
	ContactID  int64 `json:"contact_id,omitempty"`
	StatusID   int64 `json:"status_id,omitempty"`
	PipelineID int64 `json:"pipeline_id,omitempty"`
	// Tags are the tags paysync set last: on the next update they are
	// replaced, the tags a manager added are kept.
	Tags []string `json:"tags,omitempty"`
}

// item is one delivery on its way through Deliver.
type item struct {
	d     core.Delivery
	idx   int // position in the batch; its request_id
	p     mapping.Payload
	link  LinkData
	dupOf *item // another item of the same order that does the work
	err   error
	done  bool

	linkID     int64 // lead id from the link, 0 when none
	orderField int64 // the custom field that holds the order id
	pipelineID int64 // the mapping's pipeline, 0 when it sets none
	statusID   int64 // the mapping's status for the order, 0 for none

	lead     *Lead  // the order's lead as read; nil: create one
	verified bool   // the link named the order's own lead
	search   bool   // look the lead up by order id
	stale    string // why the link's lead is not the order's
	added    bool   // joined the unconfirmed set in this delivery
	// unsureDone: the bulk lookup read every lead created since the
	// order's unconfirmed create and found none of its: create it.
	unsureDone bool
	// merged is the lead duplicate control merged the order's new lead
	// into (0: none), mergedContact that lead's contact, and mergedInto,
	// set when the lead is not the order's, says whose it is.
	merged        int64
	mergedContact int64
	mergedInto    string
	rejected      bool // its create was refused: nothing was created
	written       bool // amoCRM confirmed the lead's create or update
	notes         int  // its notes not written yet

	leadID    int64
	contactID int64
	status    int64 // the lead's status after the write
	pipeline  int64
	tags      []string
}

func (it *item) fail(err error) {
	if !it.done && it.err == nil {
		it.err = err
	}
}

func (it *item) open() bool { return it.err == nil && !it.done }

// complete reports whether everything of the item is written.
func (it *item) complete() bool { return it.written && it.notes == 0 }

// Deliver brings every order of the batch in step with its lead and
// returns one result per delivery, in order; one order's failure leaves the
// others.
//
// Requests, at most 7 a second: the linked leads are read by id (GET
// /leads?filter[id][], 250 a request) to verify that each is still the
// order's (its order-id field) and to learn its status; leads of orders
// whose link did not verify, or whose earlier create may have happened
// unseen, are searched by order id (GET /leads?query=, one each); new leads
// are created with their contact (POST /leads/complex, 50 a request);
// found leads are updated (PATCH /leads, 250 a request) with a status move
// only when the mapping's forward-only policy allows it; then the notes of
// the status changes (POST /leads/notes, 250 a request).
func (c *Connector) Deliver(ctx context.Context, batch []core.Delivery) []core.DeliveryResult {
	out := make([]core.DeliveryResult, len(batch))
	if len(batch) == 0 {
		return out
	}
	if len(batch) > c.maxBatch {
		return connectors.Refuse(len(batch), connectors.ErrBatchTooLarge("amoCRM"))
	}
	m := c.mapping
	if c.mappings != nil {
		if live := c.mappings.Get(Name); live != nil {
			m = live
		}
	}
	if m == nil {
		return connectors.Refuse(len(batch), connectors.ErrNoMapping(Name))
	}
	items := c.prepare(m, batch)
	r := &run{c: c, m: m}
	for _, it := range items {
		if it.dupOf == nil && it.err == nil {
			r.items = append(r.items, it)
		}
	}
	r.deliver(ctx)
	for i, it := range items {
		if it.dupOf != nil {
			it = it.dupOf
		}
		if it.err != nil {
			out[i].Err = it.err
			continue
		}
		ld, _ := json.Marshal(LinkData{ContactID: it.contactID, StatusID: it.status, PipelineID: it.pipeline, Tags: it.tags})
		out[i] = core.DeliveryResult{ExternalID: strconv.FormatInt(it.leadID, 10), LinkData: string(ld)}
		if it.stale != "" {
			out[i].Notice = fmt.Sprintf("%s; wrote lead %d instead", it.stale, it.leadID)
		}
	}
	return out
}

// prepare renders every order; a later version of the same order does the work.
func (c *Connector) prepare(m Renderer, batch []core.Delivery) []*item {
	items := make([]*item, len(batch))
	for i, d := range batch {
		items[i] = &item{d: d, idx: i}
	}
	for i, j := range connectors.Latest(batch) {
		if j != i {
			items[i].dupOf = items[j]
		}
	}
	for _, it := range items {
		if it.dupOf != nil {
			continue
		}
		p, err := m.Render(mapping.Input{Order: it.d.Order, Transitions: it.d.Transitions})
		if err != nil {
			it.err = connectors.ErrRender(Name, it.d.Order.ID, err)
			continue
		}
		it.p = p
		for _, n := range p.Notes {
			if strings.TrimSpace(n) != "" {
				it.notes++
			}
		}
		it.pipelineID, _ = intOf(p.Entity["pipeline_id"])
		it.statusID, _ = intOf(p.Entity["status_id"])
		it.orderField = c.orderField
		if it.orderField == 0 {
			it.orderField = OrderField(p.Entity, it.d.Order.ID)
		}
		if it.orderField == 0 {
			it.err = &core.DeliveryError{Class: core.Paused, Reason: "mapping/amocrm.yaml writes the order id into no lead custom field: " +
				"paysync finds leads again by it; add a text field \"Order ID\" in amoCRM > Settings > Leads > Fields and map it " +
				"with `value: {source: order_id}` under entity.custom_fields_values"}
			continue
		}
		if l := it.d.Link; l != nil {
			it.linkID, _ = strconv.ParseInt(l.ExternalID, 10, 64)
			if l.Data != "" {
				_ = json.Unmarshal([]byte(l.Data), &it.link)
			}
		}
	}
	return items
}

// OrderField finds the lead custom field whose rendered value is the order
// id, 0 when the entity has none.
func OrderField(entity map[string]any, orderID string) int64 {
	list, _ := entity["custom_fields_values"].([]any)
	for _, f := range list {
		fm, _ := f.(map[string]any)
		vals, _ := fm["values"].([]any)
		if len(vals) == 0 {
			continue
		}
		v, _ := vals[0].(map[string]any)
		if s, ok := v["value"].(string); ok && s == orderID {
			if id, ok := intOf(fm["field_id"]); ok {
				return id
			}
		}
	}
	return 0
}

// intOf reads an integer a mapping rendered (int64, json.Number or a string).
func intOf(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case json.Number:
		n, err := x.Int64()
		return n, err == nil
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		return n, err == nil
	}
	return 0, false
}

// run is one Deliver call.
type run struct {
	c           *Connector
	m           Renderer
	items       []*item
	unconfirmed map[string]time.Time
	// streak counts the failed requests in a row; stop, once set, is why
	// the run sends nothing more (see failed).
	streak int
	stop   *core.DeliveryError
	merges int // leads amoCRM's duplicate control merged in this run
}

// maxStreak failed requests in a row end a delivery: amoCRM is down, not
// flaky, and the breaker should hear of it rather than more requests.
const maxStreak = 3

func (r *run) deliver(ctx context.Context) {
	if len(r.items) == 0 {
		return
	}
	set, err := r.c.unconfirmed.Load(ctx)
	if err != nil {
		r.failOpen(&core.DeliveryError{Class: core.Retryable, Reason: "could not read paysync's record of unconfirmed amoCRM creates; will retry", Err: err})
		return
	}
	r.unconfirmed = set
	// Each step goes on past a failed request: that request's orders fail
	// with it, the others are written (failed says when to stop).
	for _, step := range []func(context.Context){r.verify, r.findUnsure, r.searchLeads, r.create, r.resolveMerges, r.createOwn, r.update, r.addNotes} {
		if r.stop != nil {
			break
		}
		step(ctx)
	}
	if r.stop != nil {
		r.failOpen(r.stop)
	}
	for _, it := range r.items {
		if it.open() {
			it.done = true
		}
	}
	r.settleUnconfirmed(ctx)
	if r.merges > 0 && r.c.merges != nil {
		// A failure here only costs `connectors check` its warning.
		_ = r.c.merges.Note(ctx, r.merges, r.c.now())
	}
}

// failOpen fails every item not written completely; what amoCRM
// confirmed stays done.
func (r *run) failOpen(err error) {
	for _, it := range r.items {
		if it.open() && !it.complete() {
			it.fail(err)
		}
	}
}

// answered notes a request amoCRM answered.
func (r *run) answered() { r.streak = 0 }

// failed notes a request that failed as a whole: the orders it carried fail
// with its error, and the run goes on with the others, unless amoCRM said
// to stop (a rate limit, a block, an unpaid account, dead credentials), the
// delivery's time is up, or maxStreak requests failed in a row.
func (r *run) failed(ctx context.Context, items []*item, err error) {
	de := Classify(err)
	for _, it := range items {
		if it.open() && !it.complete() {
			it.fail(de)
		}
	}
	r.streak++
	switch {
	case de.SlowDown || de.Class == core.Paused || de.Class == core.NeedsReauth || errors.Is(err, errNoSlot) || ctx.Err() != nil:
		r.stop = de
	case r.streak >= maxStreak:
		r.stop = &core.DeliveryError{Class: core.Retryable, Err: err, Reason: fmt.Sprintf(
			"not sent to amoCRM: %d requests of this delivery failed in a row (the last: %s); retried later", r.streak, de.Reason)}
	}
}

// open lists the items still to work on that pass keep.
func (r *run) open(keep func(*item) bool) []*item {
	var out []*item
	for _, it := range r.items {
		if it.open() && keep(it) {
			out = append(out, it)
		}
	}
	return out
}

// verify reads the linked leads: a link names the order's lead only if the
// lead's order-id field says so (an account rebuilt from scratch reuses ids).
func (r *run) verify(ctx context.Context) {
	linked := r.open(func(it *item) bool { return it.linkID > 0 })
	for _, chunk := range chunks(linked, MaxEntities) {
		if r.stop != nil {
			return
		}
		ids := make([]int64, 0, len(chunk))
		for _, it := range chunk {
			if !slices.Contains(ids, it.linkID) {
				ids = append(ids, it.linkID)
			}
		}
		leads, err := r.c.client.LeadsByID(ctx, ids)
		if err != nil {
			r.failed(ctx, chunk, err)
			continue
		}
		r.answered()
		byID := make(map[int64]*Lead, len(leads))
		for i := range leads {
			byID[leads[i].ID] = &leads[i]
		}
		for _, it := range chunk {
			l := byID[it.linkID]
			owner := ""
			if l != nil {
				owner = l.FieldText(it.orderField)
			}
			switch {
			case l == nil:
				it.stale = fmt.Sprintf("linked lead %d is gone", it.linkID)
			case owner == it.d.Order.ID:
				it.lead, it.verified = l, true
			case owner == "":
				it.stale = fmt.Sprintf("linked lead %d belongs to no order", it.linkID)
			default:
				it.stale = fmt.Sprintf("linked lead %d belongs to order %s", it.linkID, owner)
			}
			it.search = !it.verified
		}
	}
}

// unsureSkew widens the window of leads created since an unconfirmed
// create, for the clocks of paysync and amoCRM.
const unsureSkew = 5 * time.Minute

// findUnsure finds the leads of orders whose earlier create may have
// happened unseen (a lost answer, a crash before the link was stored) in
// bulk: the leads created since the oldest of those creates, 250 a page,
// matched by the order-id field. amoCRM's ?query= search takes one text a
// request and reads a search index that lags behind new leads, so a query
// right after a lost answer may find nothing and the order would get a
// second lead. It reads at most as many pages as it has orders to find
// (never more requests than one query each); orders still unfound then are
// searched by query, which is safe for creates older than the index's lag.
func (r *run) findUnsure(ctx context.Context) {
	unsure := r.open(func(it *item) bool {
		_, in := r.unconfirmed[it.d.Order.ID]
		return it.lead == nil && in
	})
	if len(unsure) == 0 {
		return
	}
	want := make(map[string]*item, len(unsure))
	since := time.Time{}
	for _, it := range unsure {
		want[it.d.Order.ID] = it
		if at := r.unconfirmed[it.d.Order.ID]; since.IsZero() || at.Before(since) {
			since = at
		}
	}
	since = since.Add(-unsureSkew)
	fields := map[int64]bool{}
	for _, it := range unsure {
		fields[it.orderField] = true
	}
	for page := 1; page <= len(unsure) && len(want) > 0; page++ {
		if r.stop != nil {
			return
		}
		leads, more, err := r.c.client.LeadsCreatedSince(ctx, since, page)
		if err != nil {
			r.failed(ctx, slices.Collect(maps.Values(want)), err)
			return
		}
		r.answered()
		for i := range leads {
			for f := range fields {
				if it := want[leads[i].FieldText(f)]; it != nil && it.orderField == f {
					// Oldest first: the first match is the order's lead.
					it.lead = &leads[i]
					delete(want, it.d.Order.ID)
				}
			}
		}
		if !more {
			// Every lead created since was read: the others have none.
			for _, it := range want {
				it.unsureDone = true
			}
			return
		}
	}
}

// DefaultMaxSearches is ConnectorConfig.MaxSearches' default.
const DefaultMaxSearches = 100

// writeRequests is the most requests the writes of the open items take:
// creates 50 a request, updates and notes 250.
func (r *run) writeRequests() int {
	n := len(r.open(func(*item) bool { return true }))
	return (n+MaxComplex-1)/MaxComplex + 2*((n+MaxEntities-1)/MaxEntities)
}

// searchLeads looks up by order id (?query=, one request each) the leads
// of orders whose link did not verify, and of unconfirmed orders the bulk
// lookup left unfound.
//
// A delivery stops searching while its deadline still leaves time for its
// writes (creates, updates, notes), so that the orders it searched for are
// written now: spending the whole time on searches would fail them all,
// and the retry would search for the same orders again, for ever.
func (r *run) searchLeads(ctx context.Context) {
	searched := 0
	budget := -1 // searches the deadline leaves time for; -1: no deadline
	if deadline, ok := ctx.Deadline(); ok {
		// One request to spare, for answers slower than the pace.
		budget = max(r.c.client.StartsBefore(deadline)-r.writeRequests()-1, 0)
	}
	for _, it := range r.items {
		if r.stop != nil {
			return
		}
		if !it.open() || it.lead != nil || it.unsureDone {
			continue
		}
		if _, unsure := r.unconfirmed[it.d.Order.ID]; !it.search && !unsure {
			continue
		}
		if searched++; searched > r.c.maxSearches {
			it.fail(&core.DeliveryError{Class: core.Retryable, Reason: fmt.Sprintf("not sent to amoCRM yet: this delivery "+
				"searched for %d orders' leads already; this one is searched on retry", r.c.maxSearches)})
			continue
		}
		if budget >= 0 && searched > budget {
			searched--
			it.fail(&core.DeliveryError{Class: core.Retryable, Reason: fmt.Sprintf("not sent to amoCRM yet: this delivery "+
				"searched for %d orders' leads, all its time allows besides writing them; this one is searched on retry", searched)})
			continue
		}
		id := it.d.Order.ID
		found, err := r.c.client.SearchLeads(ctx, id, func(l *Lead) bool { return l.FieldText(it.orderField) == id })
		if err != nil {
			r.failed(ctx, []*item{it}, err)
			continue
		}
		r.answered()
		if len(found) > 0 {
			oldest := found[0]
			for _, l := range found[1:] {
				if l.ID < oldest.ID {
					oldest = l
				}
			}
			it.lead = &oldest
		}
	}
}

// joinUnconfirmed adds items to the unconfirmed set before their create
// request is sent; an item it cannot add fails (nothing is sent for it).
func (r *run) joinUnconfirmed(ctx context.Context, chunk []*item) []*item {
	ids := make([]string, len(chunk))
	for i, it := range chunk {
		ids[i] = it.d.Order.ID
	}
	if err := r.c.unconfirmed.Add(ctx, ids, r.c.now()); err != nil {
		for _, it := range chunk {
			it.fail(&core.DeliveryError{Class: core.Retryable, Reason: "could not record the amoCRM create before sending it; will retry", Err: err})
		}
		return nil
	}
	for _, it := range chunk {
		if _, was := r.unconfirmed[it.d.Order.ID]; !was {
			it.added = true
		}
	}
	return chunk
}

// create adds the leads of orders that have none, with their contacts, 50
// a request. Each order joins the unconfirmed set before its request goes.
func (r *run) create(ctx context.Context) {
	todo := r.open(func(it *item) bool { return it.lead == nil })
	for _, chunk := range chunks(todo, MaxComplex) {
		if r.stop != nil {
			return
		}
		if chunk = r.joinUnconfirmed(ctx, chunk); chunk == nil {
			continue
		}
		err := r.sendRefusing(ctx, chunk, func(items []*item) error {
			bodies := make([]map[string]any, len(items))
			for i, it := range items {
				bodies[i] = complexBody(it)
			}
			res, err := r.c.client.AddComplex(ctx, bodies)
			if err != nil {
				return err
			}
			r.applyCreated(items, res)
			return nil
		}, func(it *item) { it.rejected = true })
		if err != nil {
			if definitelyRefused(err) {
				for _, it := range chunk {
					it.rejected = true
				}
			}
			r.failed(ctx, chunk, err)
		}
	}
}

// complexBody is an order's lead with its contact embedded.
func complexBody(it *item) map[string]any {
	body := leadBody(it)
	emb, _ := body["_embedded"].(map[string]any)
	if it.p.Contact != nil {
		if emb == nil {
			emb = map[string]any{}
		}
		emb["contacts"] = []any{it.p.Contact}
		body["_embedded"] = emb
	}
	return body
}

// leadBody is an order's new lead as the mapping renders it, with a copy
// of its _embedded and its request_id.
func leadBody(it *item) map[string]any {
	body := make(map[string]any, len(it.p.Entity)+1)
	for k, v := range it.p.Entity {
		body[k] = v
	}
	if e, ok := it.p.Entity["_embedded"].(map[string]any); ok {
		emb := make(map[string]any, len(e)+1)
		for k, v := range e {
			emb[k] = v
		}
		body["_embedded"] = emb
	}
	body["request_id"] = strconv.Itoa(it.idx)
	return body
}

func (r *run) applyCreated(items []*item, res []ComplexResult) {
	byReq := map[string]ComplexResult{}
	for _, cr := range res {
		for _, rid := range cr.RequestID {
			byReq[rid] = cr
		}
	}
	for i, it := range items {
		cr, ok := byReq[strconv.Itoa(it.idx)]
		if !ok && len(byReq) == 0 && i < len(res) {
			cr, ok = res[i], true // an answer without request_ids is in request order
		}
		if !ok || cr.ID == 0 {
			it.fail(&core.DeliveryError{Class: core.Retryable, Reason: "amoCRM did not return the new lead's id; it is looked up by order id on retry"})
			continue
		}
		if cr.Merged {
			// Duplicate control merged the new lead into one that existed:
			// cr.ID may be another order's lead (resolveMerges).
			it.merged = cr.ID
			if cr.ContactID != nil {
				it.mergedContact = *cr.ContactID
			}
			r.merges++
			continue
		}
		it.leadID, it.status, it.pipeline, it.tags = cr.ID, it.statusID, it.pipelineID, it.p.Tags
		it.written = true
		if cr.ContactID != nil {
			it.contactID = *cr.ContactID
		}
	}
}

// resolveMerges reads the leads duplicate control merged new orders into.
// A lead whose order-id field is the order's own (a create of the same
// order whose answer was lost) is the order's lead, and is updated. Any
// other is never linked: its order-id field is another order's or none,
// and writing the order there would mix two sales; the order gets a lead
// of its own (createOwn), and the delivery's notice tells the merge.
func (r *run) resolveMerges(ctx context.Context) {
	merged := r.open(func(it *item) bool { return it.merged > 0 && !it.written })
	for _, chunk := range chunks(merged, MaxEntities) {
		if r.stop != nil {
			return
		}
		var ids []int64
		for _, it := range chunk {
			if !slices.Contains(ids, it.merged) {
				ids = append(ids, it.merged)
			}
		}
		leads, err := r.c.client.LeadsByID(ctx, ids)
		if err != nil {
			r.failed(ctx, chunk, err)
			continue
		}
		r.answered()
		byID := make(map[int64]*Lead, len(leads))
		for i := range leads {
			byID[leads[i].ID] = &leads[i]
		}
		for _, it := range chunk {
			l := byID[it.merged]
			owner := ""
			if l != nil {
				owner = l.FieldText(it.orderField)
			}
			switch {
			case l != nil && owner == it.d.Order.ID:
				it.lead = l
			case owner != "":
				it.mergedInto = fmt.Sprintf("lead %d, order %s's", it.merged, owner)
			default:
				it.mergedInto = fmt.Sprintf("lead %d, which belongs to no order", it.merged)
			}
		}
	}
}

// createOwn gives each order whose new lead duplicate control merged into
// a lead not its own a lead of its own, with the customer's contact (the
// one the merge named), 250 a request through POST /api/v4/leads, which
// duplicate control does not touch.
func (r *run) createOwn(ctx context.Context) {
	todo := r.open(func(it *item) bool { return it.mergedInto != "" && !it.written })
	for _, chunk := range chunks(todo, MaxEntities) {
		if r.stop != nil {
			return
		}
		err := r.sendRefusing(ctx, chunk, func(items []*item) error {
			bodies := make([]map[string]any, len(items))
			for i, it := range items {
				bodies[i] = leadBody(it)
				if it.mergedContact > 0 {
					emb, _ := bodies[i]["_embedded"].(map[string]any)
					if emb == nil {
						emb = map[string]any{}
					}
					emb["contacts"] = []any{map[string]any{"id": it.mergedContact}}
					bodies[i]["_embedded"] = emb
				}
			}
			res, err := r.c.client.AddLeads(ctx, bodies)
			if err != nil {
				return err
			}
			byReq := map[string]int64{}
			for _, l := range res {
				byReq[l.RequestID] = l.ID
			}
			for _, it := range items {
				id := byReq[strconv.Itoa(it.idx)]
				if id == 0 {
					it.fail(&core.DeliveryError{Class: core.Retryable, Reason: "amoCRM did not return the new lead's id; it is looked up by order id on retry"})
					continue
				}
				it.leadID, it.status, it.pipeline, it.tags = id, it.statusID, it.pipelineID, it.p.Tags
				it.contactID, it.written = it.mergedContact, true
				it.stale = "amoCRM's duplicate control merged the order's new lead into " + it.mergedInto
			}
			return nil
		}, nil)
		if err != nil {
			r.failed(ctx, chunk, err)
		}
	}
}

// update writes the orders whose lead was found, 250 a request.
func (r *run) update(ctx context.Context) {
	todo := r.open(func(it *item) bool { return it.lead != nil && !it.written })
	for _, chunk := range chunks(todo, MaxEntities) {
		if r.stop != nil {
			return
		}
		err := r.sendRefusing(ctx, chunk, func(items []*item) error {
			bodies := make([]map[string]any, len(items))
			for i, it := range items {
				bodies[i] = r.updateBody(it)
			}
			res, err := r.c.client.UpdateLeads(ctx, bodies)
			if err != nil {
				return err
			}
			got := map[int64]bool{}
			for _, u := range res {
				got[u.ID] = true
			}
			for _, it := range items {
				if !got[it.lead.ID] {
					it.fail(&core.DeliveryError{Class: core.Retryable, Reason: fmt.Sprintf("amoCRM did not confirm the update of lead %d; will retry", it.lead.ID)})
					continue
				}
				it.written = true
			}
			return nil
		}, nil)
		if err != nil {
			r.failed(ctx, chunk, err)
		}
	}
}

// statusKey is the lead's status as the mapping's stage policy knows it: a
// status of another pipeline than the mapping's is one it does not know.
func statusKey(l *Lead, pipelineID int64) string {
	if pipelineID != 0 && l.PipelineID != pipelineID {
		return fmt.Sprintf("pipeline %d status %d", l.PipelineID, l.StatusID)
	}
	return strconv.FormatInt(l.StatusID, 10)
}

// updateBody is the PATCH item of an order whose lead was found. The status
// moves only forward (a manager's later status stays); the tags paysync set
// before are replaced, a manager's own are kept.
func (r *run) updateBody(it *item) map[string]any {
	l := it.lead
	body := make(map[string]any, len(it.p.Entity)+2)
	for k, v := range it.p.Entity {
		if k != "status_id" && k != "pipeline_id" && k != "_embedded" {
			body[k] = v
		}
	}
	body["id"] = l.ID
	body["request_id"] = strconv.Itoa(it.idx)
	it.leadID, it.status, it.pipeline = l.ID, l.StatusID, l.PipelineID
	if len(l.Embedded.Contacts) > 0 {
		it.contactID = l.Embedded.Contacts[0].ID
	} else if it.verified {
		it.contactID = it.link.ContactID
	}
	cur, next := statusKey(l, it.pipelineID), it.p.Stage
	if next != "" && next != cur && it.statusID != 0 && r.m.AllowStageMove(cur, next) {
		body["status_id"] = it.statusID
		it.status = it.statusID
		if it.pipelineID != 0 {
			body["pipeline_id"] = it.pipelineID
			it.pipeline = it.pipelineID
		}
	}
	if e, ok := it.p.Entity["_embedded"].(map[string]any); ok {
		emb := make(map[string]any, len(e))
		for k, v := range e {
			emb[k] = v
		}
		if _, hasTags := e["tags"]; hasTags {
			prev := []string(nil)
			if it.verified {
				prev = it.link.Tags
			}
			names := mergeTags(l.TagNames(), prev, it.p.Tags)
			tags := make([]any, len(names))
			for i, n := range names {
				tags[i] = map[string]any{"name": n}
			}
			emb["tags"] = tags
			it.tags = it.p.Tags
		}
		body["_embedded"] = emb
	}
	return body
}

// mergeTags keeps the lead's tags that paysync did not set (prev), then
// adds paysync's new ones.
func mergeTags(current, prev, next []string) []string {
	out := []string{}
	for _, t := range current {
		if !slices.Contains(prev, t) && !slices.Contains(next, t) && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	for _, t := range next {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// addNotes adds the notes of every written order, 250 a request. A note
// amoCRM refuses is dropped; a request that fails fails its orders, whose
// notes are then written on retry.
func (r *run) addNotes(ctx context.Context) {
	type pending struct {
		it   *item
		note NewNote
	}
	var all []pending
	for _, it := range r.items {
		if !it.open() || !it.written {
			continue
		}
		for j, text := range it.p.Notes {
			if strings.TrimSpace(text) == "" {
				continue
			}
			all = append(all, pending{it, NewNote{LeadID: it.leadID, Text: text, RequestID: strconv.Itoa(it.idx) + "." + strconv.Itoa(j)}})
		}
	}
	for _, chunk := range chunks(all, MaxEntities) {
		for len(chunk) > 0 {
			if r.stop != nil {
				return
			}
			notes := make([]NewNote, len(chunk))
			for i, p := range chunk {
				notes[i] = p.note
			}
			_, err := r.c.client.AddNotes(ctx, notes)
			bad := Validation(err)
			if err == nil {
				r.answered()
				for _, p := range chunk {
					p.it.notes--
				}
				break
			}
			keep := chunk[:0]
			for _, p := range chunk {
				if _, refused := bad[p.note.RequestID]; !refused {
					keep = append(keep, p)
				} else {
					p.it.notes-- // a note amoCRM refuses would be refused again
				}
			}
			if bad == nil || len(keep) == len(chunk) {
				// The request failed as a whole, or for refusals paysync
				// cannot place: its orders are written again on retry.
				var items []*item
				for _, p := range chunk {
					if !slices.Contains(items, p.it) {
						items = append(items, p.it)
					}
				}
				r.failed(ctx, items, err)
				break
			}
			r.answered()
			chunk = keep
		}
	}
}

// sendRefusing sends items with send; when amoCRM refuses some of them
// (400 validation-errors, which reject the whole request), those fail
// permanently, onRefused is called for them, and the rest is sent again.
func (r *run) sendRefusing(ctx context.Context, items []*item, send func([]*item) error, onRefused func(*item)) error {
	for len(items) > 0 {
		if r.stop != nil || ctx.Err() != nil {
			return r.stopError(ctx)
		}
		err := send(items)
		bad := Validation(err)
		if err == nil {
			r.answered()
			return nil
		}
		if bad == nil {
			return err
		}
		keep := items[:0:0]
		for _, it := range items {
			errs, refused := bad[strconv.Itoa(it.idx)]
			if !refused {
				keep = append(keep, it)
				continue
			}
			if onRefused != nil {
				onRefused(it)
			}
			it.fail(refusal(it, errs))
		}
		if len(keep) == len(items) {
			return err // refusals paysync cannot place: the request as a whole
		}
		r.answered()
		items = keep
	}
	return nil
}

// stopError is why a run that stopped sends nothing more.
func (r *run) stopError(ctx context.Context) error {
	if r.stop != nil {
		return r.stop
	}
	return Classify(ctx.Err())
}

// refusal is the permanent error of an order amoCRM refused, naming each
// refused field as the mapping knows it.
func refusal(it *item, errs []FieldError) error {
	var parts []string
	gone := false
	for _, fe := range errs {
		if fe.Path == "id" && fe.Code == "NotFound" {
			gone = true
		}
		parts = append(parts, fmt.Sprintf("%s%s: %s (%s)", fieldOf(it, fe.Path), fe.Path, fe.Code, fe.Detail))
	}
	if gone {
		return &core.DeliveryError{Class: core.Retryable,
			Reason: fmt.Sprintf("lead %d was deleted while paysync updated it; on retry the order's lead is searched again or created", it.lead.ID)}
	}
	return &core.DeliveryError{Class: core.Permanent, Reason: "amoCRM refused order " + it.d.Order.ID + ": " + strings.Join(parts, "; ") +
		": fix mapping/amocrm.yaml or the field in amoCRM (`paysync connectors check` lists the account's fields and their choices)"}
}

// fieldOf names the custom field a validation path points into ("lead
// field 1093771 at "), "" when the path is not a custom field's.
func fieldOf(it *item, path string) string {
	src, kind := it.p.Entity, "lead"
	if rest, ok := strings.CutPrefix(path, "_embedded.contacts.0."); ok {
		src, kind, path = it.p.Contact, "contact", rest
	}
	rest, ok := strings.CutPrefix(path, "custom_fields_values.")
	if !ok {
		return ""
	}
	n, err := strconv.Atoi(strings.SplitN(rest, ".", 2)[0])
	list, _ := src["custom_fields_values"].([]any)
	if err != nil || n < 0 || n >= len(list) {
		return ""
	}
	f, _ := list[n].(map[string]any)
	if id, ok := intOf(f["field_id"]); ok {
		return fmt.Sprintf("%s field %d at ", kind, id)
	}
	if code, ok := f["field_code"].(string); ok {
		return fmt.Sprintf("%s field %s at ", kind, code)
	}
	return ""
}

// definitelyRefused reports whether a failed request is known not to have
// been carried out: amoCRM answered, refusing it.
func definitelyRefused(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500
}

// settleUnconfirmed removes from the unconfirmed set the orders whose link
// verified and those whose create this delivery added and amoCRM refused.
func (r *run) settleUnconfirmed(ctx context.Context) {
	var drop []string
	for _, it := range r.items {
		_, in := r.unconfirmed[it.d.Order.ID]
		if (it.verified && in) || (it.added && it.rejected) {
			drop = append(drop, it.d.Order.ID)
		}
	}
	if len(drop) == 0 {
		return
	}
	// A failure here leaves the orders searched once more before a
	// create: it costs a request, never a duplicate.
	_ = r.c.unconfirmed.Remove(ctx, drop)
}

func chunks[T any](s []T, size int) [][]T {
	var out [][]T
	for len(s) > 0 {
		n := min(size, len(s))
		out = append(out, s[:n:n])
		s = s[n:]
	}
	return out
}
