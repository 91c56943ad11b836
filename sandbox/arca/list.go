package arca

import (
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// listStates are the transactionStates getLastOrdersForMerchants.do takes.
var listStates = map[string]bool{"CREATED": true, "APPROVED": true, "DEPOSITED": true, "DECLINED": true, "REVERSED": true, "REFUNDED": true}

var listTime = regexp.MustCompile(`^[0-9]{14}$`)

// MaxListPage is the most orders getLastOrdersForMerchants.do returns a page.
const MaxListPage = 200

// lastOrders answers getLastOrdersForMerchants.do as the RBS manuals
// describe it: size (1..200) orders of page (from 0) whose payment date
// (creation date with searchByCreatedDate=true) is in [from, to], read as
// YYYYMMDDHHmmss in the gateway's time zone, in one of transactionStates;
// merchants, when set, must name this merchant (the API user's login
// without "-api") or the list is empty.
func (g *Gateway) lastOrders(w http.ResponseWriter, r *http.Request) {
	f := r.Form
	size, err := strconv.Atoi(f.Get("size"))
	if err != nil || size < 1 || size > MaxListPage {
		rbsError(w, "4", "[size] must be 1 to 200")
		return
	}
	page := 0
	if p := f.Get("page"); p != "" {
		if page, err = strconv.Atoi(p); err != nil || page < 0 {
			rbsError(w, "4", "[page] is invalid")
			return
		}
	}
	if !listTime.MatchString(f.Get("from")) || !listTime.MatchString(f.Get("to")) {
		rbsError(w, "4", "[from] and [to] are required, as yyyyMMddHHmmss")
		return
	}
	from, err1 := time.ParseInLocation("20060102150405", f.Get("from"), g.opts.Location)
	to, err2 := time.ParseInLocation("20060102150405", f.Get("to"), g.opts.Location)
	if err1 != nil || err2 != nil || to.Before(from) {
		rbsError(w, "4", "[from] or [to] is invalid")
		return
	}
	states := map[string]bool{}
	for _, s := range strings.Split(f.Get("transactionStates"), ",") {
		s = strings.TrimSpace(s)
		if !listStates[s] {
			rbsError(w, "4", "[transactionStates] is invalid")
			return
		}
		states[s] = true
	}
	byCreated := false
	switch f.Get("searchByCreatedDate") {
	case "", "false":
	case "true":
		byCreated = true
	default:
		rbsError(w, "4", "[searchByCreatedDate] is invalid")
		return
	}
	mine := true
	if m := strings.TrimSpace(f.Get("merchants")); m != "" {
		mine = false
		login := strings.TrimSuffix(g.opts.Username, "-api")
		for _, name := range strings.Split(m, ",") {
			mine = mine || strings.TrimSpace(name) == login
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var found []*Order
	for _, o := range g.orders {
		at := o.PaidAt
		if byCreated {
			at = o.CreatedAt
		}
		if !mine || at.IsZero() || at.Before(from) || at.After(to) || !states[paymentStates[o.Status]] {
			continue
		}
		found = append(found, o)
	}
	sort.Slice(found, func(i, j int) bool {
		if !found[i].PaidAt.Equal(found[j].PaidAt) {
			return found[i].PaidAt.Before(found[j].PaidAt)
		}
		return found[i].MdOrder < found[j].MdOrder
	})
	list := []map[string]any{}
	for i := page * size; i < len(found) && i < (page+1)*size; i++ {
		a := orderAnswer(found[i], 2)
		a["errorCode"] = "0"
		list = append(list, a)
	}
	g.stats.Lists++
	writeJSON(w, map[string]any{"errorCode": 0, "orderStatuses": list, "totalCount": len(found), "page": page, "pageSize": size})
}
