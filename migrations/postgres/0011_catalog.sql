-- The catalog (issue 20): what the shop sells, named in each console
-- language, for the console's New order; and the Direct message templates
-- a manager copies into a chat, one per language (none: the built-in text).
CREATE TABLE catalog_items (
    sku         TEXT PRIMARY KEY,
    name_en     TEXT   NOT NULL DEFAULT '',
    name_ru     TEXT   NOT NULL DEFAULT '',
    name_hy     TEXT   NOT NULL DEFAULT '',
    price_minor BIGINT NOT NULL,
    currency    TEXT   NOT NULL,
    fixed_link  TEXT   NOT NULL DEFAULT '',
    updated_at  BIGINT NOT NULL
);

CREATE TABLE message_templates (
    lang        TEXT PRIMARY KEY,
    body        TEXT   NOT NULL,
    updated_at  BIGINT NOT NULL
);
