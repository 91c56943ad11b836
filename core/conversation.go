package core

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// MessagingWindow is how long after a customer's last message Instagram
// lets a business reply, automatically or not: each new message from the
// customer opens it again.
const MessagingWindow = 24 * time.Hour

// HumanAgentWindow is how long after the customer's last message a person
// may still reply with the HUMAN_AGENT tag, where the account has it.
const HumanAgentWindow = 7 * 24 * time.Hour

// MaxConversationText bounds the last text kept of a conversation: what the
// console shows of it, and no more (bytes, cut on a character).
const MaxConversationText = 300

// Conversation is an Instagram Direct thread between the shop and one
// customer, as paysync heard it through webhooks. Nothing of the messages is
// kept beyond what the console shows: the customer's last text, cut short.
type Conversation struct {
	// IGSID is the customer's Instagram-scoped id: what orders carry as
	// customer.id and what the Send API writes to.
	IGSID string `json:"igsid"`
	// Username is the customer's Instagram handle, looked up once through
	// the profile API ("" while unknown, or when Instagram would not say).
	Username string `json:"username,omitempty"`
	// UsernameCheckedAt is when the profile API was asked; zero until then.
	UsernameCheckedAt time.Time `json:"-"`
	// Language is what the customer writes in, read from the script of
	// their last text: hy, ru or en; "" when nothing told.
	Language string `json:"language,omitempty"`
	// LastText is the customer's last message, cut to MaxConversationText bytes
	// ("[photo]" and the like for attachments).
	LastText string `json:"last_text,omitempty"`
	// LastCustomerAt is when the customer last wrote: it opens the
	// messaging window. Zero when only the shop's own messages were seen.
	LastCustomerAt time.Time `json:"last_customer_at,omitzero"`
	// LastMessageAt is the last message either way, the shop's echoes
	// included: how recent the thread is.
	LastMessageAt time.Time `json:"last_message_at"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// WindowEndsAt is when the 24-hour messaging window closes: a day after the
// customer's last message (zero when the customer never wrote). The shop's
// own messages (echoes) do not open it: Meta counts from the customer's.
func (c Conversation) WindowEndsAt() time.Time {
	if c.LastCustomerAt.IsZero() {
		return time.Time{}
	}
	return c.LastCustomerAt.Add(MessagingWindow)
}

// WindowOpen reports whether the shop may write to the customer at now.
func (c Conversation) WindowOpen(now time.Time) bool {
	return !c.LastCustomerAt.IsZero() && now.Before(c.WindowEndsAt())
}

// DirectMessage is one Direct message paysync heard of through a webhook:
// a customer's, or an echo of the shop's own (sent from paysync or from the
// Instagram app). Its MID dedupes redeliveries; an echo keeps the digest of
// its text, never the text, so that a send whose answer was lost can be
// found again.
type DirectMessage struct {
	MID   string
	IGSID string // the customer's, whoever sent the message
	Echo  bool
	// Text is the message's text ("[photo]" and the like for attachments):
	// a customer's becomes the conversation's LastText (cut short); an
	// echo's is kept only as TextDigest.
	Text     string
	Language string // of a customer's text: hy, ru, en, or ""
	At       time.Time
}

// TextDigest is the digest an echo's text is kept and found by.
func TextDigest(text string) string {
	h := sha256.Sum256([]byte(text))
	return hex.EncodeToString(h[:])
}

// DirectSend is what a person's "Send link in Direct" did.
type DirectSend struct {
	MID        string // the message's id at Instagram
	Language   string // hy, ru, en
	HumanAgent bool   // sent with the HUMAN_AGENT tag, after the 24-hour window
	Again      bool   // this form was sent before: nothing new went out
}

// Conversations is what a store keeps of Instagram Direct threads;
// storage.DB has it (core.Store includes it).
type Conversations interface {
	// RecordDirect records one message and updates its conversation in one
	// transaction. A MID seen before changes nothing and returns false with
	// the conversation as it stands. A customer's message moves
	// LastCustomerAt, LastText and Language (unless an older message
	// arrives late); an echo moves only LastMessageAt.
	RecordDirect(ctx context.Context, m DirectMessage) (Conversation, bool, error)
	// GetConversation returns the conversation with igsid; ENOTFOUND when none.
	GetConversation(ctx context.Context, igsid string) (Conversation, error)
	// ListConversations lists conversations, the most recent message first.
	ListConversations(ctx context.Context, limit int) ([]Conversation, error)
	// SetUsername records the profile API's answer for igsid ("" when it
	// would not say), so that it is asked once.
	SetUsername(ctx context.Context, igsid, username string, at time.Time) error
	// FindEcho returns the MID of an echo to igsid whose text has the
	// digest, received at or after since; ENOTFOUND when there is none.
	FindEcho(ctx context.Context, igsid, textDigest string, since time.Time) (string, error)
	// PurgeConversations deletes messages received before olderThan and
	// conversations whose last message came before it.
	PurgeConversations(ctx context.Context, olderThan time.Time) (int64, error)
}
