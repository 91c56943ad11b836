package core

import (
	"context"
	"time"
)

// SourceReconcile marks journal entries written by the daily
// reconciliation, which compares a provider's list of the day's
// transactions with paysync's orders.
const SourceReconcile = "reconcile"

// PaidAtBankReason begins the reason of an order the daily reconciliation
// created for a payment the provider lists and paysync never heard of.
const PaidAtBankReason = "paid at the bank, not here"

// BankTransaction is one payment as a provider's transaction list shows it.
type BankTransaction struct {
	Provider    string
	ProviderRef string // the provider's own id of the payment (ArCa mdOrder, Ameriabank PaymentID)
	OrderID     string // the merchant's order number the payment was for
	// AmountMinor is what the buyer paid (approved), in minor units; the
	// refunds so far are RefundedMinor.
	AmountMinor   int64
	RefundedMinor int64
	Currency      string // ISO 4217 alphabetic
	// Status is paid, refunded (in part or in full: see RefundedMinor),
	// failed or pending, as the provider's state maps onto paysync's.
	Status Status
	// State is the provider's own word for it ("DEPOSITED", "2"), for the report.
	State string
	// At is when the payment was made (the provider's payment date).
	At time.Time
}

// MoneyTaken reports whether the buyer's money was taken (paid, or paid and
// refunded since).
func (t BankTransaction) MoneyTaken() bool {
	return t.Status == StatusPaid || t.Status == StatusRefunded || t.Status == StatusPartiallyRefunded
}

// TransactionLister is a Provider that lists the payments made in a window
// of time (ArCa's getLastOrdersForMerchants.do), for the daily
// reconciliation. Providers without such a list are not reconciled.
type TransactionLister interface {
	// ListTransactions returns every payment whose payment time is in
	// [from, to), all pages of the provider's list read.
	ListTransactions(ctx context.Context, from, to time.Time) ([]BankTransaction, error)
}

// What the reconciliation found for one payment or order.
const (
	// FindingMatched: the provider and paysync agree.
	FindingMatched = "matched"
	// FindingRecovered: the provider took the payment, paysync's order was
	// still waiting for it (a lost webhook); the payment was applied the
	// normal way.
	FindingRecovered = "recovered"
	// FindingUnknown: a payment for an order paysync does not know; a
	// manual_review order was created for it.
	FindingUnknown = "unknown"
	// FindingMismatch: the provider took another amount or currency than
	// the order's; the order went to manual_review.
	FindingMismatch = "mismatch"
	// FindingInReview: the order is in manual_review already; a person
	// decides.
	FindingInReview = "in_review"
	// FindingFlaggedBefore: a difference an earlier run flagged and a
	// person has settled since; not flagged again.
	FindingFlaggedBefore = "flagged_before"
	// FindingMissingAtBank: paysync has the order paid that day, the
	// provider does not list the payment.
	FindingMissingAtBank = "missing_at_bank"
)

// ReconcileLine is one finding of a reconciliation.
type ReconcileLine struct {
	Finding     string `json:"finding"`
	OrderID     string `json:"order_id"`
	ProviderRef string `json:"provider_ref,omitempty"`
	// The provider's figures (zero when it does not list the payment) and
	// paysync's (zero when it had no such order).
	BankAmountMinor  int64  `json:"bank_amount_minor,omitempty"`
	BankCurrency     string `json:"bank_currency,omitempty"`
	BankState        string `json:"bank_state,omitempty"`
	OrderAmountMinor int64  `json:"order_amount_minor,omitempty"`
	OrderCurrency    string `json:"order_currency,omitempty"`
	OrderStatus      Status `json:"order_status,omitempty"`
	Note             string `json:"note,omitempty"`
}

// ReconcileReport is what one provider's day looked like beside paysync's.
type ReconcileReport struct {
	Provider string `json:"provider"`
	// Day is the shop's calendar day (YYYY-MM-DD in its time zone); From
	// and To bound it.
	Day   string    `json:"day"`
	From  time.Time `json:"from"`
	To    time.Time `json:"to"`
	RanAt time.Time `json:"ran_at"`
	// BankTotals and PaysyncTotals are the day's payments per currency
	// (minor units): what the provider took, what paysync has as paid.
	BankTotals    map[string]int64 `json:"bank_totals"`
	PaysyncTotals map[string]int64 `json:"paysync_totals"`
	BankCount     int              `json:"bank_count"`
	Lines         []ReconcileLine  `json:"lines"`
	// Error, when set, says why the provider could not be asked; the
	// report holds nothing else then.
	Error string `json:"error,omitempty"`
}

// Count returns how many lines have the finding.
func (r ReconcileReport) Count(finding string) int {
	n := 0
	for _, l := range r.Lines {
		if l.Finding == finding {
			n++
		}
	}
	return n
}

// Clean reports whether the day needs nobody: the provider answered and
// every line matched (or was settled by a person before).
func (r ReconcileReport) Clean() bool {
	if r.Error != "" {
		return false
	}
	for _, l := range r.Lines {
		if l.Finding != FindingMatched && l.Finding != FindingFlaggedBefore {
			return false
		}
	}
	return true
}

// ReconcileStore is what a store offers for the daily reconciliation
// (storage.DB has it).
type ReconcileStore interface {
	// PaidOrders lists provider's orders paid in [from, to) (by paid_at)
	// that still count as paid: paid, partially_refunded or refunded.
	PaidOrders(ctx context.Context, provider string, from, to time.Time) ([]Order, error)
	// SaveReconcileReport keeps a report, replacing the one of the same
	// provider and day.
	SaveReconcileReport(ctx context.Context, r ReconcileReport) error
	// ListReconcileReports lists the latest reports, the newest day first.
	ListReconcileReports(ctx context.Context, limit int) ([]ReconcileReport, error)
}
