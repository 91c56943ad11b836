package idram

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxAnswerBody is how much of an answer is kept.
const maxAnswerBody = 512

// call POSTs a form to RESULT_URL and returns the answer, synchronously:
// Idram waits for it while the buyer waits for Idram.
func (d *Double) call(kind, billNo string, form url.Values) Answer {
	d.mu.Lock()
	closed := d.closed
	d.mu.Unlock()
	a := Answer{At: d.now()}
	switch {
	case closed:
		a.Error = "the double is closed"
	case d.opts.ResultURL == "":
		a.Error = "no RESULT_URL configured"
	default:
		a = d.post(form)
	}
	if !a.OK() && d.opts.Logger != nil {
		d.opts.Logger.Warn("sandbox Idram "+kind+" not answered OK (is paysync serving at RESULT_URL?)", "bill", billNo, "url", d.opts.ResultURL, "answer", a.String())
	}
	return a
}

func (d *Double) post(form url.Values) Answer {
	a := Answer{At: d.now()}
	ctx, cancel := context.WithTimeout(context.Background(), d.opts.Client.Timeout+time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.opts.ResultURL, strings.NewReader(form.Encode()))
	if err != nil {
		a.Error = err.Error()
		return a
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := d.opts.Client.Do(req)
	if err != nil {
		a.Error = err.Error()
		return a
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBody))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	a.Status, a.Body = resp.StatusCode, string(body)
	return a
}

// settle is the 16.10.2025 rule for a confirmation's answer: the
// transaction's state and what Idram support would be alerted of.
func settle(a Answer) (state, alert string) {
	switch {
	case a.OK():
		return TxPaid, ""
	case a.Status >= 200 && a.Status < 300:
		return TxCancelled, fmt.Sprintf("the merchant answered %s instead of OK: the transaction is cancelled and the buyer is not charged", a)
	case a.Status == 0:
		return TxPaid, fmt.Sprintf("the merchant gave %s: the payment still counts on Idram's side", a)
	default:
		return TxPaid, fmt.Sprintf("the merchant answered HTTP %d: the payment still counts on Idram's side", a.Status)
	}
}

// newTx registers a transaction of billNo for amount (EDP_AMOUNT as it
// will be sent), signed the way Idram signs. Call with d.mu held.
func (d *Double) newTx(billNo string, minor int64, amount string, pass map[string]string) *Transaction {
	id := ""
	for id == "" || d.txs[id] != nil {
		d.seq++
		id = fmt.Sprintf("%014d", (d.txBase+d.seq)%1e14)
	}
	at := d.now()
	tx := &Transaction{TransID: id, BillNo: billNo, PayerAccount: d.opts.PayerAccount,
		Amount: amount, AmountMinor: minor, Date: at.In(d.yerev).Format("02/01/2006"), State: TxAwaiting, CreatedAt: at}
	tx.Checksum = d.sign(tx, d.opts.SecretKey)
	tx.form = url.Values{}
	for k, v := range pass {
		tx.form.Set(k, v)
	}
	d.txs[tx.TransID], d.order = tx, append(d.order, tx.TransID)
	return tx
}

func (d *Double) sign(tx *Transaction, key string) string {
	sum := Checksum(d.opts.Account, tx.Amount, key, tx.BillNo, tx.PayerAccount, tx.TransID, tx.Date)
	if d.opts.LowerCaseChecksum {
		sum = strings.ToLower(sum)
	}
	return sum
}

// confirm sends a transaction's confirmation (or holds or drops it, as
// the faults say) and settles the transaction by the answer.
func (d *Double) confirm(transID string) Transaction {
	d.mu.Lock()
	tx := d.txs[transID]
	for k, v := range map[string]string{"EDP_BILL_NO": tx.BillNo, "EDP_REC_ACCOUNT": d.opts.Account, "EDP_PAYER_ACCOUNT": tx.PayerAccount,
		"EDP_AMOUNT": tx.Amount, "EDP_TRANS_ID": tx.TransID, "EDP_TRANS_DATE": tx.Date, "EDP_CHECKSUM": tx.Checksum} {
		tx.form.Set(k, v)
	}
	if d.holding {
		d.held = append(d.held, transID)
		out := copyTx(tx)
		d.mu.Unlock()
		return out
	}
	dropped := d.drop > 0
	if dropped {
		d.drop--
	}
	form := cloneValues(tx.form)
	d.mu.Unlock()
	var a Answer
	if dropped {
		a = Answer{At: d.now(), Error: "the confirmation was lost on the way (DropConfirmations)"}
	} else {
		a = d.call("confirmation", tx.BillNo, form)
	}
	return d.record(transID, a)
}

// record keeps a delivery's answer; the latest answer decides the state.
func (d *Double) record(transID string, a Answer) Transaction {
	d.mu.Lock()
	defer d.mu.Unlock()
	tx := d.txs[transID]
	tx.Answers = append(tx.Answers, a)
	tx.State, tx.Alert = settle(a)
	return copyTx(tx)
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// Forge says how a confirmation sent with Confirm departs from the one
// Idram would send.
type Forge struct {
	// AmountMinor is the amount of a bill the double has not seen
	// (required then, unless Amount is set); 0 takes the bill's.
	AmountMinor int64 `json:"amount_minor"`
	// Amount is EDP_AMOUNT as sent and hashed ("" formats the amount as
	// the double's AmountFormat says).
	Amount string `json:"amount"`
	// WrongKey signs with a key that is not the merchant's.
	WrongKey bool `json:"wrong_key"`
	// Checksum, when set, is sent as EDP_CHECKSUM as it is.
	Checksum string `json:"checksum"`
}

// Confirm sends a confirmation of a new transaction of billNo outside any
// checkout: no precheck comes first, as from a faulty or replaying Idram.
// It makes a second payment of a bill already paid, one of a bill never
// prechecked, or one with a bad checksum or another amount.
func (d *Double) Confirm(billNo string, f Forge) (Transaction, error) {
	d.mu.Lock()
	minor, posted := f.AmountMinor, ""
	if b := d.bills[billNo]; b != nil && minor == 0 {
		minor, posted = b.AmountMinor, b.Amount
	}
	amount := f.Amount
	if amount == "" {
		if minor <= 0 {
			d.mu.Unlock()
			return Transaction{}, fmt.Errorf("no Idram bill %s: give the confirmation an amount", billNo)
		}
		amount = d.formatAmount(minor, posted)
	} else if m, err := parseAmount(amount); err == nil && f.AmountMinor == 0 {
		minor = m
	}
	tx := d.newTx(billNo, minor, amount, nil)
	var faults []string
	if b := d.bills[billNo]; b != nil && b.State == BillPaid {
		faults = append(faults, "second payment of a paid bill")
	} else if b == nil || b.State != BillOpen {
		faults = append(faults, "no precheck")
	}
	if f.Amount != "" || f.AmountMinor != 0 {
		faults = append(faults, "amount "+amount)
	}
	switch {
	case f.Checksum != "":
		tx.Checksum = f.Checksum
		faults = append(faults, "checksum given")
	case f.WrongKey:
		tx.Checksum = d.sign(tx, d.opts.SecretKey+"-wrong")
		faults = append(faults, "wrong key")
	}
	tx.Fault = strings.Join(faults, ", ")
	d.mu.Unlock()
	return d.confirm(tx.TransID), nil
}

// PayWithBadChecksum sends a confirmation of billNo signed with the wrong key.
func (d *Double) PayWithBadChecksum(billNo string) (Transaction, error) {
	return d.Confirm(billNo, Forge{WrongKey: true})
}

// PayOtherAmount sends a confirmation of billNo for amount (EDP_AMOUNT as
// sent, "1800.00"), correctly signed over that amount.
func (d *Double) PayOtherAmount(billNo, amount string) (Transaction, error) {
	return d.Confirm(billNo, Forge{Amount: amount})
}

// Redeliver sends a transaction's confirmation again, byte for byte (same
// EDP_TRANS_ID), as a retrying Idram would; its answer settles the
// transaction anew.
func (d *Double) Redeliver(transID string) (Transaction, error) {
	d.mu.Lock()
	tx, ok := d.txs[transID]
	if !ok || tx.form.Get("EDP_CHECKSUM") == "" {
		d.mu.Unlock()
		return Transaction{}, fmt.Errorf("no sent Idram transaction %s", transID)
	}
	form := cloneValues(tx.form)
	billNo := tx.BillNo
	d.mu.Unlock()
	return d.record(transID, d.call("confirmation", billNo, form)), nil
}

// DropConfirmations loses the next n confirmations on the way: paysync
// hears nothing, and Idram, with no answer, counts the payment (alerting
// its support).
func (d *Double) DropConfirmations(n int) {
	d.mu.Lock()
	d.drop += n
	d.mu.Unlock()
}

// HoldConfirmations keeps confirmations back (their transactions await an
// answer) until ReleaseConfirmations.
func (d *Double) HoldConfirmations() {
	d.mu.Lock()
	d.holding = true
	d.mu.Unlock()
}

// ReleaseConfirmations sends the held confirmations one after another,
// newest first when reverse is set, and returns their transactions.
func (d *Double) ReleaseConfirmations(reverse bool) []Transaction {
	d.mu.Lock()
	held := d.held
	d.held, d.holding = nil, false
	d.mu.Unlock()
	if reverse {
		for i, j := 0, len(held)-1; i < j; i, j = i+1, j-1 {
			held[i], held[j] = held[j], held[i]
		}
	}
	var out []Transaction
	for _, id := range held {
		tx := d.confirm(id)
		d.mu.Lock()
		if b := d.bills[tx.BillNo]; b != nil && b.State == BillAwaiting {
			switch tx.State {
			case TxPaid:
				b.State = BillPaid
			case TxCancelled:
				b.State = BillCancelled
			}
		}
		d.mu.Unlock()
		out = append(out, tx)
	}
	return out
}
