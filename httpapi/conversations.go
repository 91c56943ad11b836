package httpapi

import (
	"net/http"
	"time"

	"github.com/paysync/paysync/core"
)

// ConversationView is one Instagram Direct conversation as
// GET /v1/conversations shows it: who, and how long the shop may still
// write to them (the 24-hour window after the customer's last message).
type ConversationView struct {
	IGSID          string    `json:"igsid"`
	Username       string    `json:"username"`
	Language       string    `json:"language,omitempty"`
	LastText       string    `json:"last_text,omitempty"`
	LastMessageAt  time.Time `json:"last_message_at"`
	LastCustomerAt time.Time `json:"last_customer_at,omitzero"`
	WindowEndsAt   time.Time `json:"window_ends_at,omitzero"`
	WindowOpen     bool      `json:"window_open"`
}

// ViewConversation is c as the API shows it at now.
func ViewConversation(c core.Conversation, now time.Time) ConversationView {
	return ConversationView{IGSID: c.IGSID, Username: c.Username, Language: c.Language, LastText: c.LastText,
		LastMessageAt: c.LastMessageAt, LastCustomerAt: c.LastCustomerAt, WindowEndsAt: c.WindowEndsAt(), WindowOpen: c.WindowOpen(now)}
}

// listConversations lists the recent Direct conversations, the most recent
// first (?limit=, default 100, at most 500).
func (s *Server) listConversations(w http.ResponseWriter, r *http.Request) {
	cs, err := s.Store.ListConversations(r.Context(), atoi(r.URL.Query().Get("limit"), 100))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	now := s.now()
	out := make([]ConversationView, len(cs))
	for i, c := range cs {
		out[i] = ViewConversation(c, now)
	}
	writeJSON(w, http.StatusOK, map[string]any{"conversations": out})
}
