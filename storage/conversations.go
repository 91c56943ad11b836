package storage

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/paysync/paysync/core"
)

type conversationRow struct {
	IGSID             string `db:"igsid"`
	Username          string `db:"username"`
	UsernameCheckedAt int64  `db:"username_checked_at"`
	Language          string `db:"language"`
	LastText          string `db:"last_text"`
	LastCustomerAt    int64  `db:"last_customer_at"`
	LastMessageAt     int64  `db:"last_message_at"`
	CreatedAt         int64  `db:"created_at"`
	UpdatedAt         int64  `db:"updated_at"`
}

const conversationCols = `igsid, username, username_checked_at, language, last_text, last_customer_at, last_message_at, created_at, updated_at`

func (r conversationRow) conversation() core.Conversation {
	return core.Conversation{IGSID: r.IGSID, Username: r.Username, UsernameCheckedAt: fromMicros(r.UsernameCheckedAt),
		Language: r.Language, LastText: r.LastText, LastCustomerAt: fromMicros(r.LastCustomerAt),
		LastMessageAt: fromMicros(r.LastMessageAt), CreatedAt: fromMicros(r.CreatedAt), UpdatedAt: fromMicros(r.UpdatedAt)}
}

// RecordDirect records one Direct message by its MID (a redelivery changes
// nothing) and brings its conversation up to date, in one transaction. A
// message that arrives after a later one (webhooks are not ordered) moves
// no time backwards and does not replace the later text.
func (db *DB) RecordDirect(ctx context.Context, m core.DirectMessage) (core.Conversation, bool, error) {
	if m.MID == "" || m.IGSID == "" {
		return core.Conversation{}, false, core.Errorf(core.EINVALID, "a Direct message needs its mid and the customer's IGSID")
	}
	m.MID, m.IGSID = core.CleanText(m.MID), core.CleanText(m.IGSID)
	at := micros(m.At)
	if at == 0 {
		at = time.Now().UnixMicro()
	}
	now := time.Now().UnixMicro()
	var conv core.Conversation
	added := false
	err := db.inTx(ctx, func(tx *sqlx.Tx) error {
		digest, echo := "", 0
		if m.Echo {
			digest, echo = core.TextDigest(m.Text), 1
		}
		res, err := tx.ExecContext(ctx, db.q(`INSERT INTO direct_messages (mid, igsid, echo, text_sha256, at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (mid) DO NOTHING`), m.MID, m.IGSID, echo, digest, at)
		if err != nil {
			return db.wrap(err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			added = true
			if m.Echo {
				_, err = tx.ExecContext(ctx, db.q(`INSERT INTO conversations (igsid, last_message_at, created_at, updated_at)
					VALUES (?, ?, ?, ?)
					ON CONFLICT (igsid) DO UPDATE SET
						last_message_at = CASE WHEN excluded.last_message_at > conversations.last_message_at
							THEN excluded.last_message_at ELSE conversations.last_message_at END,
						updated_at = excluded.updated_at`), m.IGSID, at, now, now)
			} else {
				text := core.Shorten(core.CleanText(m.Text), core.MaxConversationText)
				_, err = tx.ExecContext(ctx, db.q(`INSERT INTO conversations
					(igsid, language, last_text, last_customer_at, last_message_at, created_at, updated_at)
					VALUES (?, ?, ?, ?, ?, ?, ?)
					ON CONFLICT (igsid) DO UPDATE SET
						language = CASE WHEN excluded.last_customer_at >= conversations.last_customer_at AND excluded.language <> ''
							THEN excluded.language ELSE conversations.language END,
						last_text = CASE WHEN excluded.last_customer_at >= conversations.last_customer_at
							THEN excluded.last_text ELSE conversations.last_text END,
						last_customer_at = CASE WHEN excluded.last_customer_at > conversations.last_customer_at
							THEN excluded.last_customer_at ELSE conversations.last_customer_at END,
						last_message_at = CASE WHEN excluded.last_message_at > conversations.last_message_at
							THEN excluded.last_message_at ELSE conversations.last_message_at END,
						updated_at = excluded.updated_at`), m.IGSID, core.CleanText(m.Language), text, at, at, now, now)
			}
			if err != nil {
				return db.wrap(err)
			}
		}
		var row conversationRow
		err = tx.GetContext(ctx, &row, db.q(`SELECT `+conversationCols+` FROM conversations WHERE igsid = ?`), m.IGSID)
		if errors.Is(err, sql.ErrNoRows) {
			// A redelivery of a message whose conversation was purged since.
			return notFound("conversation", m.IGSID)
		}
		if err != nil {
			return db.wrap(err)
		}
		conv = row.conversation()
		return nil
	})
	if err != nil {
		return core.Conversation{}, false, err
	}
	return conv, added, nil
}

// GetConversation returns the conversation of a customer.
func (db *DB) GetConversation(ctx context.Context, igsid string) (core.Conversation, error) {
	var row conversationRow
	err := db.r.GetContext(ctx, &row, db.q(`SELECT `+conversationCols+` FROM conversations WHERE igsid = ?`), igsid)
	if errors.Is(err, sql.ErrNoRows) {
		return core.Conversation{}, notFound("conversation", igsid)
	}
	if err != nil {
		return core.Conversation{}, db.wrap(err)
	}
	return row.conversation(), nil
}

// ListConversations lists conversations, the most recent message first.
func (db *DB) ListConversations(ctx context.Context, limit int) ([]core.Conversation, error) {
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	var rows []conversationRow
	err := db.r.SelectContext(ctx, &rows, db.q(`SELECT `+conversationCols+` FROM conversations
		ORDER BY last_message_at DESC, igsid LIMIT ?`), limit)
	if err != nil {
		return nil, db.wrap(err)
	}
	out := make([]core.Conversation, len(rows))
	for i, r := range rows {
		out[i] = r.conversation()
	}
	return out, nil
}

// SetUsername records what the profile API said of a customer.
func (db *DB) SetUsername(ctx context.Context, igsid, username string, at time.Time) error {
	res, err := db.w.ExecContext(ctx, db.q(`UPDATE conversations SET username = ?, username_checked_at = ?, updated_at = ?
		WHERE igsid = ?`), core.CleanText(username), micros(at), time.Now().UnixMicro(), igsid)
	if err != nil {
		return db.wrap(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("conversation", igsid)
	}
	return nil
}

// FindEcho finds an echo of the shop's own message by its text's digest.
func (db *DB) FindEcho(ctx context.Context, igsid, digest string, since time.Time) (string, error) {
	var mid string
	err := db.w.GetContext(ctx, &mid, db.q(`SELECT mid FROM direct_messages
		WHERE igsid = ? AND at >= ? AND echo = 1 AND text_sha256 = ? ORDER BY at LIMIT 1`), igsid, micros(since), digest)
	if errors.Is(err, sql.ErrNoRows) {
		return "", notFound("echo in the thread of", igsid)
	}
	return mid, db.wrap(err)
}

// PurgeConversations deletes the messages received before olderThan and the
// conversations quiet since before it.
func (db *DB) PurgeConversations(ctx context.Context, olderThan time.Time) (int64, error) {
	cut := micros(olderThan)
	var n int64
	err := db.inTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, db.q(`DELETE FROM direct_messages WHERE at < ?`), cut)
		if err != nil {
			return db.wrap(err)
		}
		m, _ := res.RowsAffected()
		res, err = tx.ExecContext(ctx, db.q(`DELETE FROM conversations WHERE last_message_at < ?`), cut)
		if err != nil {
			return db.wrap(err)
		}
		c, _ := res.RowsAffected()
		n = m + c
		return nil
	})
	return n, err
}
