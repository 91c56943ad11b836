package payments

import (
	"context"
	"fmt"
	"time"

	"github.com/paysync/paysync/core"
)

// Daily reconciliation: each provider that lists its transactions
// (core.TransactionLister) is asked for the payments of one day of the
// shop's calendar, and the list is set beside paysync's orders:
//
//   - a payment for an order paysync does not know becomes a manual_review
//     order ("paid at the bank, not here"), journaled like any orphan
//     payment;
//   - a payment of an order still waiting for it (a webhook that never
//     came) is applied the normal way, as a verified event;
//   - a payment of another amount or currency than its order's is applied
//     the same way, which sends the order to manual_review: nothing is
//     overwritten;
//   - paysync's orders paid that day that the provider does not list are
//     reported.
//
// A run writes only what changes an order, under an event id of its own
// (reconcile:<provider>:<reference>): a second run finds the orders as the
// first left them and writes nothing but its report, which replaces the
// first run's. A difference a person has settled since it was flagged is
// not flagged again.

// ReconcileEventID names the event the daily reconciliation applies for a
// provider's payment.
func ReconcileEventID(provider, ref string) string { return "reconcile:" + provider + ":" + ref }

// Listers are the enabled providers that list their transactions, by name.
func (s *Service) Listers() []string {
	var out []string
	for _, name := range s.names {
		if _, ok := s.providers[name].(core.TransactionLister); ok {
			out = append(out, name)
		}
	}
	return out
}

// DayBounds is the shop's calendar day of t in loc: [from, to).
func DayBounds(day time.Time, loc *time.Location) (from, to time.Time) {
	y, m, d := day.Date()
	from = time.Date(y, m, d, 0, 0, 0, 0, loc)
	return from, from.AddDate(0, 0, 1)
}

// ReconcileDay reconciles day (its date, in the shop's time zone loc) for
// every provider that lists its transactions, keeps each report, and
// returns them sorted by provider. A provider that cannot be asked gets a
// report with Error set; the error returned is paysync's own (its database).
func (s *Service) ReconcileDay(ctx context.Context, day time.Time, loc *time.Location) ([]core.ReconcileReport, error) {
	rs, ok := s.store.(core.ReconcileStore)
	if !ok {
		return nil, core.Errorf(core.EINTERNAL, "this store keeps no reconciliation reports")
	}
	from, to := DayBounds(day, loc)
	var out []core.ReconcileReport
	for _, name := range s.Listers() {
		r, err := s.reconcileProvider(ctx, rs, name, from, to)
		if err != nil {
			return out, err
		}
		if err := rs.SaveReconcileReport(ctx, r); err != nil {
			return out, err
		}
		s.log.Info("daily reconciliation", "provider", name, "day", r.Day, "bank_payments", r.BankCount,
			"unknown", r.Count(core.FindingUnknown), "mismatch", r.Count(core.FindingMismatch),
			"recovered", r.Count(core.FindingRecovered), "missing_at_bank", r.Count(core.FindingMissingAtBank), "error", r.Error)
		out = append(out, r)
	}
	return out, nil
}

func (s *Service) reconcileProvider(ctx context.Context, rs core.ReconcileStore, name string, from, to time.Time) (core.ReconcileReport, error) {
	r := core.ReconcileReport{Provider: name, Day: from.Format("2006-01-02"), From: from.UTC(), To: to.UTC(), RanAt: s.now().UTC(),
		BankTotals: map[string]int64{}, PaysyncTotals: map[string]int64{}, Lines: []core.ReconcileLine{}}
	txs, err := s.providers[name].(core.TransactionLister).ListTransactions(ctx, from, to)
	if err != nil {
		r.Error = s.displayName(name) + ": " + core.ErrorMessage(err)
		return r, nil
	}
	listed := map[string]bool{} // order ids and references of the payments the provider took
	for _, tx := range txs {
		if !tx.MoneyTaken() {
			continue
		}
		tx.Provider = name
		r.BankCount++
		r.BankTotals[tx.Currency] += tx.AmountMinor
		listed[tx.OrderID] = true
		if tx.ProviderRef != "" {
			listed["ref:"+tx.ProviderRef] = true
		}
		line, err := s.reconcilePayment(ctx, tx)
		if err != nil {
			return r, err
		}
		r.Lines = append(r.Lines, line)
	}
	paid, err := rs.PaidOrders(ctx, name, from, to)
	if err != nil {
		return r, err
	}
	for _, o := range paid {
		r.PaysyncTotals[o.Currency] += o.AmountMinor
		if listed[o.ID] || (o.ProviderRef != "" && listed["ref:"+o.ProviderRef]) {
			continue
		}
		r.Lines = append(r.Lines, core.ReconcileLine{Finding: core.FindingMissingAtBank, OrderID: o.ID, ProviderRef: o.ProviderRef,
			OrderAmountMinor: o.AmountMinor, OrderCurrency: o.Currency, OrderStatus: o.Status,
			Note: fmt.Sprintf("paysync has it %s since %s; %s does not list the payment that day", o.Status, o.PaidAt.In(from.Location()).Format("15:04"), s.displayName(name))})
	}
	return r, nil
}

// reconcilePayment sets one payment the provider took beside its order.
func (s *Service) reconcilePayment(ctx context.Context, tx core.BankTransaction) (core.ReconcileLine, error) {
	title := s.displayName(tx.Provider)
	bank := core.Money{AmountMinor: tx.AmountMinor, Currency: tx.Currency}
	line := core.ReconcileLine{OrderID: tx.OrderID, ProviderRef: tx.ProviderRef, BankAmountMinor: tx.AmountMinor,
		BankCurrency: tx.Currency, BankState: tx.State}
	ref := tx.ProviderRef
	if ref == "" {
		ref = tx.OrderID
	}
	ev := core.PaymentEvent{Provider: tx.Provider, EventID: ReconcileEventID(tx.Provider, ref), Type: "reconcile:" + tx.State,
		OrderID: tx.OrderID, Status: core.StatusPaid, AmountMinor: tx.AmountMinor, Currency: tx.Currency, ProviderRef: tx.ProviderRef,
		OccurredAt: tx.At, Source: core.SourceReconcile, Verified: true}
	o, found, err := s.findOrder(ctx, tx, ev.EventID)
	if err != nil {
		return line, err
	}
	if !found {
		ev.ReviewReason = fmt.Sprintf("%s: %s lists %s paid at %s (reference %s) for order %s, which paysync never had; find the order and settle it",
			core.PaidAtBankReason, title, bank, tx.At.UTC().Format(time.RFC3339), ref, tx.OrderID)
		out, err := s.ledger.ApplyEvent(ctx, ev)
		if err != nil {
			return line, err
		}
		line.Finding, line.Note = core.FindingUnknown, core.PaidAtBankReason
		if out.Order != nil {
			line.OrderID, line.OrderStatus = out.Order.ID, out.Order.Status
		}
		return line, nil
	}
	line.OrderID, line.OrderAmountMinor, line.OrderCurrency, line.OrderStatus = o.ID, o.AmountMinor, o.Currency, o.Status
	same := o.AmountMinor == tx.AmountMinor && o.Currency == tx.Currency
	switch {
	case o.Provider != "" && o.Provider != tx.Provider:
		// The bank's order number is an order of another provider's here:
		// nothing of this payment is applied to it; a person looks.
		line.Finding = core.FindingMismatch
		line.Note = fmt.Sprintf("%s lists %s for order %s, which paysync has with %s; nothing was changed", title, bank, o.ID, s.displayName(o.Provider))
		return line, nil
	case o.Status == core.StatusManualReview:
		line.Finding, line.Note = core.FindingInReview, o.Reason
		return line, nil
	case same && o.Status.HasPayment():
		line.Finding = core.FindingMatched
		return line, nil
	case !same:
		flagged, err := s.journaled(ctx, o.ID, ev.EventID)
		if err != nil {
			return line, err
		}
		if flagged {
			line.Finding, line.Note = core.FindingFlaggedBefore, "flagged by an earlier run and settled by a person since"
			return line, nil
		}
	}
	out, err := s.ledger.ApplyEvent(ctx, ev)
	if err != nil {
		return line, err
	}
	line.Finding, line.Note = core.FindingRecovered, out.Reason
	if !same {
		line.Finding = core.FindingMismatch
		line.Note = fmt.Sprintf("%s took %s, the order is %s", title, bank, o.Money())
		if out.Reason != "" {
			line.Note += ": " + out.Reason
		}
	}
	if out.Order != nil {
		line.OrderStatus = out.Order.Status
	}
	return line, nil
}

// findOrder finds the order of a listed payment: by its order number, or,
// for a number paysync cannot take as an order id, the orphan order an
// earlier run made of it.
func (s *Service) findOrder(ctx context.Context, tx core.BankTransaction, eventID string) (core.Order, bool, error) {
	ids := []string{tx.OrderID}
	if core.ValidateOrderID(tx.OrderID) != nil {
		ids = []string{"orphan-" + tx.Provider + "-" + eventID}
	}
	for _, id := range ids {
		o, err := s.store.GetOrder(ctx, id)
		if err == nil {
			return o, true, nil
		}
		if core.ErrorCode(err) != core.ENOTFOUND {
			return core.Order{}, false, err
		}
	}
	return core.Order{}, false, nil
}

// journaled reports whether the order's journal holds the event.
func (s *Service) journaled(ctx context.Context, orderID, eventID string) (bool, error) {
	js, err := s.store.ListJournal(ctx, orderID)
	if err != nil {
		return false, err
	}
	for _, j := range js {
		if j.EventID == eventID {
			return true, nil
		}
	}
	return false, nil
}
