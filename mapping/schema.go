package mapping

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/paysync/paysync/core"
)

// kind is the static type of a source value, known at load so that a typo or
// a type mismatch fails `config check` instead of a delivery.
type kind int

const (
	kAny    kind = iota // free-form (delivery values): checked at render
	kString             // string
	kInt                // int64
	kBool               // bool
	kTime               // time.Time in the mapping's zone, or nil when unset
	kObject             // map[string]any with known keys
	kMap                // map[string]any with any keys (delivery)
	kList               // []any or []string
)

func (k kind) String() string {
	return [...]string{"a free-form value", "a string", "an integer", "a boolean", "a time", "an object", "an object", "a list"}[k]
}

type schema struct {
	label  string // how errors name an object met without a path ("an item")
	kind   kind
	fields map[string]*schema // kObject
	elem   *schema            // kList
}

func obj(fields map[string]*schema) *schema { return &schema{kind: kObject, fields: fields} }

var (
	sString = &schema{kind: kString}
	sInt    = &schema{kind: kInt}
	sBool   = &schema{kind: kBool}
	sTime   = &schema{kind: kTime}
	sAny    = &schema{kind: kAny}
)

var itemSchema = &schema{label: "an item", kind: kObject, fields: map[string]*schema{"sku": sString, "name": sString, "quantity": sInt, "price_minor": sInt}}

// rootSchema lists every source a field or template may read. Keep it in step
// with renderer.base and docs/mapping.md.
var rootSchema = obj(map[string]*schema{
	"order_id":       sString,
	"status":         sString,
	"amount_minor":   sInt,
	"currency":       sString,
	"refunded_minor": sInt,
	"customer": obj(map[string]*schema{
		"handle": sString, "id": sString, "name": sString, "phone": sString, "email": sString,
	}),
	"items":             {kind: kList, elem: itemSchema},
	"delivery":          {kind: kMap},
	"created_at":        sTime,
	"updated_at":        sTime,
	"status_changed_at": sTime,
	"paid_at":           sTime,
	"expires_at":        sTime,
	"provider":          sString,
	"provider_ref":      sString,
	"payment_url":       sString,
	"fixed_link":        sString,
	"reason":            sString,
	"last_reason":       sString,
	"orphan":            sBool,
	"version":           sInt,
	"stage":             sString,
	"tags":              {kind: kList, elem: sString},
})

// transitionSchema is the extra source of status notes: the journal entry being told.
var transitionSchema = obj(map[string]*schema{
	"status_before": sString, "status_after": sString, "verdict": sString, "reason": sString,
	"source": sString, "provider": sString, "event_type": sString, "amount_minor": sInt,
	"currency": sString, "provider_ref": sString, "at": sTime,
})

// with returns s plus extra top-level sources (item/index inside for_each, transition in notes).
func (s *schema) with(extra map[string]*schema) *schema {
	f := make(map[string]*schema, len(s.fields)+len(extra))
	for k, v := range s.fields {
		f[k] = v
	}
	for k, v := range extra {
		f[k] = v
	}
	return obj(f)
}

// resolve walks a dotted path through s. It returns nil and a reason when the
// path cannot exist; kAny/kMap/kTime stop the check (their insides are dynamic).
func (s *schema) resolve(path []string) (*schema, string) {
	cur := s
	for i, p := range path {
		switch cur.kind {
		case kAny, kMap:
			return sAny, ""
		case kTime:
			return sAny, "" // methods such as .Year
		case kObject:
			next, ok := cur.fields[p]
			if !ok {
				if i == 0 {
					switch p {
					case "transition":
						return nil, "unknown source field transition: it exists only in status notes"
					case "item", "index":
						return nil, "unknown source field " + p + ": it exists only inside for_each"
					}
				}
				return nil, fmt.Sprintf("unknown source field %s (%s)", strings.Join(path[:i+1], "."), cur.known(path[:i]))
			}
			cur = next
		default:
			return nil, fmt.Sprintf("%s is %s and has no field %s", strings.Join(path[:i], "."), cur.kind, p)
		}
	}
	return cur, ""
}

func (s *schema) known(prefix []string) string {
	names := make([]string, 0, len(s.fields))
	for k := range s.fields {
		names = append(names, k)
	}
	slices.Sort(names)
	if len(prefix) == 0 {
		if s.label != "" {
			return s.label + " has " + strings.Join(names, ", ")
		}
		return "sources are " + strings.Join(names, ", ")
	}
	return strings.Join(prefix, ".") + " has " + strings.Join(names, ", ")
}

// renderData builds the template/source data of one order: plain maps keyed by
// the API's JSON names, times moved into the mapping's zone.
func renderData(o *core.Order, lastReason string, loc *time.Location) map[string]any {
	// One spelling of the handle, so that templates need not strip "@" each time.
	handle := strings.TrimPrefix(strings.TrimSpace(o.Customer.Handle), "@")
	items := make([]any, len(o.Items))
	for i, it := range o.Items {
		items[i] = map[string]any{"sku": it.SKU, "name": it.Name, "quantity": it.Quantity, "price_minor": it.PriceMinor}
	}
	delivery := o.Shipping
	if delivery == nil {
		delivery = map[string]any{}
	}
	data := make(map[string]any, 32) // room for stage, tags, item, index, transition
	data["order_id"] = o.ID
	data["status"] = string(o.Status)
	data["amount_minor"] = o.AmountMinor
	data["currency"] = o.Currency
	data["refunded_minor"] = o.RefundedMinor
	data["customer"] = map[string]any{
		"handle": handle, "id": o.Customer.ID, "name": o.Customer.Name,
		"phone": o.Customer.Phone, "email": o.Customer.Email,
	}
	data["items"] = items
	data["delivery"] = delivery
	data["created_at"] = timeValue(o.CreatedAt, loc)
	data["updated_at"] = timeValue(o.UpdatedAt, loc)
	data["status_changed_at"] = timeValue(o.StatusChangedAt, loc)
	data["paid_at"] = timePtrValue(o.PaidAt, loc)
	data["expires_at"] = timePtrValue(o.ExpiresAt, loc)
	data["provider"] = o.Provider
	data["provider_ref"] = o.ProviderRef
	data["payment_url"] = o.PaymentURL
	data["fixed_link"] = o.FixedLink
	data["reason"] = o.Reason
	data["last_reason"] = lastReason
	data["orphan"] = o.Orphan
	data["version"] = o.Version
	return data
}

// setTransition fills m with the journal entry a note tells; one map serves
// every note of a render because each note is printed before the next.
func setTransition(m map[string]any, e *core.JournalEntry, loc *time.Location) {
	m["status_before"], m["status_after"] = string(e.StatusBefore), string(e.StatusAfter)
	m["verdict"], m["reason"], m["source"] = string(e.Verdict), e.Reason, e.Source
	m["provider"], m["event_type"], m["provider_ref"] = e.Provider, e.EventType, e.ProviderRef
	m["amount_minor"], m["currency"] = e.AmountMinor, e.Currency
	m["at"] = timeValue(e.CreatedAt, loc)
}

// timeValue turns an unset time into nil, so that it renders empty rather than as year 1.
func timeValue(t time.Time, loc *time.Location) any {
	if t.IsZero() {
		return nil
	}
	return t.In(loc)
}

func timePtrValue(t *time.Time, loc *time.Location) any {
	if t == nil {
		return nil
	}
	return timeValue(*t, loc)
}
