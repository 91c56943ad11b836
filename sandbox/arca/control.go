package arca

import (
	"fmt"
	"net/url"
	"strconv"

	"github.com/paysync/paysync/sandbox/internal/outbound"
)

// Pay deposits the order (orderStatus 2) and sends a "deposited" callback.
func (g *Gateway) Pay(orderNumber string) error {
	return g.change(orderNumber, func(o *Order) (string, string, int64, error) {
		if o.Status != OrderRegistered && o.Status != OrderHeld && o.Status != OrderACS {
			return "", "", 0, fmt.Errorf("order %s has orderStatus %d and cannot be paid", orderNumber, o.Status)
		}
		o.Status, o.ApprovedAmount, o.DepositedAmount, o.PaidAt = OrderDeposited, o.Amount, o.Amount, g.now().UTC()
		return "deposited", "1", o.Amount, nil
	})
}

// PayWith deposits the order as if the buyer had paid amount (minor units)
// in currency (ISO 4217 alphabetic, e.g. "USD"), and sends a "deposited"
// callback: a test of what paysync does with a payment that does not match
// its order.
func (g *Gateway) PayWith(orderNumber string, amount int64, currency string) error {
	code, ok := numericCurrency[currency]
	if !ok {
		return fmt.Errorf("currency %s is not one the gateway takes", currency)
	}
	return g.change(orderNumber, func(o *Order) (string, string, int64, error) {
		if o.Status != OrderRegistered && o.Status != OrderHeld && o.Status != OrderACS {
			return "", "", 0, fmt.Errorf("order %s has orderStatus %d and cannot be paid", orderNumber, o.Status)
		}
		o.Status, o.Amount, o.ApprovedAmount, o.DepositedAmount, o.Currency = OrderDeposited, amount, amount, amount, code
		o.PaidAt = g.now().UTC()
		return "deposited", "1", amount, nil
	})
}

// PayAtBank is a payment paysync never hears of: an order the merchant
// registered elsewhere (the bank's back office, a fixed link, another
// shop system on the same merchant account), paid in full, amount in minor
// units of currency (ISO 4217 alphabetic). No callback is sent; only the
// transaction list (getLastOrdersForMerchants.do) and a lookup show it.
func (g *Gateway) PayAtBank(orderNumber string, amount int64, currency string) (Order, error) {
	code, ok := numericCurrency[currency]
	if !ok {
		return Order{}, fmt.Errorf("currency %s is not one the gateway takes", currency)
	}
	if orderNumber == "" || len(orderNumber) > MaxOrderNumber || amount <= 0 {
		return Order{}, fmt.Errorf("order number %q or amount %d is not one register.do takes", orderNumber, amount)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, dup := g.byNumber[orderNumber]; dup {
		return Order{}, fmt.Errorf("order %s exists already", orderNumber)
	}
	now := g.now().UTC()
	o := &Order{MdOrder: newMdOrder(), OrderNumber: orderNumber, Amount: amount, Currency: code, Status: OrderDeposited,
		ApprovedAmount: amount, DepositedAmount: amount, Description: "Order " + orderNumber, Language: "en", CreatedAt: now, PaidAt: now}
	g.orders[o.MdOrder] = o
	g.byNumber[orderNumber] = o.MdOrder
	g.stats.Registered++
	return *o, nil
}

// numericCurrency maps the currencies the gateway takes to ISO 4217 numeric codes.
var numericCurrency = map[string]string{"AMD": "051", "USD": "840", "EUR": "978", "RUB": "643"}

// Hold pre-authorises the order (orderStatus 1) and sends "approved".
func (g *Gateway) Hold(orderNumber string) error {
	return g.change(orderNumber, func(o *Order) (string, string, int64, error) {
		if o.Status != OrderRegistered && o.Status != OrderACS {
			return "", "", 0, fmt.Errorf("order %s has orderStatus %d and cannot be held", orderNumber, o.Status)
		}
		o.Status, o.ApprovedAmount, o.PaidAt = OrderHeld, o.Amount, g.now().UTC()
		return "approved", "1", -1, nil
	})
}

// Fail declines the order (orderStatus 6) and sends "declinedCardPresent".
func (g *Gateway) Fail(orderNumber string) error {
	return g.change(orderNumber, func(o *Order) (string, string, int64, error) {
		if o.Status != OrderRegistered && o.Status != OrderACS {
			return "", "", 0, fmt.Errorf("order %s has orderStatus %d and cannot be declined", orderNumber, o.Status)
		}
		o.Status = OrderDeclined
		return "declinedCardPresent", "1", -1, nil
	})
}

// Reverse cancels a held (or same-day deposited) payment (orderStatus 3)
// and sends "reversed".
func (g *Gateway) Reverse(orderNumber string) error {
	return g.change(orderNumber, func(o *Order) (string, string, int64, error) {
		if o.Status != OrderHeld && o.Status != OrderDeposited {
			return "", "", 0, fmt.Errorf("order %s has orderStatus %d and cannot be reversed", orderNumber, o.Status)
		}
		o.Status, o.ApprovedAmount = OrderReversed, 0
		return "reversed", "1", -1, nil
	})
}

// Refund returns amount (0: all that is left) of a deposited order
// (orderStatus 4) and sends "refunded" with the amount.
func (g *Gateway) Refund(orderNumber string, amount int64) error {
	return g.change(orderNumber, func(o *Order) (string, string, int64, error) {
		if o.Status != OrderDeposited && o.Status != OrderRefunded {
			return "", "", 0, fmt.Errorf("order %s has orderStatus %d and cannot be refunded", orderNumber, o.Status)
		}
		left := o.DepositedAmount - o.RefundedAmount
		if amount <= 0 {
			amount = left
		}
		if amount > left || amount <= 0 {
			return "", "", 0, fmt.Errorf("refund of %d exceeds the %d left on order %s", amount, left, orderNumber)
		}
		o.Status = OrderRefunded
		o.RefundedAmount += amount
		return "refunded", "1", amount, nil
	})
}

// change applies fn to an order and sends the callback it names; an
// amount of -1 leaves the amount out of the callback.
func (g *Gateway) change(orderNumber string, fn func(o *Order) (op, status string, amount int64, err error)) error {
	g.mu.Lock()
	md, ok := g.byNumber[orderNumber]
	if !ok {
		g.mu.Unlock()
		return fmt.Errorf("no order %s", orderNumber)
	}
	o := g.orders[md]
	op, status, amount, err := fn(o)
	snap := *o
	g.mu.Unlock()
	if err != nil {
		return err
	}
	g.callback(snap, op, status, amount)
	return nil
}

func (g *Gateway) callback(o Order, op, status string, amount int64) {
	p := url.Values{"mdOrder": {o.MdOrder}, "orderNumber": {o.OrderNumber}, "operation": {op}, "status": {status}}
	if amount >= 0 {
		p.Set("amount", strconv.FormatInt(amount, 10))
	}
	switch {
	case g.rsaKey != nil:
		p.Set("checksum", SignRSA(p, g.rsaKey))
		p.Set("sign_alias", "SHA-512 with RSA")
	case g.opts.CallbackKey != "":
		p.Set("checksum", Checksum(p, g.opts.CallbackKey))
		p.Set("sign_alias", "SHA-256")
	}
	id := o.MdOrder + ":" + op + ":" + status
	g.out.Enqueue(outbound.Message{ID: id, Type: op, URL: o.CallbackURL, Request: callbackRequest(g.opts.CallbackMethod, p)})
}

// SendCallback sends a callback about the order with any operation and
// status, without changing the order (e.g. an operation paysync does not know).
func (g *Gateway) SendCallback(orderNumber, operation, status string) error {
	o, ok := g.Order(orderNumber)
	if !ok {
		return fmt.Errorf("no order %s", orderNumber)
	}
	g.callback(o, operation, status, -1)
	return nil
}

func (g *Gateway) addFaults(n int, f fault) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := 0; i < n; i++ {
		g.faults = append(g.faults, f)
	}
}

// FailNext makes the next n REST calls answer HTTP status without doing anything.
func (g *Gateway) FailNext(n, status int) { g.addFaults(n, fault{status: status}) }

// FailMethodNext makes the next n calls of one method (register.do or
// getOrderStatusExtended.do) answer HTTP status.
func (g *Gateway) FailMethodNext(method string, n, status int) {
	g.addFaults(n, fault{status: status, onlyPaths: method})
}

// ErrorNext makes the next n REST calls answer HTTP 200 with an RBS errorCode
// (e.g. "7" system error) without doing anything.
func (g *Gateway) ErrorNext(n int, code, message string) {
	g.addFaults(n, fault{rbsCode: code, rbsMsg: message})
}

// HangNext makes the next n REST calls hang until the client gives up.
func (g *Gateway) HangNext(n int) { g.addFaults(n, fault{hang: true}) }

// DropCallbacks silently drops the next n callbacks.
func (g *Gateway) DropCallbacks(n int) { g.out.Drop(n) }

// DuplicateCallbacks delivers each of the next n callbacks copies times, concurrently.
func (g *Gateway) DuplicateCallbacks(n, copies int) { g.out.Duplicate(n, copies) }

// HoldCallbacks keeps callbacks back until ReleaseCallbacks.
func (g *Gateway) HoldCallbacks() { g.out.Hold() }

// ReleaseCallbacks sends the held callbacks one after another, newest first
// when reverse is set (out-of-order delivery).
func (g *Gateway) ReleaseCallbacks(reverse bool) { g.out.Release(reverse) }
