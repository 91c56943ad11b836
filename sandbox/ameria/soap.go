package ameria

import (
	"encoding/xml"
	"fmt"
	"html"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The reporting service (SOAP 1.1) as the vPOS 3.1 manual shows it and the
// one open-source client that reached it observed it: POST to
// /Admin/webservice/TransactionsInformationService.svc, text/xml, routed by
// the SOAPAction header; the manual's <Action> SOAP header is answered with
// HTTP 400 and SOAP 1.2 with 415. Only GetTransactionList is served.
const (
	ReportingPath = "/Admin/webservice/TransactionsInformationService.svc"
	soapNS        = "http://payments.ameriabank.am/ITransactionsInformationService"
	// ActionGetTransactionList is the SOAPAction of GetTransactionList.
	ActionGetTransactionList = soapNS + "/ITransactionsInformationService/GetTransactionList"
	listDate                 = "2006/01/02 15:04"
	// operDate is how the list writes OperDate: a Java Date's text, in
	// Armenian time ("Wed Mar 18 00:53:25 AMT 2015" in the manual's sample).
	operDate = "Mon Jan 02 15:04:05 AMT 2006"
)

// Yerevan is the bank's time, UTC+4 all year.
var Yerevan = time.FixedZone("AMT", 4*60*60)

type listRequest struct {
	Header *struct {
		Inner []byte `xml:",innerxml"`
	} `xml:"Header"`
	Body struct {
		List *struct {
			Client struct {
				ClientID  string `xml:"ClientID"`
				Username  string `xml:"Username"`
				Password  string `xml:"Password"`
				StartDate string `xml:"StartDate"`
				EndDate   string `xml:"EndDate"`
			} `xml:"transclient"`
		} `xml:"http://payments.ameriabank.am/ITransactionsInformationService GetTransactionList"`
	} `xml:"Body"`
}

func (b *Bank) transactionList(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/xml") {
		// SOAP 1.2 (application/soap+xml) and anything else.
		http.Error(w, "Cannot process the message because the content type '"+ct+"' was not the expected type 'text/xml; charset=utf-8'.", http.StatusUnsupportedMediaType)
		return
	}
	action := strings.Trim(r.Header.Get("SOAPAction"), `"`)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<16))
	if err != nil {
		http.Error(w, "Bad Request", http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	b.stats.Requests++
	b.mu.Unlock()
	if action != ActionGetTransactionList {
		soapFault(w, "a:ActionNotSupported", "The message with Action '"+action+"' cannot be processed at the receiver.")
		return
	}
	var req listRequest
	if err := xml.Unmarshal(body, &req); err != nil || req.Body.List == nil {
		soapFault(w, "a:DeserializationFailed", "The formatter threw an exception while trying to deserialize the message.")
		return
	}
	if req.Header != nil && strings.Contains(string(req.Header.Inner), "Action") {
		// The manual's envelope, with its mustUnderstand Action header.
		http.Error(w, "Bad Request", http.StatusBadRequest)
		return
	}
	c := req.Body.List.Client
	if !strings.EqualFold(c.ClientID, b.opts.ClientID) || c.Username != b.opts.Username || c.Password != b.opts.Password {
		// How the service refuses credentials was never recorded: a fault.
		soapFault(w, "s:Client", "Incorrect Username and Password")
		return
	}
	from, err1 := time.ParseInLocation(listDate, c.StartDate, Yerevan)
	to, err2 := time.ParseInLocation(listDate, c.EndDate, Yerevan)
	if err1 != nil || err2 != nil || to.Before(from) {
		soapFault(w, "s:Client", "StartDate and EndDate must be yyyy/MM/dd HH:mm")
		return
	}
	b.mu.Lock()
	var rows []Payment
	for _, p := range b.payments {
		at := p.UpdatedAt.In(Yerevan).Truncate(time.Minute)
		if p.State == StateStarted || at.Before(from) || at.After(to) {
			continue
		}
		rows = append(rows, *p)
	}
	b.stats.Lists++
	b.mu.Unlock()
	sort.Slice(rows, func(i, j int) bool { return rows[i].UpdatedAt.Before(rows[j].UpdatedAt) })
	var sb strings.Builder
	sb.WriteString(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header /><s:Body>`)
	sb.WriteString(`<GetTransactionListResponse xmlns="` + soapNS + `">`)
	sb.WriteString(`<GetTransactionListResult xmlns:a="payments.ameriabank.am/TransactionFields" xmlns:i="http://www.w3.org/2001/XMLSchema-instance">`)
	for _, p := range rows {
		field := func(name, value string) { fmt.Fprintf(&sb, "<a:%s>%s</a:%s>", name, html.EscapeString(value), name) }
		sb.WriteString("<a:PaymentFields>")
		field("Amount", major(p.Amount))
		field("ApproveAmount", major(p.Approved))
		field("AuthCode", "422841")
		field("CardNumber", "408306**3143")
		field("ClientName", p.cardholder())
		field("Currency", p.Currency)
		field("DepositAmount", major(p.Deposited))
		sb.WriteString(`<a:Descr i:nil="true" /><a:ErrorMessage i:nil="true" />`)
		field("Opaque", p.Opaque)
		field("OperDate", p.UpdatedAt.In(Yerevan).Format(operDate))
		field("OrderID", fmt.Sprint(p.OrderID))
		field("PaymentID", strings.ToLower(p.PaymentID))
		field("PaymentState", fmt.Sprint(p.State))
		field("PaymentType", "5")
		field("RRN", p.MDOrderID)
		field("RespCode", "00 : Payment Successfully Completed")
		sb.WriteString("<a:Stan />")
		field("TrxnDetails", p.Description)
		sb.WriteString("</a:PaymentFields>")
	}
	sb.WriteString(`</GetTransactionListResult></GetTransactionListResponse></s:Body></s:Envelope>`)
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	io.WriteString(w, sb.String())
}

// major writes minor units as the decimal the bank writes ("5.00").
func major(minor int64) string { return fmt.Sprintf("%d.%02d", minor/100, minor%100) }

func (p Payment) cardholder() string {
	if p.Cardholder != "" {
		return p.Cardholder
	}
	return "SANDBOX BUYER"
}

func soapFault(w http.ResponseWriter, code, msg string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	fmt.Fprintf(w, `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode xmlns:a="http://schemas.microsoft.com/ws/2005/05/addressing/none">%s</faultcode><faultstring xml:lang="en-US">%s</faultstring></s:Fault></s:Body></s:Envelope>`,
		html.EscapeString(code), html.EscapeString(msg))
}

// PayAtBank is a payment paysync never hears of: an OrderID the merchant
// used outside paysync (another shop system, the back office), paid in
// full, amountMinor in currency (AMD, EUR, USD or RUB), with opaque as its
// Opaque. No buyer comes back to a BackURL; only GetTransactionList (and a
// GetPaymentDetails by its PaymentID) shows it.
func (b *Bank) PayAtBank(orderID, amountMinor int64, currency, opaque string) (Payment, error) {
	code, ok := map[string]string{"AMD": "051", "EUR": "978", "USD": "840", "RUB": "643"}[currency]
	if !ok {
		return Payment{}, fmt.Errorf("the bank takes no %s", currency)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, dup := b.byOrder[orderID]; dup {
		return Payment{}, fmt.Errorf("order %d exists already", orderID)
	}
	now := b.now()
	b.seq++
	p := &Payment{PaymentID: newGUID(), OrderID: orderID, Amount: amountMinor, Currency: code, Description: "back office",
		Opaque: opaque, State: StateDeposited, Approved: amountMinor, Deposited: amountMinor, Attempted: true,
		MDOrderID: strconv.FormatInt(400000000000+b.seq, 10), CreatedAt: now, UpdatedAt: now}
	b.payments[p.PaymentID] = p
	b.byOrder[orderID] = p.PaymentID
	return *p, nil
}
