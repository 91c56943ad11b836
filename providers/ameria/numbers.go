package ameria

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/paysync/paysync/core"
)

// Range is the bank's OrderID range for the merchant, FROM-TO inclusive.
// In the test environment the bank assigns one (2350301-2350400, say) and
// refuses numbers outside it; live, any number unique per merchant works,
// and a range keeps paysync's numbers apart from other systems'.
type Range struct{ From, To int64 }

// ExampleRange is the range of the bank's example onboarding e-mail.
const ExampleRange = "2350301-2350400"

// ParseRange reads FROM-TO.
func ParseRange(s string) (Range, error) {
	from, to, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return Range{}, fmt.Errorf("%q is not a range FROM-TO such as %s", s, ExampleRange)
	}
	f, err1 := strconv.ParseInt(strings.TrimSpace(from), 10, 64)
	t, err2 := strconv.ParseInt(strings.TrimSpace(to), 10, 64)
	switch {
	case err1 != nil || err2 != nil:
		return Range{}, fmt.Errorf("%q is not a range FROM-TO of whole numbers such as %s", s, ExampleRange)
	case f <= 0 || t <= 0:
		return Range{}, fmt.Errorf("%q: order numbers are positive", s)
	case f > t:
		return Range{}, fmt.Errorf("%q: FROM is larger than TO", s)
	}
	return Range{From: f, To: t}, nil
}

func (r Range) String() string {
	return strconv.FormatInt(r.From, 10) + "-" + strconv.FormatInt(r.To, 10)
}

// StateStore is the part of core.Store the order numbers are kept in:
// compare-and-swap key/value state, under the namespace "ameria".
type StateStore interface {
	GetState(ctx context.Context, connector, key string) (value string, version int64, err error)
	PutState(ctx context.Context, connector, key, value string, expectedVersion int64) error
}

// numbers hands out the bank's OrderIDs. Three kinds of keys, all created
// with insert-if-absent so that replicas and restarts agree:
//
//	order/<order id>  -> number   the order's number, reused by every retry
//	number/<number>   -> order id who holds a number: unique across orders
//	next/<FROM-TO>    -> number   where to start looking (a hint, moved by CAS)
//
// A number is claimed (number/…) before the order is bound to it
// (order/…); an allocation interrupted between the two, or lost to a
// concurrent one for the same order, leaves a number unused. That is
// harmless: the bank only needs numbers never to repeat.
type numbers struct {
	store StateStore
	r     Range
}

func orderKey(id string) string   { return "order/" + id }
func numberKey(n int64) string    { return "number/" + strconv.FormatInt(n, 10) }
func (n numbers) nextKey() string { return "next/" + n.r.String() }
func (n numbers) noStore() error {
	return core.Errorf(core.EUNAVAILABLE, "the Ameriabank adapter has no database to keep order numbers in (it was built for a configuration check)")
}

// stateError is a state read or write that failed for another reason than a
// concurrent change.
func stateError(what string, err error) error {
	return &core.Error{Code: core.EUNAVAILABLE, Message: "paysync could not " + what + " in its database; it is tried again", Err: err}
}

// of returns the number allocated to an order, if any.
func (n numbers) of(ctx context.Context, orderID string) (int64, bool, error) {
	if n.store == nil {
		return 0, false, n.noStore()
	}
	v, _, err := n.store.GetState(ctx, Name, orderKey(orderID))
	switch {
	case core.ErrorCode(err) == core.ENOTFOUND:
		return 0, false, nil
	case err != nil:
		return 0, false, stateError("read the Ameriabank order number of order "+orderID, err)
	}
	num, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, false, core.Errorf(core.EINTERNAL, "the Ameriabank order number kept for order %s is %q, not a number", orderID, v)
	}
	return num, true, nil
}

// orderOf returns the order that holds a number, if any.
func (n numbers) orderOf(ctx context.Context, num int64) (string, bool, error) {
	if n.store == nil {
		return "", false, n.noStore()
	}
	v, _, err := n.store.GetState(ctx, Name, numberKey(num))
	switch {
	case core.ErrorCode(err) == core.ENOTFOUND:
		return "", false, nil
	case err != nil:
		return "", false, stateError("read who holds Ameriabank order number "+strconv.FormatInt(num, 10), err)
	}
	return v, true, nil
}

// allocate returns the order's number: the one it already has, else the
// first free number of the range, claimed for it.
func (n numbers) allocate(ctx context.Context, orderID string) (int64, error) {
	if num, ok, err := n.of(ctx, orderID); err != nil || ok {
		return num, err
	}
	start, version := n.r.From, int64(0)
	v, ver, err := n.store.GetState(ctx, Name, n.nextKey())
	switch {
	case err == nil:
		version = ver
		if next, perr := strconv.ParseInt(v, 10, 64); perr == nil && next > start {
			start = next
		}
	case core.ErrorCode(err) != core.ENOTFOUND:
		return 0, stateError("read the next Ameriabank order number", err)
	}
	num := start
	for ; ; num++ {
		if num > n.r.To {
			return 0, core.Errorf(core.EUNAVAILABLE, "every Ameriabank order number of the range %s is used: ask the bank for a new range and set PAYSYNC_AMERIA_ORDER_IDS (providers.ameria.order_ids) to it", n.r)
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		err := n.store.PutState(ctx, Name, numberKey(num), orderID, 0)
		if err == nil {
			break
		}
		if core.ErrorCode(err) != core.ESTALE {
			return 0, stateError("claim Ameriabank order number "+strconv.FormatInt(num, 10), err)
		}
		// Taken; by this very order when an earlier attempt stopped halfway.
		if holder, ok, err := n.orderOf(ctx, num); err != nil {
			return 0, err
		} else if ok && holder == orderID {
			break
		}
	}
	// Only a hint for the next allocation: losing this race costs the
	// next one a few taken numbers, nothing more.
	if err := n.store.PutState(ctx, Name, n.nextKey(), strconv.FormatInt(num+1, 10), version); err != nil && core.ErrorCode(err) != core.ESTALE {
		return 0, stateError("move the next Ameriabank order number on", err)
	}
	err = n.store.PutState(ctx, Name, orderKey(orderID), strconv.FormatInt(num, 10), 0)
	switch {
	case err == nil:
		return num, nil
	case core.ErrorCode(err) == core.ESTALE:
		// Another replica numbered the same order meanwhile: use its number.
		got, ok, err := n.of(ctx, orderID)
		if err != nil {
			return 0, err
		}
		if !ok {
			return 0, core.Errorf(core.EUNAVAILABLE, "the Ameriabank order number of order %s changed while it was being allocated; try again", orderID)
		}
		return got, nil
	default:
		return 0, stateError("keep the Ameriabank order number of order "+orderID, err)
	}
}
