package core

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Customer is who the order is for, as known from the Direct conversation.
type Customer struct {
	Handle string `json:"handle,omitempty"` // Instagram handle
	ID     string `json:"id,omitempty"`     // Instagram-scoped user id
	Name   string `json:"name,omitempty"`
	Phone  string `json:"phone,omitempty"`
	Email  string `json:"email,omitempty"`
}

// Item is one line of an order.
type Item struct {
	SKU        string `json:"sku,omitempty"`
	Name       string `json:"name"`
	Quantity   int64  `json:"quantity"`
	PriceMinor int64  `json:"price_minor"`
}

// Order is a Direct order and where its payment stands.
type Order struct {
	ID              string         `json:"order_id" db:"id"`
	Status          Status         `json:"status" db:"status"`
	AmountMinor     int64          `json:"amount_minor" db:"amount_minor"`
	Currency        string         `json:"currency" db:"currency"`
	RefundedMinor   int64          `json:"refunded_minor,omitempty" db:"refunded_minor"`
	Customer        Customer       `json:"customer"`
	Items           []Item         `json:"items"`
	Shipping        map[string]any `json:"delivery,omitempty"` // where and how the goods go (the API's "delivery")
	Provider        string         `json:"provider,omitempty" db:"provider"`
	ProviderRef     string         `json:"provider_ref,omitempty" db:"provider_ref"`
	PaymentURL      string         `json:"payment_url,omitempty" db:"payment_url"`
	FixedLink       string         `json:"fixed_link,omitempty" db:"fixed_link"`
	Orphan          bool           `json:"orphan,omitempty" db:"orphan"`
	Reason          string         `json:"reason,omitempty" db:"reason"` // why it is in manual_review, or the last refusal
	CreatedAt       time.Time      `json:"created_at"`
	UpdatedAt       time.Time      `json:"updated_at"`
	StatusChangedAt time.Time      `json:"status_changed_at"`
	PaidAt          *time.Time     `json:"paid_at,omitempty"`
	ExpiresAt       *time.Time     `json:"expires_at,omitempty"`
	Version         int64          `json:"version" db:"version"`
	// History is what the order remembers of its payment events, to judge
	// later ones (see PaymentHistory); the journal holds the whole story.
	History PaymentHistory `json:"-"`
	// RequestHash identifies the body that created the order, so that a repeat is
	// recognised and a different body under the same id is refused.
	RequestHash string `json:"-" db:"request_hash"`
}

// Money returns the order's amount.
func (o *Order) Money() Money { return Money{o.AmountMinor, o.Currency} }

// refunds says how much of the order is refunded, for journal reasons.
func (o *Order) refunds() string {
	if o.RefundedMinor == 0 {
		return "nothing refunded"
	}
	return Money{o.RefundedMinor, o.Currency}.String() + " of " + o.Money().String() + " refunded"
}

// MaxOrderIDLen bounds order ids so that they fit every provider's field.
const MaxOrderIDLen = 64

// ValidateOrderID refuses ids that providers or CRMs would mangle.
func ValidateOrderID(id string) error {
	if id == "" {
		return Errorf(EINVALID, "order_id is required")
	}
	if len(id) > MaxOrderIDLen {
		return Errorf(EINVALID, "order_id is longer than %d characters", MaxOrderIDLen)
	}
	if !utf8.ValidString(id) {
		return Errorf(EINVALID, "order_id is not valid UTF-8 text")
	}
	for _, r := range id {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return Errorf(EINVALID, "order_id must not contain spaces or control characters")
		}
	}
	return nil
}

// Clean makes every text field storable (see CleanText). Ids that passed
// ValidateOrderID and text that passed CheckText are left as they are.
func (o *Order) Clean() {
	for _, f := range []*string{&o.ID, &o.Currency, &o.Provider, &o.ProviderRef, &o.PaymentURL, &o.FixedLink, &o.Reason, &o.RequestHash,
		&o.Customer.Handle, &o.Customer.ID, &o.Customer.Name, &o.Customer.Phone, &o.Customer.Email} {
		*f = CleanText(*f)
	}
	o.Status = Status(CleanText(string(o.Status)))
	for i := range o.Items {
		o.Items[i].SKU, o.Items[i].Name = CleanText(o.Items[i].SKU), CleanText(o.Items[i].Name)
	}
	for _, m := range []*EventMark{&o.History.Latest, &o.History.Payment, &o.History.Expiry} {
		m.EventID, m.Status = CleanText(m.EventID), Status(CleanText(string(m.Status)))
	}
}

// Validate checks an order as submitted for creation.
func (o *Order) Validate() error {
	if err := ValidateOrderID(o.ID); err != nil {
		return err
	}
	o.Currency = strings.ToUpper(o.Currency)
	if err := ValidateMoney(o.AmountMinor, o.Currency); err != nil {
		return err
	}
	if o.AmountMinor == 0 {
		return Errorf(EINVALID, "amount_minor must be greater than zero")
	}
	for _, f := range []struct{ name, value string }{{"customer.handle", o.Customer.Handle}, {"customer.id", o.Customer.ID},
		{"customer.name", o.Customer.Name}, {"customer.phone", o.Customer.Phone}, {"customer.email", o.Customer.Email},
		{"provider", o.Provider}, {"fixed_link", o.FixedLink}} {
		if err := CheckText(f.name, f.value); err != nil {
			return err
		}
	}
	if err := CheckTextIn("delivery", map[string]any(o.Shipping)); err != nil {
		return err
	}
	var total int64 // of the lines so far; each is at most MaxAmountMinor, so no sum overflows
	for i, it := range o.Items {
		if err := CheckText(fmt.Sprintf("items[%d].sku", i), it.SKU); err != nil {
			return err
		}
		if err := CheckText(fmt.Sprintf("items[%d].name", i), it.Name); err != nil {
			return err
		}
		if it.Quantity <= 0 || it.Quantity > MaxItemQuantity {
			return Errorf(EINVALID, "items[%d].quantity %d must be between 1 and %d", i, it.Quantity, MaxItemQuantity)
		}
		if it.PriceMinor < 0 || it.PriceMinor > MaxAmountMinor {
			return Errorf(EINVALID, "items[%d].price_minor %d must be between 0 and %d", i, it.PriceMinor, MaxAmountMinor)
		}
		if it.PriceMinor > 0 && it.Quantity > MaxAmountMinor/it.PriceMinor {
			return Errorf(EINVALID, "items[%d]: quantity %d × price_minor %d is more than %d, the largest amount paysync takes: check the quantity and the price (in minor units)",
				i, it.Quantity, it.PriceMinor, MaxAmountMinor)
		}
		if total += it.Quantity * it.PriceMinor; total > MaxAmountMinor {
			return Errorf(EINVALID, "the items add up to more than %d minor units, the largest amount paysync takes: check their quantities and prices", MaxAmountMinor)
		}
	}
	return nil
}

// MaxItemQuantity bounds an item's quantity: a shop selling through chats
// never sells a million of one thing in one order, and a bigger quantity is
// a typing mistake (or worse) that would make totals overflow downstream.
const MaxItemQuantity = 1_000_000

// Hash returns a stable digest of the fields a client submits, used to tell a
// repeated create from a conflicting one.
func (o *Order) Hash() string {
	sub := struct {
		ID       string         `json:"order_id"`
		Amount   int64          `json:"amount_minor"`
		Currency string         `json:"currency"`
		Customer Customer       `json:"customer"`
		Items    []Item         `json:"items"`
		Delivery map[string]any `json:"delivery"`
		Provider string         `json:"provider"`
		Fixed    string         `json:"fixed_link"`
	}{o.ID, o.AmountMinor, o.Currency, o.Customer, o.Items, o.Shipping, o.Provider, o.FixedLink}
	b, _ := json.Marshal(sub)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:16])
}

// OrderQuery filters order listings.
type OrderQuery struct {
	Status Status
	Q      string // matches order id, customer handle or phone
	Limit  int
	Before string // order id to page after (exclusive), newest first
}
