package storage

import (
	"context"
	"time"

	"github.com/paysync/paysync/core"
)

var _ core.Catalog = (*DB)(nil)

// PutCatalogItem creates or replaces an item.
func (db *DB) PutCatalogItem(ctx context.Context, it core.CatalogItem) error {
	_, err := db.w.ExecContext(ctx, db.q(`INSERT INTO catalog_items (sku, name_en, name_ru, name_hy, price_minor, currency, fixed_link, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (sku) DO UPDATE SET name_en = excluded.name_en, name_ru = excluded.name_ru, name_hy = excluded.name_hy,
			price_minor = excluded.price_minor, currency = excluded.currency, fixed_link = excluded.fixed_link, updated_at = excluded.updated_at`),
		it.SKU, it.NameEN, it.NameRU, it.NameHY, it.PriceMinor, it.Currency, it.FixedLink, micros(nowOr(it.UpdatedAt)))
	return db.wrap(err)
}

// DeleteCatalogItem removes an item; orders made with it keep their lines.
func (db *DB) DeleteCatalogItem(ctx context.Context, sku string) error {
	_, err := db.w.ExecContext(ctx, db.q(`DELETE FROM catalog_items WHERE sku = ?`), sku)
	return db.wrap(err)
}

// ListCatalog lists the items by SKU.
func (db *DB) ListCatalog(ctx context.Context) ([]core.CatalogItem, error) {
	var rows []struct {
		core.CatalogItem
		Updated int64 `db:"updated_at"`
	}
	if err := db.r.SelectContext(ctx, &rows, `SELECT sku, name_en, name_ru, name_hy, price_minor, currency, fixed_link, updated_at
		FROM catalog_items ORDER BY sku`); err != nil {
		return nil, db.wrap(err)
	}
	out := make([]core.CatalogItem, len(rows))
	for i, r := range rows {
		out[i] = r.CatalogItem
		out[i].UpdatedAt = fromMicros(r.Updated)
	}
	return out, nil
}

// MessageTemplates returns the edited templates by language.
func (db *DB) MessageTemplates(ctx context.Context) (map[string]string, error) {
	var rows []struct {
		Lang string `db:"lang"`
		Body string `db:"body"`
	}
	if err := db.r.SelectContext(ctx, &rows, `SELECT lang, body FROM message_templates`); err != nil {
		return nil, db.wrap(err)
	}
	out := make(map[string]string, len(rows))
	for _, r := range rows {
		out[r.Lang] = r.Body
	}
	return out, nil
}

// PutMessageTemplate stores a language's template; "" deletes it.
func (db *DB) PutMessageTemplate(ctx context.Context, lang, body string, now time.Time) error {
	if body == "" {
		_, err := db.w.ExecContext(ctx, db.q(`DELETE FROM message_templates WHERE lang = ?`), lang)
		return db.wrap(err)
	}
	_, err := db.w.ExecContext(ctx, db.q(`INSERT INTO message_templates (lang, body, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (lang) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at`), lang, body, micros(now))
	return db.wrap(err)
}
