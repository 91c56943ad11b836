package bitrix24

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"

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

// DefaultOriginatorID marks paysync's deals: ORIGINATOR_ID + ORIGIN_ID (the
// order id) find a deal again when the answer to its crm.deal.add was lost.
const DefaultOriginatorID = "paysync"

// DefaultMaxBatch keeps both requests of a delivery within one 50-command
// batch: the lookup takes 2 lists plus up to 2 duplicate searches per order,
// the write up to a contact, a deal and a timeline comment per order.
const DefaultMaxBatch = 16

// ConnectorConfig configures a Connector. Set Mapping, or Mappings for a
// mapping that reloads (read once per batch).
type ConnectorConfig struct {
	Client       *Client
	Mapping      Renderer
	Mappings     Mappings
	OriginatorID string // default "paysync"
	MaxBatch     int    // default 16, at most 16
}

// Connector writes orders into Bitrix24 deals with their contacts. One
// delivery costs two requests whatever the batch size: a lookup batch (the
// deals by link and by ORIGIN_ID, duplicate contacts by phone and e-mail) and
// a write batch (contacts, deals, timeline comments).
type Connector struct {
	client     *Client
	mapping    Renderer
	mappings   Mappings
	originator string
	maxBatch   int
}

var _ core.Connector = (*Connector)(nil)

// NewConnector returns a Connector.
func NewConnector(cfg ConnectorConfig) (*Connector, error) {
	if cfg.Client == nil || (cfg.Mapping == nil && cfg.Mappings == nil) {
		return nil, core.Errorf(core.EINVALID, "bitrix24: the connector needs a client and a mapping")
	}
	c := &Connector{client: cfg.Client, mapping: cfg.Mapping, mappings: cfg.Mappings,
		originator: cfg.OriginatorID, maxBatch: cfg.MaxBatch}
	if c.originator == "" {
		c.originator = DefaultOriginatorID
	}
	if c.maxBatch <= 0 || c.maxBatch > DefaultMaxBatch {
		c.maxBatch = DefaultMaxBatch
	}
	return c, nil
}

func (c *Connector) Name() string  { return Name }
func (c *Connector) MaxBatch() int { return c.maxBatch }

// LinkData is what the connector keeps with a link (core.CRMLink.Data).
type LinkData struct {
	ContactID int    `json:"contact_id,omitempty"`
	Stage     string `json:"stage,omitempty"` // the stage paysync last set or saw
}

// item is one delivery on its way through Deliver.
type item struct {
	d       core.Delivery
	p       mapping.Payload
	link    LinkData
	linkID  int // deal id from the link, 0 when none
	phone   string
	email   string
	err     error
	dupOf   *item // another item of the same order that does the work
	dealID  int   // existing deal, 0 to create
	stage   string
	hasCont bool   // the existing deal has a contact
	contact int    // known contact id
	cref    string // "$result[cN]" of a contact created in this batch
	ckey    string // the key of that contact command, for its id afterwards
	newStg  string // the stage this delivery sets, "" when it keeps the deal's
}

// Deliver brings every order of the batch in step with its deal. It returns
// one result per delivery, in order; one order's failure leaves the others.
func (c *Connector) Deliver(ctx context.Context, batch []core.Delivery) []core.DeliveryResult {
	out := make([]core.DeliveryResult, len(batch))
	if len(batch) == 0 {
		return out
	}
	if len(batch) > c.maxBatch {
		for i := range out {
			out[i].Err = &core.DeliveryError{Class: core.Retryable, Reason: "batch larger than the Bitrix24 connector's MaxBatch; it is split on retry"}
		}
		return out
	}
	m := c.mapping
	if c.mappings != nil {
		if live := c.mappings.Get(Name); live != nil {
			m = live
		}
	}
	if m == nil {
		for i := range out {
			out[i].Err = &core.DeliveryError{Class: core.Paused, Reason: "no bitrix24 mapping is loaded: check mapping/bitrix24.yaml with `paysync config check`"}
		}
		return out
	}
	items := c.prepare(m, batch)
	if err := c.lookup(ctx, items); err != nil {
		for i := range out {
			out[i].Err = err
		}
		return out
	}
	if err := c.write(ctx, m, items); err != nil {
		for _, it := range items {
			if it.err == nil {
				it.err = err
			}
		}
	}
	for i, it := range items {
		if it.dupOf != nil {
			it = it.dupOf
		}
		if it.err != nil {
			out[i].Err = it.err
			continue
		}
		ld, _ := json.Marshal(it.link)
		out[i] = core.DeliveryResult{ExternalID: strconv.Itoa(it.dealID), LinkData: string(ld)}
	}
	return out
}

// prepare renders every order; a later version of the same order does the work.
func (c *Connector) prepare(m Renderer, batch []core.Delivery) []*item {
	items := make([]*item, len(batch))
	byOrder := map[string]*item{}
	for i, d := range batch {
		it := &item{d: d}
		items[i] = it
		if prev := byOrder[d.Order.ID]; prev != nil {
			if prev.d.Order.Version >= d.Order.Version {
				it.dupOf = prev
				continue
			}
			prev.dupOf = it
		}
		byOrder[d.Order.ID] = it
	}
	for _, it := range items {
		if it.dupOf != nil {
			continue
		}
		p, err := m.Render(mapping.Input{Order: it.d.Order, Transitions: it.d.Transitions})
		if err != nil {
			it.err = &core.DeliveryError{Class: core.Permanent, Reason: "the bitrix24 mapping cannot render order " + it.d.Order.ID + ": " + err.Error()}
			continue
		}
		it.p = p
		if l := it.d.Link; l != nil {
			it.linkID, _ = strconv.Atoi(l.ExternalID)
			if l.Data != "" {
				_ = json.Unmarshal([]byte(l.Data), &it.link)
			}
		}
		it.phone, it.email = firstValue(p.Contact["PHONE"]), firstValue(p.Contact["EMAIL"])
	}
	// Chains of duplicates point at the item that does the work.
	for _, it := range items {
		for it.dupOf != nil && it.dupOf.dupOf != nil {
			it.dupOf = it.dupOf.dupOf
		}
	}
	return items
}

// firstValue reads VALUE of the first entry of a Bitrix24 multi-field.
func firstValue(v any) string {
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		if ml, ok := v.([]map[string]any); ok && len(ml) > 0 {
			s, _ := ml[0]["VALUE"].(string)
			return s
		}
		return ""
	}
	e, _ := list[0].(map[string]any)
	s, _ := e["VALUE"].(string)
	return s
}

func (c *Connector) active(items []*item) []*item {
	var out []*item
	for _, it := range items {
		if it.dupOf == nil && it.err == nil {
			out = append(out, it)
		}
	}
	return out
}

type dealRow struct {
	ID        string  `json:"ID"`
	StageID   string  `json:"STAGE_ID"`
	OriginID  string  `json:"ORIGIN_ID"`
	ContactID *string `json:"CONTACT_ID"`
}

// lookup finds each order's deal (by link, then by ORIGIN_ID, so that a deal
// whose crm.deal.add answer was lost is found, not duplicated) and each new
// contact's duplicates. An error fails the whole batch.
func (c *Connector) lookup(ctx context.Context, items []*item) error {
	work := c.active(items)
	if len(work) == 0 {
		return nil
	}
	sel := []string{"ID", "STAGE_ID", "ORIGIN_ID", "CONTACT_ID"}
	var origins []string
	var linked []int
	for _, it := range work {
		origins = append(origins, it.d.Order.ID)
		if it.linkID > 0 {
			linked = append(linked, it.linkID)
		}
	}
	cmds := []Command{{Key: "origin", Method: "crm.deal.list", Params: map[string]any{
		"filter": map[string]any{"=ORIGINATOR_ID": c.originator, "@ORIGIN_ID": origins},
		"select": sel, "order": map[string]string{"ID": "ASC"},
	}}}
	if len(linked) > 0 {
		cmds = append(cmds, Command{Key: "linked", Method: "crm.deal.list", Params: map[string]any{
			"filter": map[string]any{"@ID": linked}, "select": sel,
		}})
	}
	searches := map[string]string{} // "PHONE:+374…" -> command key
	for _, it := range work {
		if it.link.ContactID > 0 || it.p.Contact == nil {
			continue
		}
		for _, s := range []struct{ typ, val string }{{"PHONE", it.phone}, {"EMAIL", it.email}} {
			id := s.typ + ":" + s.val
			if s.val == "" || searches[id] != "" {
				continue
			}
			key := "f" + strconv.Itoa(len(searches))
			searches[id] = key
			cmds = append(cmds, Command{Key: key, Method: "crm.duplicate.findbycomm", Params: map[string]any{
				"entity_type": "CONTACT", "type": s.typ, "values": []string{s.val},
			}})
		}
	}
	res, err := c.client.Batch(ctx, cmds, false)
	if err != nil {
		return err
	}
	byKey := map[string]Result{}
	for _, r := range res {
		byKey[r.Key] = r
	}
	if r := byKey["origin"]; r.Err != nil {
		return r.Err
	}
	deals := map[string]dealRow{} // by ORIGIN_ID, the oldest deal
	byID := map[int]dealRow{}
	var rows []dealRow
	_ = json.Unmarshal(byKey["origin"].Result, &rows)
	for _, r := range rows {
		if _, ok := deals[r.OriginID]; !ok {
			deals[r.OriginID] = r
		}
	}
	linkedErr := error(nil)
	if r, ok := byKey["linked"]; ok {
		if r.Err != nil {
			linkedErr = r.Err
		}
		rows = nil
		_ = json.Unmarshal(r.Result, &rows)
		for _, r := range rows {
			id, _ := strconv.Atoi(r.ID)
			byID[id] = r
		}
	}
	for _, it := range work {
		row, found := byID[it.linkID]
		if it.linkID > 0 && !found && linkedErr != nil {
			it.err = linkedErr
			continue
		}
		if !found {
			// No link, or the linked deal is gone (a manager deleted it):
			// a deal of this order found by ORIGIN_ID, else a new one.
			row, found = deals[it.d.Order.ID]
		}
		if found {
			it.dealID, _ = strconv.Atoi(row.ID)
			it.stage = row.StageID
			if it.dealID != it.linkID {
				it.link.ContactID = 0 // the link's contact belonged to another deal
			}
			if row.ContactID != nil {
				if id, _ := strconv.Atoi(*row.ContactID); id > 0 {
					it.hasCont, it.link.ContactID = true, id
				}
			}
		}
		if it.link.ContactID > 0 {
			it.contact = it.link.ContactID
			continue
		}
		for _, s := range []struct{ typ, val string }{{"PHONE", it.phone}, {"EMAIL", it.email}} {
			key := searches[s.typ+":"+s.val]
			if s.val == "" || key == "" {
				continue
			}
			r := byKey[key]
			if r.Err != nil {
				it.err = r.Err
				break
			}
			if id := firstContact(r.Result); id > 0 {
				it.contact = id
				break
			}
		}
	}
	return nil
}

// firstContact reads {"CONTACT":[275,…]} (or [] for none).
func firstContact(raw json.RawMessage) int {
	m, err := phpMap(raw)
	if err != nil {
		return 0
	}
	var ids []json.Number
	if json.Unmarshal(m["CONTACT"], &ids) != nil || len(ids) == 0 {
		return 0
	}
	n, _ := ids[0].Int64()
	return int(n)
}

// write sends the contacts, deals and comments in one batch and records the
// outcome on each item. The returned error is for the request as a whole.
func (c *Connector) write(ctx context.Context, m Renderer, items []*item) error {
	work := c.active(items)
	if len(work) == 0 {
		return nil
	}
	var cmds []Command
	contactKeys := map[string]string{} // phone or e-mail -> contact command key
	for i, it := range work {
		// The contact: known, created earlier in this batch for the same
		// customer, or created now. An existing deal keeps its own contact.
		needContact := it.contact == 0 && it.p.Contact != nil && !(it.dealID > 0 && it.hasCont)
		if needContact {
			for _, v := range []string{it.phone, it.email} {
				if k := contactKeys[v]; v != "" && k != "" {
					it.cref, it.ckey = "$result["+k+"]", k
					break
				}
			}
			if it.cref == "" {
				key := "c" + strconv.Itoa(i)
				cmds = append(cmds, Command{Key: key, Method: "crm.contact.add", Params: map[string]any{"fields": it.p.Contact}})
				it.cref, it.ckey = "$result["+key+"]", key
				for _, v := range []string{it.phone, it.email} {
					if v != "" {
						contactKeys[v] = key
					}
				}
			}
		}
		fields := make(map[string]any, len(it.p.Entity)+4)
		for k, v := range it.p.Entity {
			fields[k] = v
		}
		delete(fields, "STAGE_ID")
		dealKey := "d" + strconv.Itoa(i)
		if it.dealID == 0 {
			fields["ORIGINATOR_ID"], fields["ORIGIN_ID"] = c.originator, it.d.Order.ID
			if it.p.Stage != "" {
				fields["STAGE_ID"], it.newStg = it.p.Stage, it.p.Stage
			}
			if ref := contactRef(it); ref != "" {
				fields["CONTACT_IDS"] = []string{ref}
			}
			cmds = append(cmds, Command{Key: dealKey, Method: "crm.deal.add", Params: map[string]any{
				"fields": fields, "params": map[string]string{"REGISTER_SONET_EVENT": "N"}}})
		} else {
			delete(fields, "CATEGORY_ID") // fixed at creation
			// Forward only: a manager's later stage is never pulled back.
			if it.p.Stage != "" && it.p.Stage != it.stage && m.AllowStageMove(it.stage, it.p.Stage) {
				fields["STAGE_ID"], it.newStg = it.p.Stage, it.p.Stage
			}
			if ref := contactRef(it); ref != "" && !it.hasCont {
				fields["CONTACT_IDS"] = []string{ref}
			}
			cmds = append(cmds, Command{Key: dealKey, Method: "crm.deal.update", Params: map[string]any{
				"id": it.dealID, "fields": fields, "params": map[string]string{"REGISTER_SONET_EVENT": "N"}}})
		}
		if len(it.p.Notes) > 0 {
			target := any(it.dealID)
			if it.dealID == 0 {
				target = "$result[" + dealKey + "]"
			}
			cmds = append(cmds, Command{Key: "n" + strconv.Itoa(i), Method: "crm.timeline.comment.add", Params: map[string]any{
				"fields": map[string]any{"ENTITY_ID": target, "ENTITY_TYPE": "deal", "COMMENT": strings.Join(it.p.Notes, "\n")}}})
		}
	}
	res, err := c.client.Batch(ctx, cmds, false)
	if err != nil {
		return err
	}
	byKey := map[string]Result{}
	for _, r := range res {
		byKey[r.Key] = r
	}
	for i, it := range work {
		r := byKey["d"+strconv.Itoa(i)]
		if r.Err != nil {
			it.err = r.Err
			if IsNotFound(r.Err) {
				it.err = &core.DeliveryError{Class: core.Retryable, Err: r.Err,
					Reason: "the Bitrix24 deal was deleted while paysync updated it; a new one is made on retry"}
			}
			continue
		}
		if it.dealID == 0 {
			var id json.Number
			if json.Unmarshal(r.Result, &id) != nil {
				it.err = &core.DeliveryError{Class: core.Retryable, Reason: "Bitrix24 did not return the new deal's id; it is looked up on retry"}
				continue
			}
			n, _ := id.Int64()
			it.dealID = int(n)
		}
		it.link.Stage = it.stage
		if it.newStg != "" {
			it.link.Stage = it.newStg
		}
		switch {
		case it.contact > 0:
			it.link.ContactID = it.contact
		case it.ckey != "":
			var id json.Number
			if cr := byKey[it.ckey]; cr.Err == nil && json.Unmarshal(cr.Result, &id) == nil {
				n, _ := id.Int64()
				it.link.ContactID = int(n)
			}
		}
	}
	return nil
}

func contactRef(it *item) string {
	if it.contact > 0 {
		return strconv.Itoa(it.contact)
	}
	return it.cref
}
