package arca

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"time"

	"github.com/paysync/paysync/core"
)

// The transaction list for the daily reconciliation is RBS's
// getLastOrdersForMerchants.do (form POST): userName, password, size (at
// most 200 a page), page (from 0), from and to (YYYYMMDDHHmmss),
// transactionStates (CREATED, APPROVED, DEPOSITED, DECLINED, REVERSED,
// REFUNDED, comma-separated), merchants (empty: all the user may see) and
// searchByCreatedDate (false: by payment date). The answer is
// {errorCode, orderStatuses:[…], totalCount, page, pageSize}, each order
// shaped like a getOrderStatusExtended.do answer.
//
// UNCONFIRMED: whether ArCa grants this method to a merchant's API user
// (RBS needs a permission for it: without one the answer is errorCode 5),
// and in which time zone the gateway reads from and to. paysync asks for a
// window wider than the day by listWidening on each side and keeps the
// payments whose own time (authDateTime, else date) is inside the day, so
// the gateway's zone does not matter.
const (
	listPageSize  = 200
	listMaxPages  = 500 // 100,000 payments a day: beyond it the list is refused as incomplete
	listStates    = "APPROVED,DEPOSITED,REVERSED,REFUNDED"
	listWidening  = 14 * time.Hour // the farthest any zone is from UTC
	listTimestamp = "20060102150405"
)

type listResponse struct {
	ErrorCode     flexString    `json:"errorCode"`
	ErrorMessage  string        `json:"errorMessage"`
	OrderStatuses []listedOrder `json:"orderStatuses"`
	TotalCount    flexInt       `json:"totalCount"`
	Page          flexInt       `json:"page"`
	PageSize      flexInt       `json:"pageSize"`
}

type listedOrder struct {
	StatusResponse
	AuthDateTime flexInt `json:"authDateTime"`
}

// ListTransactions reads getLastOrdersForMerchants.do, every page, for the
// payments made in [from, to).
func (p *Provider) ListTransactions(ctx context.Context, from, to time.Time) ([]core.BankTransaction, error) {
	loc := from.Location()
	form := p.auth()
	form.Del("language")
	form.Set("size", strconv.Itoa(listPageSize))
	form.Set("from", from.Add(-listWidening).In(loc).Format(listTimestamp))
	form.Set("to", to.Add(listWidening).In(loc).Format(listTimestamp))
	form.Set("transactionStates", listStates)
	form.Set("merchants", "")
	form.Set("searchByCreatedDate", "false")
	var out []core.BankTransaction
	for page := 0; ; page++ {
		if page >= listMaxPages {
			return nil, core.Errorf(core.EUNAVAILABLE, "ArCa lists more than %d payments for %s; paysync reads no further", listMaxPages*listPageSize, from.Format("2006-01-02"))
		}
		form.Set("page", strconv.Itoa(page))
		lr, err := p.listPage(ctx, form)
		if err != nil {
			return nil, err
		}
		for i := range lr.OrderStatuses {
			tx, ok, err := transactionOf(&lr.OrderStatuses[i])
			if err != nil {
				return nil, err
			}
			if ok && !tx.At.Before(from) && tx.At.Before(to) {
				out = append(out, tx)
			}
		}
		if len(lr.OrderStatuses) == 0 || int64(page+1)*listPageSize >= int64(lr.TotalCount) {
			return out, nil
		}
	}
}

func (p *Provider) listPage(ctx context.Context, form url.Values) (*listResponse, error) {
	const what = "list the day's payments"
	resp, err := p.client.R().SetContext(ctx).SetFormDataFromValues(form).Post("/getLastOrdersForMerchants.do")
	if err := p.transportError(resp, err, what); err != nil {
		return nil, err
	}
	var lr listResponse
	if err := json.Unmarshal(resp.Body(), &lr); err != nil {
		return nil, core.Errorf(core.EUNAVAILABLE, "ArCa answered getLastOrdersForMerchants.do with something paysync cannot read: %v", err)
	}
	if code := string(lr.ErrorCode); code != "" && code != "0" {
		if code == errAccessDenied {
			return nil, core.Errorf(core.EUNAUTHORIZED, "ArCa refused getLastOrdersForMerchants.do (errorCode 5): check PAYSYNC_ARCA_USERNAME and PAYSYNC_ARCA_PASSWORD, and ask the bank to allow this API user the order list (RBS needs a permission for it)")
		}
		return nil, p.rbsError(code, lr.ErrorMessage, what)
	}
	return &lr, nil
}

// transactionOf reads one listed order; ok is false for one that carries no
// payment (registered, declined).
func transactionOf(o *listedOrder) (core.BankTransaction, bool, error) {
	if o.OrderStatus == nil {
		return core.BankTransaction{}, false, core.Errorf(core.EUNAVAILABLE, "ArCa listed order %s without an orderStatus", o.OrderNumber)
	}
	st := int64(*o.OrderStatus)
	tx := core.BankTransaction{Provider: Name, ProviderRef: o.mdOrder(), OrderID: o.OrderNumber, AmountMinor: int64(o.Amount),
		State: "orderStatus=" + strconv.FormatInt(st, 10)}
	if info := o.PaymentAmountInfo; info != nil {
		if info.PaymentState != "" {
			tx.State = info.PaymentState
		}
		if info.ApprovedAmount > 0 {
			tx.AmountMinor = int64(info.ApprovedAmount)
		}
		tx.RefundedMinor = int64(info.RefundedAmount)
	}
	switch st {
	case 2:
		tx.Status = core.StatusPaid
		if tx.RefundedMinor > 0 {
			tx.Status = core.StatusRefunded
		}
	case 4:
		tx.Status = core.StatusRefunded
	case 3, 6:
		tx.Status = core.StatusFailed
	default:
		tx.Status = core.StatusPending
	}
	ms := int64(o.AuthDateTime)
	if ms == 0 {
		ms = int64(o.Date)
	}
	tx.At = time.UnixMilli(ms).UTC()
	if o.Currency != "" {
		cur, ok := core.LookupCurrency(string(o.Currency))
		if !ok {
			return tx, false, core.Errorf(core.EUNAVAILABLE, "ArCa listed order %s in currency %q, which paysync does not know", o.OrderNumber, o.Currency)
		}
		tx.Currency = cur.Code
	}
	if tx.AmountMinor < 0 || tx.RefundedMinor < 0 {
		return tx, false, core.Errorf(core.EUNAVAILABLE, "ArCa listed a negative amount for order %s", o.OrderNumber)
	}
	return tx, tx.MoneyTaken() || tx.Status == core.StatusFailed, nil
}

var _ core.TransactionLister = (*Provider)(nil)
