package core

import (
	"context"
	"time"
)

// CatalogItem is a product or a tariff the shop sells, as a manager picks it
// for a new order: its name in each console language, its price and SKU,
// and optionally the slug of a fixed link (config fixed_links) that sells it.
type CatalogItem struct {
	SKU        string    `json:"sku" db:"sku"`
	NameEN     string    `json:"name_en" db:"name_en"`
	NameRU     string    `json:"name_ru" db:"name_ru"`
	NameHY     string    `json:"name_hy" db:"name_hy"`
	PriceMinor int64     `json:"price_minor" db:"price_minor"`
	Currency   string    `json:"currency" db:"currency"`
	FixedLink  string    `json:"fixed_link,omitempty" db:"fixed_link"`
	UpdatedAt  time.Time `json:"updated_at" db:"-"`
}

// Name is the item's name in lang ("en", "ru", "hy"), falling back to
// another language's when that one is empty.
func (it CatalogItem) Name(lang string) string {
	byLang := map[string]string{"en": it.NameEN, "ru": it.NameRU, "hy": it.NameHY}
	if n := byLang[lang]; n != "" {
		return n
	}
	for _, n := range []string{it.NameHY, it.NameRU, it.NameEN} {
		if n != "" {
			return n
		}
	}
	return it.SKU
}

// Validate checks an item as the console submits it.
func (it *CatalogItem) Validate() error {
	if it.SKU == "" {
		return FieldErrorf("sku", "an item needs a SKU")
	}
	if len(it.SKU) > 64 {
		return FieldErrorf("sku", "a SKU has at most 64 characters")
	}
	if it.NameEN == "" && it.NameRU == "" && it.NameHY == "" {
		return FieldErrorf("name", "an item needs a name in at least one language")
	}
	for _, f := range []struct{ name, v string }{{"sku", it.SKU}, {"name_en", it.NameEN}, {"name_ru", it.NameRU}, {"name_hy", it.NameHY}, {"fixed_link", it.FixedLink}} {
		if err := CheckText(f.name, f.v); err != nil {
			return err
		}
	}
	if err := ValidateMoney(it.PriceMinor, it.Currency); err != nil || it.PriceMinor <= 0 {
		return FieldErrorf("price", "an item needs a price above zero in a known currency")
	}
	return nil
}

// Catalog keeps the shop's items and its Direct message templates;
// storage.DB has it.
type Catalog interface {
	// PutCatalogItem creates or replaces the item with its SKU.
	PutCatalogItem(ctx context.Context, it CatalogItem) error
	DeleteCatalogItem(ctx context.Context, sku string) error
	// ListCatalog lists the items by SKU.
	ListCatalog(ctx context.Context) ([]CatalogItem, error)
	// MessageTemplates returns the edited Direct message templates by
	// language; a language without one uses the built-in text.
	MessageTemplates(ctx context.Context) (map[string]string, error)
	// PutMessageTemplate stores lang's template ("" restores the built-in one).
	PutMessageTemplate(ctx context.Context, lang, body string, now time.Time) error
}
