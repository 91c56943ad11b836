// Package idram is a local double of Idram's merchant interface, for tests,
// the demo and `paysync sandbox`, written from Idram's document (the
// 16.10.2025 revision) and not from paysync's code:
//
//   - POST /Payment/GetPayment takes the checkout form a buyer's browser
//     posts (EDP_LANGUAGE, EDP_REC_ACCOUNT, EDP_DESCRIPTION, EDP_AMOUNT,
//     EDP_BILL_NO, optional EDP_EMAIL), checks it as strictly as Idram
//     describes, and asks the merchant's RESULT_URL first (the precheck:
//     EDP_PRECHECK=YES, EDP_BILL_NO, EDP_REC_ACCOUNT, EDP_AMOUNT). Only an
//     answer of HTTP 200 with the body exactly "OK" opens the bill; anything
//     else blocks it, and the buyer sees a failure page.
//   - Paying an open bill makes a transaction (EDP_TRANS_ID of 14 digits,
//     EDP_TRANS_DATE dd/mm/yyyy, EDP_PAYER_ACCOUNT) and sends the
//     confirmation to RESULT_URL at once, while the buyer waits, signed with
//     EDP_CHECKSUM = MD5(EDP_REC_ACCOUNT:EDP_AMOUNT:SECRET_KEY:EDP_BILL_NO:
//     EDP_PAYER_ACCOUNT:EDP_TRANS_ID:EDP_TRANS_DATE) in upper-case hex. The
//     answer settles it by the 2025 rules: 200 "OK" -> paid; 200 or any
//     other 2xx with another body -> cancelled (the buyer is not charged, and
//     Idram support is alerted); a non-2xx answer or none -> paid all the
//     same, with an alert.
//
// Idram's retry policy after an answer without "OK" is not documented, so
// the double never retries a confirmation: Redeliver sends one again on
// request. Idram has no refund or status API, so neither has the double.
//
// What Idram leaves open, the double makes an option: how EDP_AMOUNT is
// written in its calls (and so hashed: "1900.00" by default, "1900", or as
// the form posted it) and the checksum's hex case.
package idram

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Defaults of a sandbox merchant and buyer.
const (
	DefaultAccount      = "100000114" // the vendor document's example IdramID
	DefaultSecretKey    = "sandbox-idram-secret-key"
	DefaultPayerAccount = "100000001"
	// PaymentPath is where the checkout form posts, as on banking.idram.am.
	PaymentPath = "/Payment/GetPayment"
)

// How the double writes EDP_AMOUNT in its calls to RESULT_URL, and so in
// the checksum: Idram's document says "format 0.00" for the confirmation,
// but what it really sends is not published.
const (
	AmountFixed2   = "0.00"   // "1900.00" (the default)
	AmountWhole    = "0"      // "1900"; luma kept when there are some ("1900.5")
	AmountAsPosted = "posted" // exactly as the checkout form posted it
)

// Bill states.
const (
	BillOpen      = "open"            // the precheck was answered OK: the buyer may pay
	BillBlocked   = "blocked"         // the precheck was not answered OK
	BillAwaiting  = "awaiting_answer" // paid, the confirmation held back (HoldConfirmations)
	BillPaid      = "paid"            // the confirmation's transaction is paid
	BillCancelled = "cancelled"       // the merchant's answer cancelled the transaction
	BillAbandoned = "abandoned"       // the buyer left; Idram tells the merchant nothing
)

// Transaction states.
const (
	TxAwaiting  = "awaiting_answer" // held back, not sent yet
	TxPaid      = "paid"
	TxCancelled = "cancelled"
)

// Options configure the double. The zero value works with the defaults,
// except that without ResultURL every precheck fails.
type Options struct {
	Account   string // the merchant's IdramID (default DefaultAccount)
	SecretKey string // SECRET_KEY (default DefaultSecretKey)
	// ResultURL is the merchant's RESULT_URL, paysync's /webhooks/idram.
	ResultURL string
	// PaysyncURL is where paysync is: Pay opens PaysyncURL/pay/{bill} the
	// way a buyer's browser does, for a bill the double has not seen.
	PaysyncURL string
	// PublicURL is how browsers reach the double (default: from the
	// request's Host): its pages' forms post there, and Pay refuses a
	// paysync form that posts anywhere else.
	PublicURL string
	// PayerAccount is the buyer's Idram wallet (default DefaultPayerAccount).
	PayerAccount string
	// AmountFormat is AmountFixed2 (default), AmountWhole or AmountAsPosted.
	AmountFormat string
	// LowerCaseChecksum sends EDP_CHECKSUM in lower-case hex.
	LowerCaseChecksum bool
	// AcceptLanguage is the buyer's browser language when Pay opens
	// paysync's page (default "en-US,en;q=0.9").
	AcceptLanguage string
	Client         *http.Client
	Now            func() time.Time
	// Logger hears of every call paysync did not answer OK (default: silent).
	Logger *slog.Logger
}

// Answer is what the merchant answered one call.
type Answer struct {
	Status int    `json:"status"` // HTTP status; 0 when there was no answer
	Body   string `json:"body"`   // the body's first 512 bytes
	Error  string `json:"error,omitempty"`
	At     time.Time
}

// OK reports whether the answer is HTTP 200 with the body exactly "OK".
func (a Answer) OK() bool { return a.Status == http.StatusOK && a.Body == "OK" }

func (a Answer) String() string {
	if a.Status == 0 {
		return "no answer (" + a.Error + ")"
	}
	return fmt.Sprintf("HTTP %d %q", a.Status, a.Body)
}

// Bill is one checkout: the form a buyer posted, and where it stands. A
// bill number posted again starts a new checkout of the same bill.
type Bill struct {
	BillNo      string `json:"bill_no"`
	Amount      string `json:"amount"` // EDP_AMOUNT as the form posted it
	AmountMinor int64  `json:"amount_minor"`
	Description string `json:"description,omitempty"`
	Language    string `json:"language,omitempty"`
	Email       string `json:"email,omitempty"`
	// PassBack are the form's fields without the EDP_ prefix, which Idram
	// sends back with the confirmation.
	PassBack  map[string]string `json:"pass_back,omitempty"`
	State     string            `json:"state"`
	Precheck  Answer            `json:"precheck"`
	Checkouts int               `json:"checkouts"`
	UpdatedAt time.Time         `json:"updated_at"`
}

// Transaction is one payment and every delivery of its confirmation.
type Transaction struct {
	TransID      string `json:"trans_id"`
	BillNo       string `json:"bill_no"`
	PayerAccount string `json:"payer_account"`
	Amount       string `json:"amount"` // EDP_AMOUNT as sent
	AmountMinor  int64  `json:"amount_minor"`
	Date         string `json:"date"`
	Checksum     string `json:"checksum"`
	// Prechecked: the payment went through a checkout whose precheck was
	// answered OK (false for one sent with Confirm).
	Prechecked bool   `json:"prechecked"`
	Fault      string `json:"fault,omitempty"` // the fault it was sent with
	State      string `json:"state"`
	// Alert is what Idram would e-mail its support about the latest answer.
	Alert     string    `json:"alert,omitempty"`
	Answers   []Answer  `json:"answers"` // one per delivery, oldest first
	CreatedAt time.Time `json:"created_at"`

	form url.Values // the confirmation as sent, for Redeliver
}

// Double is the Idram double; it is an http.Handler to mount at the root
// of a server (or under a prefix with http.StripPrefix and PublicURL set).
type Double struct {
	opts  Options
	now   func() time.Time
	mux   *http.ServeMux
	yerev *time.Location

	mu      sync.Mutex
	bills   map[string]*Bill
	txs     map[string]*Transaction
	order   []string // transaction ids, oldest first
	seq     int64
	txBase  int64
	drop    int
	holding bool
	held    []string // transaction ids held back
	closed  bool
}

// New returns a double.
func New(o Options) *Double {
	if o.Account == "" {
		o.Account = DefaultAccount
	}
	if o.SecretKey == "" {
		o.SecretKey = DefaultSecretKey
	}
	if o.PayerAccount == "" {
		o.PayerAccount = DefaultPayerAccount
	}
	switch o.AmountFormat {
	case AmountFixed2, AmountWhole, AmountAsPosted:
	default:
		o.AmountFormat = AmountFixed2
	}
	if o.AcceptLanguage == "" {
		o.AcceptLanguage = "en-US,en;q=0.9"
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	o.PublicURL = strings.TrimRight(o.PublicURL, "/")
	o.PaysyncURL = strings.TrimRight(o.PaysyncURL, "/")
	now := o.Now
	if now == nil {
		now = time.Now
	}
	d := &Double{opts: o, now: now, bills: map[string]*Bill{}, txs: map[string]*Transaction{},
		yerev: time.FixedZone("AMT", 4*60*60)} // Yerevan: UTC+4, no summer time
	// Transaction ids are 14 digits: the start time in milliseconds, cut to
	// ten digits, then a four-digit count.
	d.txBase = now().UnixMilli() % 1e10 * 1e4
	d.routes()
	return d
}

// ServeHTTP serves the checkout and the /_sandbox/ controls.
func (d *Double) ServeHTTP(w http.ResponseWriter, r *http.Request) { d.mux.ServeHTTP(w, r) }

// Close makes later calls to paysync fail; calls in flight finish.
func (d *Double) Close() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
}

// Account and SecretKey are the merchant's credentials, for paysync's settings.
func (d *Double) Account() string   { return d.opts.Account }
func (d *Double) SecretKey() string { return d.opts.SecretKey }

// PaymentURL is where paysync's form must post (PublicURL/Payment/GetPayment).
func (d *Double) PaymentURL() string { return d.opts.PublicURL + PaymentPath }

// Bill returns a bill by number.
func (d *Double) Bill(billNo string) (Bill, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	b, ok := d.bills[billNo]
	if !ok {
		return Bill{}, false
	}
	return copyBill(b), true
}

// Bills lists every bill, in no particular order.
func (d *Double) Bills() []Bill {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]Bill, 0, len(d.bills))
	for _, b := range d.bills {
		out = append(out, copyBill(b))
	}
	return out
}

// Transaction returns a transaction by EDP_TRANS_ID.
func (d *Double) Transaction(transID string) (Transaction, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	tx, ok := d.txs[transID]
	if !ok {
		return Transaction{}, false
	}
	return copyTx(tx), true
}

// Transactions lists every transaction, oldest first; with billNo set,
// only that bill's.
func (d *Double) Transactions(billNo string) []Transaction {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Transaction
	for _, id := range d.order {
		if tx := d.txs[id]; billNo == "" || tx.BillNo == billNo {
			out = append(out, copyTx(tx))
		}
	}
	return out
}

func copyBill(b *Bill) Bill {
	c := *b
	if b.PassBack != nil {
		c.PassBack = make(map[string]string, len(b.PassBack))
		for k, v := range b.PassBack {
			c.PassBack[k] = v
		}
	}
	return c
}

func copyTx(tx *Transaction) Transaction {
	c := *tx
	c.Answers = append([]Answer(nil), tx.Answers...)
	c.form = nil
	return c
}

// Checksum is EDP_CHECKSUM as Idram computes it, in upper-case hex. It is
// written independently of providers/idram so that the two check each other.
func Checksum(account, amount, secretKey, billNo, payerAccount, transID, transDate string) string {
	sum := md5.Sum([]byte(account + ":" + amount + ":" + secretKey + ":" + billNo + ":" + payerAccount + ":" + transID + ":" + transDate))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// formatAmount writes minor units as the double's AmountFormat says;
// posted is the form's own string.
func (d *Double) formatAmount(minor int64, posted string) string {
	fixed := fmt.Sprintf("%d.%02d", minor/100, minor%100)
	switch d.opts.AmountFormat {
	case AmountAsPosted:
		if posted != "" {
			return posted
		}
		return fixed
	case AmountWhole:
		return strings.TrimSuffix(strings.TrimRight(fixed, "0"), ".")
	}
	return fixed
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
