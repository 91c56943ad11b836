package idram

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
)

func (d *Double) routes() {
	m := http.NewServeMux()
	m.HandleFunc("POST "+PaymentPath, d.serveCheckout)
	m.HandleFunc("POST /_sandbox/bills/{bill}/pay", d.controlPay)
	m.HandleFunc("POST /_sandbox/bills/{bill}/fail", d.controlFail)
	m.HandleFunc("POST /_sandbox/bills/{bill}/confirm", d.controlConfirm)
	m.HandleFunc("POST /_sandbox/transactions/{id}/redeliver", d.controlRedeliver)
	m.HandleFunc("POST /_sandbox/faults", d.controlFaults)
	m.HandleFunc("POST /_sandbox/confirmations/release", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"transactions": d.ReleaseConfirmations(r.URL.Query().Get("order") == "reverse")})
	})
	m.HandleFunc("GET /_sandbox/bills", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"bills": d.Bills()})
	})
	m.HandleFunc("GET /_sandbox/transactions", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"transactions": d.Transactions(r.URL.Query().Get("bill"))})
	})
	d.mux = m
}

// publicURL is where browsers reach the double.
func (d *Double) publicURL(r *http.Request) string {
	if d.opts.PublicURL != "" {
		return d.opts.PublicURL
	}
	return "http://" + r.Host
}

var pageTmpl = template.Must(template.New("idram").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Idram sandbox</title></head>
<body style="font-family:sans-serif;max-width:32em;margin:3em auto">
<h1>{{.Heading}}</h1>
{{with .Bill}}<p>Bill <b>{{.BillNo}}</b>: {{.Amount}} AMD{{with .Description}}, “{{.}}”{{end}}</p>{{end}}
{{range .Lines}}<p>{{.}}</p>
{{end}}{{if .Open}}<form method="post" action="{{.Base}}/_sandbox/bills/{{.BillPath}}/pay?page=1"><button>Pay</button></form>
<form method="post" action="{{.Base}}/_sandbox/bills/{{.BillPath}}/fail?page=1"><button>Cancel</button></form>
{{end}}<p><small>This is a local double of Idram; no money moves.</small></p>
</body></html>`))

type pageView struct {
	Heading  string
	Bill     *Bill
	Lines    []string
	Open     bool
	Base     string
	BillPath string
}

func (d *Double) page(w http.ResponseWriter, status int, v pageView) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	pageTmpl.Execute(w, v)
}

// serveCheckout is POST /Payment/GetPayment: the buyer's browser posting
// the merchant's form.
func (d *Double) serveCheckout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<16)
	if err := r.ParseForm(); err != nil {
		d.page(w, http.StatusBadRequest, pageView{Heading: "Invalid payment request", Lines: []string{"The form could not be read: " + err.Error()}})
		return
	}
	b, err := d.Submit(r.PostForm)
	if err != nil {
		d.page(w, http.StatusBadRequest, pageView{Heading: "Invalid payment request", Lines: []string{err.Error()}})
		return
	}
	v := pageView{Bill: &b, Base: d.publicURL(r), BillPath: url.PathEscape(b.BillNo)}
	if b.State != BillOpen {
		// Idram sends the buyer to the merchant's FAIL_URL; the double says why.
		v.Heading = "Payment not possible"
		v.Lines = []string{"The shop did not confirm this bill, so Idram does not let you pay it. The shop answered Idram's precheck with " + b.Precheck.String() + ", not HTTP 200 \"OK\"."}
		d.page(w, http.StatusOK, v)
		return
	}
	v.Heading, v.Open = "Pay with Idram (sandbox)", true
	v.Lines = []string{"Wallet " + d.opts.PayerAccount + " pays merchant " + d.opts.Account + "."}
	d.page(w, http.StatusOK, v)
}

func (d *Double) controlPay(w http.ResponseWriter, r *http.Request) {
	billNo := r.PathValue("bill")
	tx, err := d.PayBill(billNo)
	if r.URL.Query().Get("page") == "" {
		if err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		writeJSON(w, http.StatusOK, tx)
		return
	}
	v := pageView{Heading: "Payment " + tx.State}
	if b, ok := d.Bill(billNo); ok {
		v.Bill = &b
	}
	switch {
	case err != nil:
		v.Heading, v.Lines = "Payment not possible", []string{err.Error()}
	case tx.State == TxPaid && tx.Alert == "":
		v.Heading, v.Lines = "Paid", []string{"Transaction " + tx.TransID + " is paid; the shop confirmed it."}
	default:
		v.Lines = []string{"Transaction " + tx.TransID + ": " + tx.Alert}
	}
	d.page(w, http.StatusOK, v)
}

func (d *Double) controlFail(w http.ResponseWriter, r *http.Request) {
	billNo := r.PathValue("bill")
	if err := d.Fail(billNo); err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	b, _ := d.Bill(billNo)
	if r.URL.Query().Get("page") != "" {
		d.page(w, http.StatusOK, pageView{Heading: "Payment cancelled", Bill: &b, Lines: []string{"You left without paying. Idram does not tell the shop."}})
		return
	}
	writeJSON(w, http.StatusOK, b)
}

// controlConfirm is Confirm over HTTP; the body is a Forge (or empty).
func (d *Double) controlConfirm(w http.ResponseWriter, r *http.Request) {
	var f Forge
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		http.Error(w, `the body is {"amount_minor":190000,"amount":"1900.00","wrong_key":true,"checksum":"…"} (every field optional): `+err.Error(), http.StatusBadRequest)
		return
	}
	tx, err := d.Confirm(r.PathValue("bill"), f)
	if err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	writeJSON(w, http.StatusOK, tx)
}

func (d *Double) controlRedeliver(w http.ResponseWriter, r *http.Request) {
	tx, err := d.Redeliver(r.PathValue("id"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	writeJSON(w, http.StatusOK, tx)
}

// faultRequest is the body of POST /_sandbox/faults.
type faultRequest struct {
	DropConfirmations int  `json:"drop_confirmations"`
	HoldConfirmations bool `json:"hold_confirmations"`
}

func (d *Double) controlFaults(w http.ResponseWriter, r *http.Request) {
	var f faultRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		http.Error(w, fmt.Sprintf(`the body is {"drop_confirmations":1,"hold_confirmations":true}: %v`, err), http.StatusBadRequest)
		return
	}
	if f.DropConfirmations > 0 {
		d.DropConfirmations(f.DropConfirmations)
	}
	if f.HoldConfirmations {
		d.HoldConfirmations()
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}
