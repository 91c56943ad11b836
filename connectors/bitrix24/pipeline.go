package bitrix24

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/paysync/paysync/core"
)

// The pipeline of one Deliver call. Each round is one batch request: the
// writes of orders whose lookups are done, then lookups (follow-ups of
// earlier lookups, and the first lookups of the next orders). Commands of a
// batch run in order, and an order's lookups and writes are never in the
// same request, so a lookup sharing a request with other orders' writes
// cannot see a half-written order of its own.

type itemState uint8

const (
	stNew     itemState = iota // no lookup started
	stLooking                  // lookups sent or queued
	stReady                    // looked up; to be written
	stWriting                  // its write is in the current request
	stDone                     // written, or failed
)

const (
	listIDs    = 50 // ids per crm.*.list filter: one page of rows
	findValues = 20 // values per crm.duplicate.findbycomm
	// findCap is the most ids crm.duplicate.findbycomm returns per entity
	// type: an answer of findCap contacts may have cut some off.
	findCap     = 20
	startBlock  = 50              // orders whose lookups start together
	roundMargin = 2 * time.Second // no round starts this close to the deadline
)

var dealSelect = []string{"ID", "STAGE_ID", "ORIGINATOR_ID", "ORIGIN_ID", "CONTACT_ID"}

// search is one crm.duplicate.findbycomm value, shared by every order of
// the delivery whose customer has it.
type search struct {
	typ   string // PHONE or EMAIL
	value string // as the mapping renders it
	norm  string // as the portal compares it
	done  bool
	id    int   // the first contact with the value, 0 for none
	err   error // the search failed
	items []*item
}

type lookupKind uint8

const (
	lookupByID     lookupKind = iota // crm.deal.list by @ID: linked deals
	lookupByOrigin                   // crm.deal.list by ORIGINATOR_ID and @ORIGIN_ID
	lookupFind                       // crm.duplicate.findbycomm, one type, ≤20 values
	lookupResolve                    // crm.contact.list by @ID: which value each found contact has
)

// lookup is one lookup command and what waits for it.
type lookup struct {
	key      string // its command's key in the current request
	kind     lookupKind
	items    []*item   // deal lookups
	searches []*search // contact lookups, all of one type
	ids      []int     // lookupResolve: the contacts findbycomm returned, in its order
	// cut: findbycomm returned findCap contacts, so others may have been
	// cut off; a value none of the returned contacts has is searched alone.
	cut bool
}

type pipeline struct {
	c        *Connector
	m        Renderer
	items    []*item // the items that do work, in batch order
	toStart  []*item // items in stNew, in batch order
	follow   []*lookup
	origin   []*item // items to look up by ORIGIN_ID in the next round
	restart  []*item // items whose link failed its check: to start again
	searches map[string]*search
	// known holds the contacts this delivery created, by search key; round
	// the contact commands of the current request.
	known map[string]int
	round map[string]string
	seq   int
}

// run writes the items in rounds until each is done.
func (c *Connector) run(ctx context.Context, m Renderer, all []*item) {
	pl := &pipeline{c: c, m: m, searches: map[string]*search{}, known: map[string]int{}}
	for _, it := range all {
		if it.dupOf != nil || it.err != nil {
			continue
		}
		pl.items = append(pl.items, it)
		pl.estimate(it)
		pl.toStart = append(pl.toStart, it)
	}
	for round := 0; pl.open(); round++ {
		if err := ctx.Err(); err != nil {
			pl.failOpen(Classify(err))
			return
		}
		if dl, ok := ctx.Deadline(); ok && round > 0 && time.Until(dl) < c.client.nextSlot()+roundMargin {
			pl.failOpen(&core.DeliveryError{Class: core.Retryable,
				Reason: "not sent to Bitrix24: the delivery ran out of time before this order's turn; it is retried"})
			return
		}
		cmds, writes, lookups := pl.plan()
		if len(cmds) == 0 {
			pl.failOpen(&core.DeliveryError{Class: core.Retryable, Reason: "the Bitrix24 connector stalled on this batch (a bug in paysync); it is retried"})
			return
		}
		res, err := c.client.Batch(ctx, cmds, false)
		if err != nil {
			// Nothing of this request is known to have happened; writes
			// that did land are found by the lookups of the retry.
			pl.failOpen(err)
			return
		}
		byKey := make(map[string]Result, len(res))
		for _, r := range res {
			byKey[r.Key] = r
		}
		pl.applyWrites(writes, byKey)
		for _, l := range lookups {
			pl.apply(l, byKey[l.key])
		}
		pl.flushOrigin()
	}
}

// estimate sets the write commands it is expected to take.
func (pl *pipeline) estimate(it *item) {
	it.est = 1 + min(len(it.p.Notes), 1)
	if pl.needsSearch(it) {
		it.est++
	}
}

// needsSearch reports whether it's customer is looked up by phone and e-mail.
func (pl *pipeline) needsSearch(it *item) bool {
	return it.p.Contact != nil && it.link.ContactID == 0
}

func (pl *pipeline) open() bool {
	for _, it := range pl.items {
		if it.state != stDone {
			return true
		}
	}
	return false
}

func (pl *pipeline) failOpen(err error) {
	for _, it := range pl.items {
		pl.fail(it, err)
	}
}

func (pl *pipeline) fail(it *item, err error) {
	if it.state != stDone {
		it.err, it.state = err, stDone
	}
}

// outstanding is the write commands expected of items being looked up or ready.
func (pl *pipeline) outstanding() int {
	n := 0
	for _, it := range pl.items {
		if it.state == stLooking || it.state == stReady {
			n += it.est
		}
	}
	return n
}

// plan fills one request: follow-up lookups, the next orders' lookups (enough
// to keep the next round full of writes), writes of ready orders (first fit,
// in batch order), and with any room left, lookups further ahead.
func (pl *pipeline) plan() (cmds []Command, writes []*item, lookups []*lookup) {
	const capacity = MaxBatch
	var lcmds []Command
	add := func(l *lookup) {
		l.key = "l" + strconv.Itoa(pl.seq)
		pl.seq++
		lookups = append(lookups, l)
		lcmds = append(lcmds, pl.command(l))
	}
	n := min(len(pl.follow), capacity)
	for _, l := range pl.follow[:n] {
		add(l)
	}
	pl.follow = pl.follow[n:]

	// Keep two rounds of writes in the pipe.
	starting := 0
	for ahead := pl.outstanding(); ahead < 2*capacity && starting < len(pl.toStart); {
		end := min(starting+startBlock, len(pl.toStart))
		if len(lcmds)+pl.startCost(pl.toStart[:end], true) > capacity {
			break
		}
		for _, it := range pl.toStart[starting:end] {
			ahead += it.est
		}
		starting = end
	}
	room := capacity - len(lcmds) - pl.startCost(pl.toStart[:starting], true)

	var wcmds []Command
	pl.round = map[string]string{}
	for _, it := range pl.items {
		if it.state != stReady {
			continue
		}
		if len(wcmds)+pl.writeSize(it) > room {
			continue
		}
		wcmds = append(wcmds, pl.writeCmds(it)...)
		it.state = stWriting
		writes = append(writes, it)
		if len(wcmds) == room {
			break
		}
	}

	// Room left: look further ahead.
	for starting < len(pl.toStart) {
		end := min(starting+startBlock, len(pl.toStart))
		if len(wcmds)+len(lcmds)+pl.startCost(pl.toStart[:end], true) > capacity {
			break
		}
		starting = end
	}
	// One search per value when that fits: no second round to tell which
	// of a group's values a found contact has.
	grouped := len(wcmds)+len(lcmds)+pl.startCost(pl.toStart[:starting], false) > capacity
	for _, l := range pl.start(pl.toStart[:starting], grouped) {
		add(l)
	}
	pl.toStart = pl.toStart[starting:]
	return append(wcmds, lcmds...), writes, lookups
}

// searchKeys are it's contact searches: type, value and key ("PHONE:37491…").
func searchKeys(it *item) (out [2]struct{ typ, value, norm, key string }) {
	for i, s := range []struct{ typ, value string }{{"PHONE", it.phone}, {"EMAIL", it.email}} {
		n := normalize(s.typ, s.value)
		if n == "" {
			continue
		}
		out[i].typ, out[i].value, out[i].norm, out[i].key = s.typ, s.value, n, s.typ+":"+n
	}
	return out
}

// normalize is how the portal compares communications: phones by their
// digits, e-mails case-insensitively.
func normalize(typ, v string) string {
	if typ == "PHONE" {
		var b strings.Builder
		for _, r := range v {
			if r >= '0' && r <= '9' {
				b.WriteRune(r)
			}
		}
		return b.String()
	}
	return strings.ToLower(strings.TrimSpace(v))
}

func groups(n, size int) int { return (n + size - 1) / size }

// startCost counts the lookup commands that starting items would take.
func (pl *pipeline) startCost(items []*item, grouped bool) int {
	var byID, byOrigin int
	values := map[string]bool{}
	var phones, emails int
	for _, it := range items {
		if it.linkID > 0 && !it.byOrigin {
			byID++
		} else {
			byOrigin++
		}
		if !pl.needsSearch(it) {
			continue
		}
		for _, k := range searchKeys(it) {
			if k.key == "" || pl.searches[k.key] != nil || values[k.key] {
				continue
			}
			values[k.key] = true
			if k.typ == "PHONE" {
				phones++
			} else {
				emails++
			}
		}
	}
	size := 1
	if grouped {
		size = findValues
	}
	return groups(byID, listIDs) + groups(byOrigin, listIDs) + groups(phones, size) + groups(emails, size)
}

// start begins the lookups of items.
func (pl *pipeline) start(items []*item, grouped bool) []*lookup {
	var byID, byOrigin []*item
	fresh := map[string][]*search{}
	for _, it := range items {
		it.state, it.waiting = stLooking, 1
		if it.linkID > 0 && !it.byOrigin {
			byID = append(byID, it)
		} else {
			byOrigin = append(byOrigin, it)
		}
		if !pl.needsSearch(it) {
			continue
		}
		for i, k := range searchKeys(it) {
			if k.key == "" {
				continue
			}
			s := pl.searches[k.key]
			if s == nil {
				s = &search{typ: k.typ, value: k.value, norm: k.norm}
				pl.searches[k.key] = s
				fresh[k.typ] = append(fresh[k.typ], s)
			}
			it.searches[i] = s
			if !s.done {
				s.items = append(s.items, it)
				it.waiting++
			}
		}
	}
	var out []*lookup
	for _, c := range chunks(byID, listIDs) {
		out = append(out, &lookup{kind: lookupByID, items: c})
	}
	for _, c := range chunks(byOrigin, listIDs) {
		out = append(out, &lookup{kind: lookupByOrigin, items: c})
	}
	size := 1
	if grouped {
		size = findValues
	}
	for _, typ := range []string{"PHONE", "EMAIL"} {
		for _, c := range chunks(fresh[typ], size) {
			out = append(out, &lookup{kind: lookupFind, searches: c})
		}
	}
	return out
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

// flushOrigin turns the items queued for a lookup by ORIGIN_ID into
// follow-ups, and puts the unlinked items first in line to start again.
func (pl *pipeline) flushOrigin() {
	for _, c := range chunks(pl.origin, listIDs) {
		pl.follow = append(pl.follow, &lookup{kind: lookupByOrigin, items: c})
	}
	pl.origin = nil
	if len(pl.restart) > 0 {
		pl.toStart = append(pl.restart, pl.toStart...)
		pl.restart = nil
	}
}

func (pl *pipeline) command(l *lookup) Command {
	key := l.key
	switch l.kind {
	case lookupByID:
		ids := make([]int, len(l.items))
		for i, it := range l.items {
			ids[i] = it.linkID
		}
		// start=-1: no total. Counting costs the portal (and the method's
		// operating-time budget) a pass over every deal.
		return Command{Key: key, Method: "crm.deal.list", Params: map[string]any{
			"filter": map[string]any{"@ID": ids}, "select": dealSelect, "order": map[string]string{"ID": "ASC"}, "start": -1}}
	case lookupByOrigin:
		origins := make([]string, len(l.items))
		for i, it := range l.items {
			origins[i] = it.d.Order.ID
		}
		return Command{Key: key, Method: "crm.deal.list", Params: map[string]any{
			"filter": map[string]any{"=ORIGINATOR_ID": pl.c.originator, "@ORIGIN_ID": origins},
			"select": dealSelect, "order": map[string]string{"ID": "ASC"}, "start": -1}}
	case lookupFind:
		values := make([]string, len(l.searches))
		for i, s := range l.searches {
			values[i] = s.value
		}
		return Command{Key: key, Method: "crm.duplicate.findbycomm", Params: map[string]any{
			"entity_type": "CONTACT", "type": l.searches[0].typ, "values": values}}
	default: // lookupResolve
		return Command{Key: key, Method: "crm.contact.list", Params: map[string]any{
			"filter": map[string]any{"@ID": l.ids}, "select": []string{"ID", l.searches[0].typ}, "order": map[string]string{"ID": "ASC"}, "start": -1}}
	}
}

// apply takes in the answer to one lookup.
func (pl *pipeline) apply(l *lookup, r Result) {
	switch l.kind {
	case lookupByID, lookupByOrigin:
		pl.applyDeals(l, r)
	case lookupFind:
		pl.applyFind(l, r)
	default:
		pl.applyResolve(l, r)
	}
}

// permanent reports whether err is the portal refusing the command itself.
func permanent(err error) bool { return Classify(err).Class == core.Permanent }

func (pl *pipeline) applyDeals(l *lookup, r Result) {
	if r.Err != nil {
		if permanent(r.Err) && len(l.items) > 1 {
			// One order's value may be what the portal refuses: ask for
			// each alone, so that only that order fails.
			for _, it := range l.items {
				pl.follow = append(pl.follow, &lookup{kind: l.kind, items: []*item{it}})
			}
			return
		}
		for _, it := range l.items {
			pl.fail(it, r.Err)
		}
		return
	}
	var rows []dealRow
	_ = json.Unmarshal(r.Result, &rows)
	found := map[string]dealRow{} // by id or by ORIGIN_ID, the oldest deal
	for _, row := range rows {
		k := row.ID
		if l.kind == lookupByOrigin {
			k = row.OriginID
		}
		if _, ok := found[k]; !ok {
			found[k] = row
		}
	}
	for _, it := range l.items {
		if it.state != stLooking {
			continue
		}
		k := it.d.Order.ID
		if l.kind == lookupByID {
			k = strconv.Itoa(it.linkID)
		}
		row, ok := found[k]
		switch {
		case ok && l.kind == lookupByID && (row.OriginatorID != pl.c.originator || row.OriginID != it.d.Order.ID):
			// The linked id is another order's deal now (the portal was
			// rebuilt and ids restarted) or nobody's: never write to it.
			pl.unlink(it, pl.c.ownerOf(it.linkID, row))
		case ok:
			it.row = &row
			pl.lookedUp(it)
		case l.kind == lookupByID:
			// The linked deal is gone (a manager deleted it, or the portal
			// was rebuilt): a deal of this order found by ORIGIN_ID, else a
			// new one.
			pl.unlink(it, "linked deal "+strconv.Itoa(it.linkID)+" no longer exists")
		case len(rows) >= listIDs:
			// A full page (start=-1 says no more): there may be more rows;
			// ask again for the orders not seen yet.
			pl.origin = append(pl.origin, it)
		default:
			pl.lookedUp(it)
		}
	}
}

// unlink drops an item's link, which failed its check, and looks the order
// up afresh: its deal by ORIGIN_ID and, since a contact id from the same
// link may now name another customer, its contact by phone and e-mail.
func (pl *pipeline) unlink(it *item, fate string) {
	it.fate, it.byOrigin = fate, true
	it.link = LinkData{}
	it.row, it.searches = nil, [2]*search{}
	it.state = stNew
	pl.estimate(it)
	pl.restart = append(pl.restart, it)
}

// ownerOf says whose deal id is, for the notice.
func (c *Connector) ownerOf(id int, row dealRow) string {
	switch {
	case row.OriginatorID == c.originator && row.OriginID != "":
		return "linked deal " + strconv.Itoa(id) + " belongs to order " + row.OriginID
	case row.OriginatorID == "" && row.OriginID == "":
		return "linked deal " + strconv.Itoa(id) + " belongs to no order (it was not made by paysync)"
	default:
		return "linked deal " + strconv.Itoa(id) + " belongs to no order of paysync's (ORIGINATOR_ID " + strconv.Quote(row.OriginatorID) +
			", ORIGIN_ID " + strconv.Quote(row.OriginID) + ")"
	}
}

func (pl *pipeline) applyFind(l *lookup, r Result) {
	if r.Err != nil {
		if permanent(r.Err) && len(l.searches) > 1 {
			pl.singles(l.searches)
			return
		}
		for _, s := range l.searches {
			pl.found(s, 0, r.Err)
		}
		return
	}
	ids := contactIDs(r.Result)
	switch {
	case len(ids) == 0:
		for _, s := range l.searches {
			pl.found(s, 0, nil)
		}
	case len(l.searches) == 1:
		pl.found(l.searches[0], ids[0], nil)
	case len(ids) > listIDs:
		pl.singles(l.searches)
	default:
		// Some of the values belong to existing contacts: read their
		// phones (or e-mails) to tell which.
		pl.follow = append(pl.follow, &lookup{kind: lookupResolve, searches: l.searches, ids: ids, cut: len(ids) >= findCap})
	}
}

func (pl *pipeline) applyResolve(l *lookup, r Result) {
	if r.Err != nil {
		if permanent(r.Err) {
			pl.singles(l.searches)
			return
		}
		for _, s := range l.searches {
			pl.found(s, 0, r.Err)
		}
		return
	}
	typ := l.searches[0].typ
	var rows []map[string]json.RawMessage
	_ = json.Unmarshal(r.Result, &rows)
	values := map[int][]string{}
	for _, row := range rows {
		var sid string
		var comms []struct {
			Value string `json:"VALUE"`
		}
		_ = json.Unmarshal(row["ID"], &sid)
		_ = json.Unmarshal(row[typ], &comms)
		id, _ := strconv.Atoi(sid)
		for _, c := range comms {
			values[id] = append(values[id], normalize(typ, c.Value))
		}
	}
	has := func(id int, norm string) bool {
		for _, v := range values[id] {
			if v == norm {
				return true
			}
		}
		return false
	}
	first := make([]int, len(l.searches))
	explained := true
	for _, id := range l.ids {
		matched := false
		for i, s := range l.searches {
			if has(id, s.norm) {
				matched = true
				if first[i] == 0 {
					first[i] = id
				}
			}
		}
		explained = explained && matched
	}
	var rest []*search
	for i, s := range l.searches {
		if first[i] == 0 && (!explained || l.cut) {
			// The portal matched a contact that paysync cannot place (it
			// compares differently), or cut its answer off at 20 contacts
			// (this value's may be among those left out): ask for this
			// value alone rather than read "no contact" and add a second.
			rest = append(rest, s)
			continue
		}
		pl.found(s, first[i], nil)
	}
	pl.singles(rest)
}

func (pl *pipeline) singles(ss []*search) {
	for _, s := range ss {
		pl.follow = append(pl.follow, &lookup{kind: lookupFind, searches: []*search{s}})
	}
}

// found completes a search for every item waiting on it.
func (pl *pipeline) found(s *search, id int, err error) {
	s.done, s.id, s.err = true, id, err
	for _, it := range s.items {
		if it.state == stLooking {
			pl.lookedUp(it)
		}
	}
	s.items = nil
}

// lookedUp counts one of it's lookups done and readies it after the last.
func (pl *pipeline) lookedUp(it *item) {
	if it.waiting--; it.waiting > 0 {
		return
	}
	if row := it.row; row != nil {
		it.dealID, _ = strconv.Atoi(row.ID)
		it.stage = row.StageID
		if row.ContactID != nil {
			if id, _ := strconv.Atoi(*row.ContactID); id > 0 {
				it.hasCont, it.link.ContactID = true, id
			}
		}
	}
	// The link's contact is the customer's: it stays when the linked deal
	// is gone and the order gets a new deal.
	if it.link.ContactID > 0 {
		it.contact = it.link.ContactID
	} else {
		for _, s := range it.searches {
			if s == nil {
				continue
			}
			if s.err != nil {
				pl.fail(it, s.err)
				return
			}
			if s.id > 0 {
				it.contact = s.id
				break
			}
		}
	}
	it.state = stReady
}

// contactIDs reads findbycomm's {"CONTACT":[275,…]} (or [] for none).
func contactIDs(raw json.RawMessage) []int {
	m, err := phpMap(raw)
	if err != nil {
		return nil
	}
	var ids []json.Number
	if json.Unmarshal(m["CONTACT"], &ids) != nil {
		return nil
	}
	out := make([]int, 0, len(ids))
	for _, n := range ids {
		if v, err := n.Int64(); err == nil && v > 0 {
			out = append(out, int(v))
		}
	}
	return out
}

// contactFor says where it's contact comes from: a known id, a contact added
// earlier in the same request (its command key), or a new one (add).
func (pl *pipeline) contactFor(it *item) (id int, key string, add bool) {
	if it.contact > 0 || it.p.Contact == nil || (it.dealID > 0 && it.hasCont) {
		return it.contact, "", false
	}
	for _, k := range searchKeys(it) {
		if k.key == "" {
			continue
		}
		if id := pl.known[k.key]; id > 0 {
			return id, "", false
		}
		if key := pl.round[k.key]; key != "" {
			return 0, key, false
		}
	}
	return 0, "", true
}

func (pl *pipeline) writeSize(it *item) int {
	n := 1 + min(len(it.p.Notes), 1)
	if _, _, add := pl.contactFor(it); add {
		n++
	}
	return n
}

// writeCmds is it's write: a new contact, the deal, the timeline comment.
func (pl *pipeline) writeCmds(it *item) []Command {
	var cmds []Command
	i := strconv.Itoa(it.idx)
	id, key, add := pl.contactFor(it)
	switch {
	case id > 0:
		it.contact = id
	case key != "":
		it.cref, it.ckey = "$result["+key+"]", key
	case add:
		key = "c" + i
		cmds = append(cmds, Command{Key: key, Method: "crm.contact.add", Params: map[string]any{"fields": it.p.Contact}})
		it.cref, it.ckey = "$result["+key+"]", key
		for _, k := range searchKeys(it) {
			if k.key != "" {
				pl.round[k.key] = key
			}
		}
	}
	fields := make(map[string]any, len(it.p.Entity)+4)
	for k, v := range it.p.Entity {
		fields[k] = v
	}
	delete(fields, "STAGE_ID")
	dealKey := "d" + i
	it.newStg = ""
	if it.dealID == 0 {
		fields["ORIGINATOR_ID"], fields["ORIGIN_ID"] = pl.c.originator, it.d.Order.ID
		// A status whose stage is null still starts a new deal somewhere
		// fixed: pending's stage (mapping.Payload.NewStage).
		if it.p.NewStage != "" {
			fields["STAGE_ID"], it.newStg = it.p.NewStage, it.p.NewStage
		}
		if ref := contactRef(it); ref != "" {
			fields["CONTACT_IDS"] = []string{ref}
		}
		cmds = append(cmds, Command{Key: dealKey, Method: "crm.deal.add", Params: map[string]any{
			"fields": fields, "params": map[string]string{"REGISTER_SONET_EVENT": "N"}}})
	} else {
		delete(fields, "CATEGORY_ID") // fixed at creation
		// Forward only: a manager's later stage is never pulled back. A
		// stage paysync set already (kept in the link) is not set again, so
		// that a manager's move, even backwards, stays.
		if it.p.Stage != "" && it.p.Stage != it.stage && it.p.Stage != it.link.Stage && pl.m.AllowStageMove(it.stage, it.p.Stage) {
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
		cmds = append(cmds, Command{Key: "n" + i, Method: "crm.timeline.comment.add", Params: map[string]any{
			"fields": map[string]any{"ENTITY_ID": target, "ENTITY_TYPE": "deal", "COMMENT": strings.Join(it.p.Notes, "\n")}}})
	}
	return cmds
}

// applyWrites records the outcome of each write on its item.
func (pl *pipeline) applyWrites(writes []*item, byKey map[string]Result) {
	// Contacts this request created serve the rest of the delivery.
	for _, it := range writes {
		if it.ckey != "c"+strconv.Itoa(it.idx) {
			continue
		}
		if id := newID(byKey[it.ckey]); id > 0 {
			for _, k := range searchKeys(it) {
				if k.key != "" {
					pl.known[k.key] = id
				}
			}
		}
	}
	pl.round = nil
	for _, it := range writes {
		i := strconv.Itoa(it.idx)
		r := byKey["d"+i]
		if r.Err != nil {
			switch {
			case IsNotFound(r.Err) && it.dealID > 0 && !it.retried:
				pl.lookAgain(it)
			case IsNotFound(r.Err):
				pl.fail(it, &core.DeliveryError{Class: core.Retryable, Err: r.Err,
					Reason: "the Bitrix24 deal was deleted while paysync updated it; a new one is made on retry"})
			default:
				pl.fail(it, r.Err)
			}
			continue
		}
		if it.dealID == 0 {
			if it.dealID = newID(r); it.dealID == 0 {
				pl.fail(it, &core.DeliveryError{Class: core.Retryable, Reason: "Bitrix24 did not return the new deal's id; it is looked up on retry"})
				continue
			}
		}
		if len(it.p.Notes) > 0 {
			// The notes are retried with the order (the deal is found again
			// and updated to the same state), unless the portal refused
			// the comment itself.
			if cr := byKey["n"+i]; cr.Err != nil && !permanent(cr.Err) {
				pl.fail(it, cr.Err)
				continue
			}
		}
		it.link.Stage = it.stage
		if it.newStg != "" {
			it.link.Stage = it.newStg
		}
		switch {
		case it.contact > 0:
			it.link.ContactID = it.contact
		case it.ckey != "":
			it.link.ContactID = newID(byKey[it.ckey])
		}
		it.state = stDone
	}
}

// lookAgain sends an item whose deal vanished back to the lookups, once.
func (pl *pipeline) lookAgain(it *item) {
	if it.fate == "" {
		it.fate = "linked deal " + strconv.Itoa(it.dealID) + " was deleted while paysync wrote it"
	}
	it.retried, it.byOrigin = true, true
	it.row, it.dealID, it.stage, it.hasCont, it.contact = nil, 0, "", false, 0
	it.cref, it.ckey, it.newStg = "", "", ""
	it.state, it.waiting = stLooking, 1
	pl.origin = append(pl.origin, it)
}

// newID reads the id an add command returned, 0 when it failed.
func newID(r Result) int {
	if r.Err != nil {
		return 0
	}
	var id json.Number
	if json.Unmarshal(r.Result, &id) != nil {
		return 0
	}
	n, _ := id.Int64()
	return int(n)
}
