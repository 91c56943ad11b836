package arca

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/paysync/paysync/sandbox/internal/outbound"
)

func (g *Gateway) routes() {
	m := http.NewServeMux()
	m.HandleFunc(RESTPath+"/register.do", g.rest("register.do", g.register))
	m.HandleFunc(RESTPath+"/getOrderStatusExtended.do", g.rest("getOrderStatusExtended.do", g.status))
	m.HandleFunc(RESTPath+"/getLastOrdersForMerchants.do", g.rest("getLastOrdersForMerchants.do", g.lastOrders))
	m.HandleFunc("GET /payment/merchants/sandbox/{page}", g.paymentPage)
	m.HandleFunc("POST /_sandbox/orders/{order}/{action}", g.control)
	m.HandleFunc("POST /_sandbox/faults", g.controlFaults)
	m.HandleFunc("POST /_sandbox/bank-payments", func(w http.ResponseWriter, r *http.Request) {
		// ?order=NUMBER&amount=MINOR[&currency=AMD]: PayAtBank.
		q := r.URL.Query()
		amount, err := strconv.ParseInt(q.Get("amount"), 10, 64)
		if err != nil || q.Get("order") == "" {
			http.Error(w, "order and amount (minor units) are required, e.g. ?order=SHOP-1&amount=1500000", http.StatusBadRequest)
			return
		}
		cur := q.Get("currency")
		if cur == "" {
			cur = "AMD"
		}
		o, err := g.PayAtBank(q.Get("order"), amount, cur)
		if err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		writeJSON(w, o)
	})
	m.HandleFunc("POST /_sandbox/callbacks/release", func(w http.ResponseWriter, r *http.Request) {
		g.ReleaseCallbacks(r.URL.Query().Get("order") == "reverse")
		writeJSON(w, map[string]bool{"released": true})
	})
	m.HandleFunc("GET /_sandbox/callbacks", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"deliveries": g.Deliveries()})
	})
	m.HandleFunc("GET /_sandbox/orders", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"orders": g.Orders()})
	})
	g.mux = m
}

// rest parses the form (GET or POST, like RBS), checks the credentials and
// applies injected faults.
func (g *Gateway) rest(name string, h func(w http.ResponseWriter, r *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 1<<16)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		g.mu.Lock()
		g.stats.Requests++
		g.mu.Unlock()
		if f, ok := g.takeFault(name); ok {
			switch {
			case f.hang:
				select {
				case <-r.Context().Done():
				case <-g.closed:
				}
			case f.status != 0:
				http.Error(w, http.StatusText(f.status), f.status)
			default:
				rbsError(w, f.rbsCode, f.rbsMsg)
			}
			return
		}
		if r.Form.Get("userName") != g.opts.Username || r.Form.Get("password") != g.opts.Password {
			rbsError(w, "5", "Access denied")
			return
		}
		h(w, r)
	}
}

func (g *Gateway) takeFault(name string) (fault, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, f := range g.faults {
		if f.onlyPaths == "" || f.onlyPaths == name {
			g.faults = append(g.faults[:i:i], g.faults[i+1:]...)
			g.stats.Injected++
			return f, true
		}
	}
	return fault{}, false
}

var knownCurrencies = map[string]bool{"051": true, "840": true, "978": true, "643": true}

func (g *Gateway) publicURL(r *http.Request) string {
	if g.opts.PublicURL != "" {
		return strings.TrimRight(g.opts.PublicURL, "/")
	}
	return "http://" + r.Host
}

func (g *Gateway) register(w http.ResponseWriter, r *http.Request) {
	f := r.Form
	number := f.Get("orderNumber")
	amount, err := strconv.ParseInt(f.Get("amount"), 10, 64)
	cur := f.Get("currency")
	if cur == "" {
		cur = "051"
	}
	switch {
	case number == "" || len(number) > MaxOrderNumber:
		rbsError(w, "4", "Order number is empty or too long")
		return
	case err != nil || amount <= 0:
		rbsError(w, "4", "Amount is invalid")
		return
	case !knownCurrencies[cur]:
		rbsError(w, "3", "Unknown currency")
		return
	case f.Get("returnUrl") == "":
		rbsError(w, "4", "Return URL cannot be empty")
		return
	}
	lang := f.Get("language")
	if lang == "" {
		lang = "en"
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, dup := g.byNumber[number]; dup {
		rbsError(w, "1", "Order with this number was already processed")
		return
	}
	o := &Order{MdOrder: newMdOrder(), OrderNumber: number, Amount: amount, Currency: cur, Status: OrderRegistered,
		ReturnURL: f.Get("returnUrl"), FailURL: f.Get("failUrl"), CallbackURL: f.Get("dynamicCallbackUrl"),
		Description: f.Get("description"), Language: lang, CreatedAt: g.now().UTC()}
	if o.FailURL == "" {
		o.FailURL = o.ReturnURL
	}
	g.orders[o.MdOrder] = o
	g.byNumber[number] = o.MdOrder
	g.stats.Registered++
	writeJSON(w, map[string]any{"orderId": o.MdOrder,
		"formUrl": g.publicURL(r) + "/payment/merchants/sandbox/payment_" + lang + ".html?mdOrder=" + o.MdOrder})
}

var actionDescriptions = map[int]string{
	OrderRegistered: "", OrderHeld: "", OrderDeposited: "", OrderReversed: "", OrderRefunded: "", OrderACS: "",
	OrderDeclined: "Transaction declined",
}

var paymentStates = map[int]string{
	OrderRegistered: "CREATED", OrderHeld: "APPROVED", OrderDeposited: "DEPOSITED", OrderReversed: "REVERSED",
	OrderRefunded: "REFUNDED", OrderACS: "STARTED", OrderDeclined: "DECLINED",
}

func (g *Gateway) status(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	md := r.Form.Get("orderId")
	if md == "" {
		n := r.Form.Get("orderNumber")
		if n == "" {
			rbsError(w, "1", "orderId or orderNumber is required")
			return
		}
		md = g.byNumber[n]
	}
	o, ok := g.orders[md]
	if !ok {
		rbsError(w, "6", "Order not found")
		return
	}
	g.stats.Lookups++
	answer := orderAnswer(o, g.version)
	answer["errorCode"], answer["errorMessage"] = "0", "Success"
	writeJSON(w, answer)
}

// orderAnswer is an order as getOrderStatusExtended.do (in version
// version) and getLastOrdersForMerchants.do show it.
func orderAnswer(o *Order, version int) map[string]any {
	action := 0
	if o.Status == OrderDeclined {
		action = 2001
	}
	answer := map[string]any{
		"orderNumber": o.OrderNumber, "orderStatus": o.Status,
		"actionCode": action, "actionCodeDescription": actionDescriptions[o.Status],
		"amount": o.Amount, "currency": o.Currency, "date": o.CreatedAt.UnixMilli(),
		"orderDescription":    o.Description,
		"ip":                  "127.0.0.1",
		"merchantOrderParams": []any{},
		"attributes":          []map[string]string{{"name": "mdOrder", "value": o.MdOrder}},
		"cardAuthInfo": map[string]string{"maskedPan": "411111**1111", "pan": "411111**1111", "expiration": "203012",
			"cardholderName": "SANDBOX", "approvalCode": "123456"},
	}
	if version >= 2 {
		// What was deposited and refunded is only in later versions of
		// the answer; version 1 says no more than the orderStatus.
		answer["paymentAmountInfo"] = map[string]any{"paymentState": paymentStates[o.Status], "approvedAmount": o.ApprovedAmount,
			"depositedAmount": o.DepositedAmount, "refundedAmount": o.RefundedAmount}
		answer["terminalId"] = "SANDBOX1"
		paid := o.PaidAt
		if paid.IsZero() {
			paid = o.CreatedAt
		}
		answer["authDateTime"] = paid.UnixMilli()
		answer["authRefNum"] = "111111111111"
		answer["bankInfo"] = map[string]string{"bankName": "SANDBOX BANK", "bankCountryCode": "AM", "bankCountryName": "Armenia"}
	}
	return answer
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>ArCa sandbox payment</title></head>
<body style="font-family:sans-serif;max-width:32em;margin:3em auto">
<h1>ArCa vPOS sandbox</h1>
<p>Order <b>{{.OrderNumber}}</b>: {{.Amount}} (currency {{.Currency}}), orderStatus <b>{{.Status}}</b></p>
{{if eq .Status 0}}
<form method="post" action="{{.Base}}/_sandbox/orders/{{.OrderNumber}}/pay?redirect=1"><button>Pay</button></form>
<form method="post" action="{{.Base}}/_sandbox/orders/{{.OrderNumber}}/fail?redirect=1"><button>Decline</button></form>
{{end}}
<p><small>This is a local double; no money moves.</small></p>
</body></html>`))

func (g *Gateway) paymentPage(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	o, ok := g.orders[r.URL.Query().Get("mdOrder")]
	var view map[string]any
	if ok {
		view = map[string]any{"OrderNumber": o.OrderNumber, "Amount": fmt.Sprintf("%d.%02d", o.Amount/100, o.Amount%100),
			"Currency": o.Currency, "Status": o.Status, "Base": g.publicURL(r)}
	}
	g.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	pageTmpl.Execute(w, view)
}

func (g *Gateway) control(w http.ResponseWriter, r *http.Request) {
	number := r.PathValue("order")
	var err error
	switch action := r.PathValue("action"); action {
	case "pay":
		err = g.Pay(number)
	case "hold":
		err = g.Hold(number)
	case "fail":
		err = g.Fail(number)
	case "reverse":
		err = g.Reverse(number)
	case "refund":
		amount, _ := strconv.ParseInt(r.URL.Query().Get("amount"), 10, 64)
		err = g.Refund(number, amount)
	default:
		http.Error(w, "unknown action "+action+" (pay, hold, fail, reverse, refund?amount=)", http.StatusNotFound)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	o, _ := g.Order(number)
	if r.URL.Query().Get("redirect") != "" {
		target := o.ReturnURL
		if o.Status == OrderDeclined {
			target = o.FailURL
		}
		if target != "" {
			sep := "?"
			if strings.Contains(target, "?") {
				sep = "&"
			}
			http.Redirect(w, r, target+sep+"orderId="+o.MdOrder, http.StatusSeeOther)
			return
		}
	}
	writeJSON(w, o)
}

// faultRequest is the body of POST /_sandbox/faults.
type faultRequest struct {
	FailNext           int    `json:"fail_next"`
	Status             int    `json:"status"` // default 503
	ErrorNext          int    `json:"error_next"`
	ErrorCode          string `json:"error_code"` // default "7" (system error)
	HangNext           int    `json:"hang_next"`
	DropCallbacks      int    `json:"drop_callbacks"`
	DuplicateCallbacks int    `json:"duplicate_callbacks"`
	Copies             int    `json:"copies"`
	HoldCallbacks      bool   `json:"hold_callbacks"`
}

func (g *Gateway) controlFaults(w http.ResponseWriter, r *http.Request) {
	var f faultRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&f); err != nil {
		http.Error(w, "invalid JSON: "+err.Error(), http.StatusBadRequest)
		return
	}
	if f.FailNext > 0 {
		if f.Status == 0 {
			f.Status = http.StatusServiceUnavailable
		}
		g.FailNext(f.FailNext, f.Status)
	}
	if f.ErrorNext > 0 {
		if f.ErrorCode == "" {
			f.ErrorCode = "7"
		}
		g.ErrorNext(f.ErrorNext, f.ErrorCode, "System error")
	}
	if f.HangNext > 0 {
		g.HangNext(f.HangNext)
	}
	g.out.Inject(outbound.Faults{Drop: f.DropCallbacks, Duplicate: f.DuplicateCallbacks, Copies: f.Copies, Hold: f.HoldCallbacks})
	writeJSON(w, map[string]bool{"ok": true})
}
