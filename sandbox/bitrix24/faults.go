package bitrix24

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/paysync/paysync/sandbox/chaos"
)

// LoseMode says how an answer is lost after the work was done.
type LoseMode = chaos.Loss

const (
	// LoseWith500 answers 500 INTERNAL_SERVER_ERROR although the deal was stored.
	LoseWith500 = chaos.LostError
	// LoseConnection closes the connection without an answer.
	LoseConnection = chaos.LostClose
	// LoseHang never answers; the client times out.
	LoseHang = chaos.LostHang
)

func (p *Portal) loseAnswer(w http.ResponseWriter, r *http.Request, mode LoseMode) {
	chaos.Lose(w, r, mode, p.closed, func(w http.ResponseWriter) {
		writeJSON(w, http.StatusInternalServerError, (&apiError{code: "INTERNAL_SERVER_ERROR", descr: "Internal server error"}).body())
	})
}

// SetChaos turns random faults on (a profile) or off (nil): every REST
// request after auth may answer 500, hang, or get QUERY_LIMIT_EXCEEDED in a
// burst, and a request that changed something may lose its answer.
func (p *Portal) SetChaos(profile *chaos.Profile) { p.chaos.Set(profile) }

// ChaosStats counts the faults the chaos profile injected.
func (p *Portal) ChaosStats() chaos.Stats { return p.chaos.Stats() }

// StageHistory is every stage the API stored a deal at, oldest first
// (a manager's SetDealStage is not in it).
func (p *Portal) StageHistory(id int) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.stageLog[id]...)
}

// FailNext makes the next n REST requests (after auth) answer status with a
// generic server error, without doing any work.
func (p *Portal) FailNext(n, status int) {
	p.FailNextWith(n, status, "INTERNAL_SERVER_ERROR", "Internal server error")
}

// FailNextWith makes the next n REST requests answer status with the given
// error code and description, without doing any work.
func (p *Portal) FailNextWith(n, status int, code, description string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := 0; i < n; i++ {
		p.failNext = append(p.failNext, failure{status, code, description})
	}
}

// HangNext makes the next n REST requests hang, doing nothing, until the
// client gives up or the portal is closed.
func (p *Portal) HangNext(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hangNext += n
}

// LoseResponseAfterCreate makes the next n requests that create a deal
// (crm.deal.add, alone or inside a batch) store it and then lose the answer.
func (p *Portal) LoseResponseAfterCreate(n int, mode LoseMode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := 0; i < n; i++ {
		p.loseNext = append(p.loseNext, mode)
	}
}

// ForceOperationTimeLimit blocks method with OPERATION_TIME_LIMIT until the given time.
func (p *Portal) ForceOperationTimeLimit(method string, until time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.forcedOp[strings.ToLower(method)] = until
}

// FailOAuth makes the OAuth server answer every refresh with status and
// {"error": code, "error_description": descr} (PAYMENT_REQUIRED when the
// app's subscription has lapsed, say) until FailOAuth(0, "", "").
func (p *Portal) FailOAuth(status int, code, descr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if code == "" {
		p.oauthFail = nil
		return
	}
	p.oauthFail = &failure{status: status, code: code, descr: descr}
}

// AddListField adds a list user field ("enumeration") with its items, or
// replaces the items of one; its values must be one of the item ids.
func (p *Portal) AddListField(name string, items ...ListItem) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !slices.Contains(p.userFields, name) {
		p.userFields = append(p.userFields, name)
	}
	p.listFields[name] = append([]ListItem(nil), items...)
}

// DisableCurrency removes a currency from the portal, as if nobody enabled it
// in CRM > Settings > Currencies. EnableCurrency adds it.
func (p *Portal) DisableCurrency(code string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.currencies, strings.ToUpper(code))
}

func (p *Portal) EnableCurrency(code string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.currencies[strings.ToUpper(code)] = true
}

// SetDealStage moves a deal as a manager would in the kanban.
func (p *Portal) SetDealStage(id int, stageID string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	cur, ok := p.deals[id]
	if !ok {
		return fmt.Errorf("deal %d not found", id)
	}
	e := cur.clone()
	e.fields["STAGE_ID"] = stageID
	if err := p.placeDeal(e); err != nil {
		return fmt.Errorf("deal %d: %s", id, err.descr)
	}
	e.fields["IS_NEW"] = "N"
	e.fields["DATE_MODIFY"] = p.stamp()
	p.deals[id] = e
	return nil
}

// DeleteDeal deletes a deal as a manager would.
func (p *Portal) DeleteDeal(id int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.deleteDeal(id)
}

// SetWebhookCode replaces the webhook's secret code: the old URL stops working.
func (p *Portal) SetWebhookCode(code string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.webhookCode = code
}

// SetScopes replaces the scopes of the webhook and of OAuth tokens.
func (p *Portal) SetScopes(scopes ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.scopes = append([]string(nil), scopes...)
}

// SetPlanBlocked answers every request ACCESS_DENIED, as on a free plan.
func (p *Portal) SetPlanBlocked(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.planBlocked = on
}

// SetOverloaded answers every request OVERLOAD_LIMIT, as when the portal is blocked by hand.
func (p *Portal) SetOverloaded(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.overloaded = on
}

// SetLimiter changes the leaky bucket: block threshold and drain rate per second.
func (p *Portal) SetLimiter(threshold int, drainPerSecond float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if threshold > 0 {
		p.threshold = threshold
	}
	if drainPerSecond > 0 {
		p.drain = drainPerSecond
	}
}

// FillBucket fills the leaky bucket to its threshold, as a burst by another
// integration would: requests are refused until it drains.
func (p *Portal) FillBucket() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.level, p.levelAt = float64(p.threshold), p.now()
}

// BucketLevel is the leaky bucket's level now: the requests it still holds.
func (p *Portal) BucketLevel() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.drainBucket()
	return p.level
}

// DrainBucket empties the leaky bucket, as waiting long enough would.
func (p *Portal) DrainBucket() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.level, p.levelAt = 0, p.now()
}

// AddCategory adds (or replaces) a deal pipeline with its stages in order.
func (p *Portal) AddCategory(id int, stages []Stage) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.categories[id] = append([]Stage(nil), stages...)
}

// AddUserField adds a UF_CRM_* field to deals and contacts.
func (p *Portal) AddUserField(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.userFields {
		if f == name {
			return
		}
	}
	p.userFields = append(p.userFields, name)
}

// Reset forgets every deal, contact, token, fault and counter.
func (p *Portal) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reset()
}

// Stats returns a copy of the counters.
func (p *Portal) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Calls = make(map[string]int, len(p.stats.Calls))
	for k, v := range p.stats.Calls {
		s.Calls[k] = v
	}
	return s
}

// Deal is a stored deal, for tests.
type Deal struct {
	ID           int
	Title        string
	CategoryID   int
	StageID      string
	CurrencyID   string
	Opportunity  string // as the portal returns it: "15000.00"
	OriginatorID string
	OriginID     string
	Comments     string
	ContactIDs   []int
	// Fields holds every scalar field as the portal stores it, UF_CRM_* included.
	Fields map[string]string
}

// Contact is a stored contact, for tests.
type Contact struct {
	ID       int
	Name     string
	LastName string
	Phones   []string
	Emails   []string
	IMs      []string // "TYPE:value"
	Fields   map[string]string
}

func (e *entity) scalars() map[string]string {
	out := map[string]string{"ID": strconv.Itoa(e.id)}
	for k, v := range e.fields {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

func (e *entity) deal() Deal {
	f := e.scalars()
	cat, _ := strconv.Atoi(f["CATEGORY_ID"])
	ids, _ := e.fields["CONTACT_IDS"].([]int)
	return Deal{
		ID: e.id, Title: f["TITLE"], CategoryID: cat, StageID: f["STAGE_ID"],
		CurrencyID: f["CURRENCY_ID"], Opportunity: f["OPPORTUNITY"],
		OriginatorID: f["ORIGINATOR_ID"], OriginID: f["ORIGIN_ID"], Comments: f["COMMENTS"],
		ContactIDs: append([]int(nil), ids...), Fields: f,
	}
}

func (e *entity) contact() Contact {
	f := e.scalars()
	c := Contact{ID: e.id, Name: f["NAME"], LastName: f["LAST_NAME"], Fields: f}
	for _, x := range commsOf(e, "PHONE") {
		c.Phones = append(c.Phones, x.Value)
	}
	for _, x := range commsOf(e, "EMAIL") {
		c.Emails = append(c.Emails, x.Value)
	}
	for _, x := range commsOf(e, "IM") {
		c.IMs = append(c.IMs, x.ValueType+":"+x.Value)
	}
	return c
}

func commsOf(e *entity, typ string) []comm {
	cs, _ := e.fields[typ].([]comm)
	return cs
}

// Deals returns every deal in creation order.
func (p *Portal) Deals() []Deal {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Deal, 0, len(p.dealIDs))
	for _, id := range p.dealIDs {
		out = append(out, p.deals[id].deal())
	}
	return out
}

// Deal returns one deal.
func (p *Portal) Deal(id int) (Deal, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.deals[id]
	if !ok {
		return Deal{}, false
	}
	return e.deal(), true
}

// DealsByOrigin returns the deals with ORIGINATOR_ID and ORIGIN_ID, oldest first.
func (p *Portal) DealsByOrigin(originatorID, originID string) []Deal {
	var out []Deal
	for _, d := range p.Deals() {
		if d.OriginatorID == originatorID && d.OriginID == originID {
			out = append(out, d)
		}
	}
	return out
}

// Comments returns the timeline comments of a deal, oldest first.
func (p *Portal) Comments(dealID int) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.comments[dealID]...)
}

// Contacts returns every contact in creation order.
// AddContact stores a contact, as a manager or an earlier import would, and
// returns its id.
func (p *Portal) AddContact(c Contact) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	fields := newOmap()
	fields.Set("NAME", c.Name)
	fields.Set("LAST_NAME", c.LastName)
	for _, kind := range []struct {
		field  string
		values []string
	}{{"PHONE", c.Phones}, {"EMAIL", c.Emails}} {
		var list []any
		for _, v := range kind.values {
			m := newOmap()
			m.Set("VALUE", v)
			m.Set("VALUE_TYPE", "WORK")
			list = append(list, m)
		}
		if len(list) > 0 {
			fields.Set(kind.field, list)
		}
	}
	params := newOmap()
	params.Set("fields", fields)
	out, _ := p.contactAdd(params)
	id, _ := out.result.(int)
	return id
}

// ContactsByPhone lists the contacts with a phone of the same digits.
func (p *Portal) ContactsByPhone(phone string) []Contact {
	var out []Contact
	for _, c := range p.Contacts() {
		if slices.ContainsFunc(c.Phones, func(v string) bool { return digits(v) == digits(phone) }) {
			out = append(out, c)
		}
	}
	return out
}

func (p *Portal) Contacts() []Contact {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Contact, 0, len(p.contactIDs))
	for _, id := range p.contactIDs {
		out = append(out, p.contacts[id].contact())
	}
	return out
}

// ManualClock is a clock that moves only when told, for tests.
type ManualClock struct {
	mu sync.Mutex
	t  time.Time
}

func NewManualClock(t time.Time) *ManualClock { return &ManualClock{t: t} }

func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// serveAdmin exposes the fault and inspection API over HTTP under /_sandbox/,
// for the demo and for manual poking. The sandbox is local; it has no auth.
func (p *Portal) serveAdmin(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Count          int     `json:"count"`
		Status         int     `json:"status"`
		Error          *string `json:"error"`
		Description    string  `json:"error_description"`
		Mode           string  `json:"mode"`
		Method         string  `json:"method"`
		Seconds        float64 `json:"seconds"`
		Code           string  `json:"code"`
		Enabled        bool    `json:"enabled"`
		ID             int     `json:"id"`
		StageID        string  `json:"stage_id"`
		Threshold      int     `json:"threshold"`
		DrainPerSecond float64 `json:"drain_per_second"`
		Fill           bool    `json:"fill"`
		On             bool    `json:"on"`
	}
	if r.Method == http.MethodPost && r.Body != nil {
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in); err != nil && err.Error() != "EOF" {
			http.Error(w, "bad JSON: "+err.Error(), http.StatusBadRequest)
			return
		}
	}
	ok := func() { writeJSON(w, http.StatusOK, map[string]bool{"ok": true}) }
	route := r.Method + " " + strings.TrimPrefix(r.URL.Path, "/_sandbox")
	switch route {
	case "GET /deals":
		writeJSON(w, http.StatusOK, p.Deals())
	case "GET /contacts":
		writeJSON(w, http.StatusOK, p.Contacts())
	case "GET /stats":
		writeJSON(w, http.StatusOK, p.Stats())
	case "POST /reset":
		p.Reset()
		ok()
	case "POST /fail":
		status := in.Status
		if status == 0 {
			status = http.StatusInternalServerError
		}
		if in.Error != nil {
			p.FailNextWith(max(in.Count, 1), status, *in.Error, in.Description)
		} else {
			p.FailNext(max(in.Count, 1), status)
		}
		ok()
	case "POST /hang":
		p.HangNext(max(in.Count, 1))
		ok()
	case "POST /lose":
		mode := map[string]LoseMode{"": LoseWith500, "500": LoseWith500, "close": LoseConnection, "hang": LoseHang}[in.Mode]
		if mode == 0 {
			http.Error(w, "mode is one of 500, close, hang", http.StatusBadRequest)
			return
		}
		p.LoseResponseAfterCreate(max(in.Count, 1), mode)
		ok()
	case "POST /operating-limit":
		secs := in.Seconds
		if secs <= 0 {
			secs = OperatingWindow.Seconds()
		}
		p.ForceOperationTimeLimit(in.Method, p.now().Add(time.Duration(secs*float64(time.Second))))
		ok()
	case "POST /currencies":
		if in.Enabled {
			p.EnableCurrency(in.Code)
		} else {
			p.DisableCurrency(in.Code)
		}
		ok()
	case "POST /deal-stage":
		if err := p.SetDealStage(in.ID, in.StageID); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ok()
	case "POST /limiter":
		p.SetLimiter(in.Threshold, in.DrainPerSecond)
		if in.Fill {
			p.FillBucket()
		}
		ok()
	case "POST /plan-blocked":
		p.SetPlanBlocked(in.On)
		ok()
	case "POST /overloaded":
		p.SetOverloaded(in.On)
		ok()
	case "POST /oauth-fail":
		p.FailOAuth(in.Status, in.Code, in.Description)
		ok()
	case "GET /":
		routes := []string{"GET /deals", "GET /contacts", "GET /stats", "POST /reset", "POST /fail", "POST /hang",
			"POST /lose", "POST /operating-limit", "POST /currencies", "POST /deal-stage", "POST /limiter",
			"POST /plan-blocked", "POST /overloaded", "POST /oauth-fail"}
		sort.Strings(routes)
		writeJSON(w, http.StatusOK, map[string][]string{"routes": routes})
	default:
		http.Error(w, "unknown sandbox route "+route, http.StatusNotFound)
	}
}
