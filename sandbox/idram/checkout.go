package idram

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// FormError is a checkout form Idram would not take.
type FormError struct{ Reason string }

func (e *FormError) Error() string { return "Idram refuses the payment form: " + e.Reason }

// parseAmount reads EDP_AMOUNT as Idram describes it: "greater than zero.
// Fraction must be separated by period (dot)"; AMD has two decimals.
func parseAmount(s string) (int64, error) {
	if strings.Contains(s, ",") {
		return 0, &FormError{fmt.Sprintf("EDP_AMOUNT %q: the fraction must be separated by a period (dot), not a comma", s)}
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || len(whole) > 15 || len(frac) > 2 || hasDot && frac == "" || !digits(whole) || !digits(frac) {
		return 0, &FormError{fmt.Sprintf("EDP_AMOUNT %q is not an amount such as 1900 or 1900.00", s)}
	}
	n, _ := strconv.ParseInt(whole, 10, 64)
	f, _ := strconv.ParseInt(frac+strings.Repeat("0", 2-len(frac)), 10, 64)
	if n*100+f <= 0 {
		return 0, &FormError{fmt.Sprintf("EDP_AMOUNT %q must be greater than zero", s)}
	}
	return n*100 + f, nil
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Submit is what happens when a buyer's browser posts the checkout form to
// /Payment/GetPayment: the form is checked, the bill registered, and the
// merchant asked (the precheck). The bill comes back open when the
// precheck was answered OK, blocked otherwise; a *FormError is a form
// Idram would refuse before asking anybody.
func (d *Double) Submit(form url.Values) (Bill, error) {
	one := map[string]string{}
	for k, vs := range form {
		if len(vs) != 1 {
			return Bill{}, &FormError{fmt.Sprintf("field %q is given %d times", k, len(vs))}
		}
		if !utf8.ValidString(k) || !utf8.ValidString(vs[0]) {
			return Bill{}, &FormError{"the form is not UTF-8 (post it with accept-charset=\"UTF-8\")"}
		}
		one[k] = vs[0]
	}
	if a := one["EDP_REC_ACCOUNT"]; a != d.opts.Account {
		return Bill{}, &FormError{fmt.Sprintf("EDP_REC_ACCOUNT %q is not a merchant of this Idram (the sandbox merchant is %s)", a, d.opts.Account)}
	}
	billNo := one["EDP_BILL_NO"]
	if strings.TrimSpace(billNo) == "" {
		return Bill{}, &FormError{"EDP_BILL_NO is empty"}
	}
	if len(billNo) > 255 {
		return Bill{}, &FormError{"EDP_BILL_NO is longer than 255 bytes"}
	}
	switch one["EDP_LANGUAGE"] {
	case "RU", "EN", "AM":
	default:
		return Bill{}, &FormError{fmt.Sprintf("EDP_LANGUAGE %q must be RU, EN or AM", one["EDP_LANGUAGE"])}
	}
	if strings.TrimSpace(one["EDP_DESCRIPTION"]) == "" {
		return Bill{}, &FormError{"EDP_DESCRIPTION is empty"}
	}
	amount, err := parseAmount(one["EDP_AMOUNT"])
	if err != nil {
		return Bill{}, err
	}
	pass := map[string]string{}
	for k, v := range one {
		if !strings.HasPrefix(k, "EDP_") {
			pass[k] = v
		}
	}
	if len(pass) == 0 {
		pass = nil
	}

	d.mu.Lock()
	b := d.bills[billNo]
	if b == nil {
		b = &Bill{BillNo: billNo}
		d.bills[billNo] = b
	}
	b.Amount, b.AmountMinor, b.Description, b.Language, b.Email, b.PassBack = one["EDP_AMOUNT"], amount, one["EDP_DESCRIPTION"], one["EDP_LANGUAGE"], one["EDP_EMAIL"], pass
	b.Checkouts++
	b.State, b.Precheck = BillBlocked, Answer{}
	b.UpdatedAt = d.now()
	d.mu.Unlock()

	ans := d.call("precheck", billNo, url.Values{
		"EDP_PRECHECK": {"YES"}, "EDP_BILL_NO": {billNo}, "EDP_REC_ACCOUNT": {d.opts.Account},
		"EDP_AMOUNT": {d.formatAmount(amount, one["EDP_AMOUNT"])},
	})

	d.mu.Lock()
	defer d.mu.Unlock()
	b.Precheck = ans
	if ans.OK() {
		b.State = BillOpen
	}
	b.UpdatedAt = d.now()
	return copyBill(b), nil
}

// Pay is the buyer paying the bill in full (sandbox.Checkout): through
// paysync's payment page and Idram's precheck when no checkout of the bill
// is open, then the confirmation. It fails unless the transaction ends
// paid without an alert; PayBill returns the transaction whatever became
// of it.
func (d *Double) Pay(billNo string) error {
	tx, err := d.PayBill(billNo)
	if err != nil {
		return err
	}
	if tx.State != TxPaid || tx.Alert != "" {
		msg := tx.Alert
		if msg == "" {
			msg = "the confirmation is held back (ReleaseConfirmations sends it)"
		}
		return fmt.Errorf("transaction %s for bill %s is %s at Idram: %s", tx.TransID, billNo, tx.State, msg)
	}
	return nil
}

// PayBill is Pay returning the transaction. An error means no transaction
// was made: no open checkout could be had (paysync's page offers no form,
// or the precheck was not answered OK).
func (d *Double) PayBill(billNo string) (Transaction, error) {
	if b, ok := d.Bill(billNo); !ok || b.State != BillOpen {
		if _, err := d.Open(billNo); err != nil {
			return Transaction{}, err
		}
	}
	d.mu.Lock()
	b := d.bills[billNo]
	if b == nil || b.State != BillOpen {
		st := "unknown"
		if b != nil {
			st = b.State
		}
		d.mu.Unlock()
		return Transaction{}, fmt.Errorf("bill %s is %s at Idram, not open for payment", billNo, st)
	}
	b.State = BillAwaiting // the buyer pressed Pay: not twice
	tx := d.newTx(billNo, b.AmountMinor, d.formatAmount(b.AmountMinor, b.Amount), b.PassBack)
	tx.Prechecked = true
	d.mu.Unlock()
	out := d.confirm(tx.TransID)
	d.mu.Lock()
	switch out.State {
	case TxPaid:
		b.State = BillPaid
	case TxCancelled:
		b.State = BillCancelled
	}
	b.UpdatedAt = d.now()
	d.mu.Unlock()
	return out, nil
}

// Fail is a buyer who leaves Idram's page without paying. Idram tells the
// merchant nothing, so neither does the double: it only notes the bill
// abandoned (sandbox.Checkout's Fail).
func (d *Double) Fail(billNo string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	b := d.bills[billNo]
	if b == nil {
		b = &Bill{BillNo: billNo}
		d.bills[billNo] = b
	}
	if b.State == BillPaid || b.State == BillAwaiting {
		return fmt.Errorf("bill %s is %s at Idram: the buyer can no longer abandon it", billNo, b.State)
	}
	b.State, b.UpdatedAt = BillAbandoned, d.now()
	return nil
}

// ErrNoRefundAPI is Refund's answer.
var ErrNoRefundAPI = errors.New("there is no Idram refund API: refunds are made in the Idram merchant cabinet (or by Idram support), and the merchant's RESULT_URL hears nothing of them")

// Refund always fails: see ErrNoRefundAPI.
func (d *Double) Refund(string, int64) error { return ErrNoRefundAPI }

var (
	formRe  = regexp.MustCompile(`(?is)<form\b[^>]*>.*?</form>`)
	tagRe   = regexp.MustCompile(`(?is)<(form|input)\b[^>]*>`)
	attrRe  = regexp.MustCompile(`(?is)\b([a-z-]+)\s*=\s*"([^"]*)"`)
	titleRe = regexp.MustCompile(`(?is)<h1[^>]*>(.*?)</h1>`)
)

// Open does what a buyer's browser does with the payment link paysync
// sent: it opens PaysyncURL/pay/{bill} and posts the form the page holds to
// Idram (here, to Submit), which prechecks the bill. It fails when the page
// offers no form, the form is not this double's, or the bill is blocked
// (the bill then says what the precheck was answered).
func (d *Double) Open(billNo string) (Bill, error) {
	if d.opts.PaysyncURL == "" {
		return Bill{}, fmt.Errorf("bill %s has no open Idram checkout, and the double has no PaysyncURL to open paysync's payment page at", billNo)
	}
	page := d.opts.PaysyncURL + "/pay/" + url.PathEscape(billNo)
	ctx, cancel := context.WithTimeout(context.Background(), d.opts.Client.Timeout+time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, page, nil)
	if err != nil {
		return Bill{}, err
	}
	req.Header.Set("Accept-Language", d.opts.AcceptLanguage)
	req.Header.Set("Accept", "text/html")
	resp, err := d.opts.Client.Do(req)
	if err != nil {
		return Bill{}, fmt.Errorf("opening paysync's payment page %s: %w", page, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	action, fields := parseForm(string(body))
	if action == "" {
		what := "no heading"
		if m := titleRe.FindStringSubmatch(string(body)); m != nil {
			what = html.UnescapeString(strings.TrimSpace(m[1]))
		}
		return Bill{}, fmt.Errorf("paysync's payment page %s shows no Idram form (HTTP %d, %q)", page, resp.StatusCode, what)
	}
	if !strings.HasSuffix(strings.TrimRight(action, "/"), PaymentPath) || d.opts.PublicURL != "" && action != d.PaymentURL() {
		return Bill{}, fmt.Errorf("paysync's payment form posts to %s, not to this double: set PAYSYNC_IDRAM_PAYMENT_URL=%s", action, d.PaymentURL())
	}
	b, err := d.Submit(fields)
	if err != nil {
		return Bill{}, err
	}
	if b.State != BillOpen {
		return b, fmt.Errorf("bill %s is blocked at Idram: paysync answered Idram's precheck with %s, not HTTP 200 \"OK\"", billNo, b.Precheck)
	}
	return b, nil
}

// parseForm reads the first form of a page: its action and its named
// inputs, unescaped as a browser would.
func parseForm(page string) (string, url.Values) {
	f := formRe.FindString(page)
	if f == "" {
		return "", nil
	}
	action, fields := "", url.Values{}
	for _, tag := range tagRe.FindAllStringSubmatch(f, -1) {
		attrs := map[string]string{}
		for _, a := range attrRe.FindAllStringSubmatch(tag[0], -1) {
			attrs[strings.ToLower(a[1])] = html.UnescapeString(a[2])
		}
		switch strings.ToLower(tag[1]) {
		case "form":
			action = attrs["action"]
		case "input":
			if name := attrs["name"]; name != "" {
				fields.Add(name, attrs["value"])
			}
		}
	}
	return action, fields
}
