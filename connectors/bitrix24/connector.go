package bitrix24

import (
	"context"
	"encoding/json"
	"strconv"
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

// DefaultOriginatorID marks paysync's deals: ORIGINATOR_ID + ORIGIN_ID (the
// order id) find a deal again when the answer to its crm.deal.add was lost.
const DefaultOriginatorID = "paysync"

// DefaultMaxBatch is the most orders one delivery takes. A delivery is
// written in rounds of batch requests of up to 50 commands (see Deliver);
// its first round can only look up and its last is rarely full, so larger
// deliveries waste less of the portal's 2 requests per second (500 rather
// than 250 orders: a backlog of stage moves syncs at 96 % instead of 92 % of
// the ceiling). 500 orders take 11 to 33 requests (1 to 3 write commands per
// order), 5.5 to 16.5 seconds at that rate, inside the dispatcher's
// DeliverTimeout (30 s by default); a delivery that runs out of time returns
// what it wrote and retries the rest.
const DefaultMaxBatch = 500

// ConnectorConfig configures a Connector. Set Mapping, or Mappings for a
// mapping that reloads (read once per batch).
type ConnectorConfig struct {
	Client       *Client
	Mapping      Renderer
	Mappings     Mappings
	OriginatorID string // default "paysync"
	MaxBatch     int    // default 500, at most 500
}

// Connector writes orders into Bitrix24 deals with their contacts. A
// delivery is a pipeline of batch requests: each request carries the writes
// of orders looked up by an earlier one and the lookups of the orders that
// come next, so that almost every one of its 50 command slots writes.
type Connector struct {
	client     *Client
	mapping    Renderer
	mappings   Mappings
	originator string
	maxBatch   int
}

var (
	_ core.Connector = (*Connector)(nil)
	_ core.Pacer     = (*Connector)(nil)
)

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

// Pace tells the dispatcher to let a stream of payments gather as the
// portal's bucket fills (see budget.pace).
func (c *Connector) Pace() time.Duration { return c.client.budget.pace(c.client.now()) }

// LinkData is what the connector keeps with a link (core.CRMLink.Data).
type LinkData struct {
	ContactID int    `json:"contact_id,omitempty"`
	Stage     string `json:"stage,omitempty"` // the stage paysync last set or saw
}

// item is one delivery on its way through Deliver.
type item struct {
	d      core.Delivery
	idx    int // position in the batch; names its write commands c12, d12, n12
	p      mapping.Payload
	link   LinkData
	linkID int // deal id from the link, 0 when none
	phone  string
	email  string
	err    error
	dupOf  *item // another item of the same order that does the work

	// The pipeline (pipeline.go).
	state    itemState
	est      int        // write commands it is expected to take
	waiting  int        // lookups it still waits for
	byOrigin bool       // look the deal up by ORIGIN_ID although linked: the linked deal is not this order's
	fate     string     // why the linked deal was not used, for the notice
	retried  bool       // looked up again once after its deal was not found
	row      *dealRow   // the deal found, nil for none
	searches [2]*search // the contact searches by PHONE and EMAIL, nil when not searched

	// The write.
	dealID  int // existing deal, 0 to create
	stage   string
	hasCont bool   // the existing deal has a contact
	contact int    // known contact id
	cref    string // "$result[cN]" of a contact created in the same request
	ckey    string // the key of that contact command, for its id afterwards
	newStg  string // the stage this delivery sets, "" when it keeps the deal's
}

// Deliver brings every order of the batch in step with its deal. It returns
// one result per delivery, in order; one order's failure leaves the others.
//
// The work goes out in rounds of one batch request of at most 50 commands.
// Lookups come first: the linked deals by id (their ORIGINATOR_ID and
// ORIGIN_ID, to check that the deal is still this order's, and their current
// STAGE_ID for the forward-only policy), the other orders' deals by
// ORIGINATOR_ID+ORIGIN_ID (an earlier attempt may have created one and lost
// the answer), and the contacts of customers without a known contact by
// phone and e-mail, all consolidated (50 ids per list, 20 values per
// duplicate search). A linked deal that is another order's, nobody's or gone
// is never written: the order's own deal is looked up by ORIGIN_ID or
// created, and the result's Notice says so. An order is written in a later
// round than its lookup: its contact, deal and timeline comment in the same
// request, the deal referring to a new contact as $result[cN]. Every round
// fills its free slots with the next orders' lookups, so after the first
// round nearly every command writes.
func (c *Connector) Deliver(ctx context.Context, batch []core.Delivery) []core.DeliveryResult {
	out := make([]core.DeliveryResult, len(batch))
	if len(batch) == 0 {
		return out
	}
	if len(batch) > c.maxBatch {
		return connectors.Refuse(len(batch), connectors.ErrBatchTooLarge("Bitrix24"))
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
	c.run(ctx, m, items)
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
		if it.linkID > 0 && it.dealID != it.linkID {
			out[i].Notice = it.fate + "; wrote deal " + strconv.Itoa(it.dealID) + " instead"
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
		if l := it.d.Link; l != nil {
			it.linkID, _ = strconv.Atoi(l.ExternalID)
			if l.Data != "" {
				_ = json.Unmarshal([]byte(l.Data), &it.link)
			}
		}
		it.phone, it.email = firstValue(p.Contact["PHONE"]), firstValue(p.Contact["EMAIL"])
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

type dealRow struct {
	ID           string  `json:"ID"`
	StageID      string  `json:"STAGE_ID"`
	OriginatorID string  `json:"ORIGINATOR_ID"`
	OriginID     string  `json:"ORIGIN_ID"`
	ContactID    *string `json:"CONTACT_ID"`
}

func contactRef(it *item) string {
	if it.contact > 0 {
		return strconv.Itoa(it.contact)
	}
	return it.cref
}
