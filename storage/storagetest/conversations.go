package storagetest

import (
	"strings"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
)

// testConversations: a customer's message opens a conversation and its
// window; a redelivered mid changes nothing; a message arriving late moves
// nothing backwards; an echo moves only the thread's last message time and
// is found again by its text's digest; the profile answer is kept; the
// list is most recent first; retention deletes what is older.
func testConversations(t *testing.T, open Factory) {
	s := open(t, nil)
	t0 := time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Microsecond)
	if _, err := s.GetConversation(ctx, "1784"); core.ErrorCode(err) != core.ENOTFOUND {
		t.Fatalf("an unknown conversation: %v, want ENOTFOUND", err)
	}
	c, added, err := s.RecordDirect(ctx, core.DirectMessage{MID: "m-1", IGSID: "1784", Text: "Բարև, կա՞ կարմիր շարֆ", Language: "hy", At: t0})
	if err != nil || !added {
		t.Fatalf("first message: added %v, %v", added, err)
	}
	if c.IGSID != "1784" || c.LastText != "Բարև, կա՞ կարմիր շարֆ" || c.Language != "hy" || !c.LastCustomerAt.Equal(t0) ||
		!c.LastMessageAt.Equal(t0) || !c.WindowEndsAt().Equal(t0.Add(core.MessagingWindow)) || c.Username != "" {
		t.Fatalf("conversation after the first message: %+v", c)
	}
	if !c.WindowOpen(t0.Add(23*time.Hour)) || c.WindowOpen(t0.Add(25*time.Hour)) {
		t.Fatalf("window of %+v: open after 23h %v, after 25h %v", c, c.WindowOpen(t0.Add(23*time.Hour)), c.WindowOpen(t0.Add(25*time.Hour)))
	}
	// The same mid again (Meta redelivers) changes nothing.
	again, added, err := s.RecordDirect(ctx, core.DirectMessage{MID: "m-1", IGSID: "1784", Text: "changed", Language: "en", At: t0.Add(time.Hour)})
	if err != nil || added || again.LastText != c.LastText || !again.LastCustomerAt.Equal(t0) {
		t.Fatalf("a redelivered mid: added %v, %+v, %v", added, again, err)
	}
	// A later message, then an older one arriving late.
	t1 := t0.Add(30 * time.Minute)
	if _, _, err := s.RecordDirect(ctx, core.DirectMessage{MID: "m-2", IGSID: "1784", Text: "Можно оплатить картой?", Language: "ru", At: t1}); err != nil {
		t.Fatal(err)
	}
	late, added, err := s.RecordDirect(ctx, core.DirectMessage{MID: "m-0", IGSID: "1784", Text: "earlier", Language: "en", At: t0.Add(-time.Minute)})
	if err != nil || !added || late.LastText != "Можно оплатить картой?" || late.Language != "ru" || !late.LastCustomerAt.Equal(t1) {
		t.Fatalf("a late older message moved the conversation: %+v, %v", late, err)
	}
	// The shop's own message (an echo): the thread moves, the window does not.
	t2 := t1.Add(10 * time.Minute)
	echoText := "Here is your link: https://pay.example/IG-1"
	ec, added, err := s.RecordDirect(ctx, core.DirectMessage{MID: "e-1", IGSID: "1784", Echo: true, Text: echoText, At: t2})
	if err != nil || !added || !ec.LastMessageAt.Equal(t2) || !ec.LastCustomerAt.Equal(t1) || ec.LastText != "Можно оплатить картой?" {
		t.Fatalf("after an echo: %+v, %v", ec, err)
	}
	if mid, err := s.FindEcho(ctx, "1784", core.TextDigest(echoText), t2.Add(-time.Minute)); err != nil || mid != "e-1" {
		t.Fatalf("FindEcho: %q, %v", mid, err)
	}
	for _, miss := range []struct{ igsid, text string }{{"1784", "another text"}, {"9999", echoText}} {
		if _, err := s.FindEcho(ctx, miss.igsid, core.TextDigest(miss.text), t2.Add(-time.Minute)); core.ErrorCode(err) != core.ENOTFOUND {
			t.Fatalf("FindEcho(%s, %q): %v, want ENOTFOUND", miss.igsid, miss.text, err)
		}
	}
	if _, err := s.FindEcho(ctx, "1784", core.TextDigest(echoText), t2.Add(time.Second)); core.ErrorCode(err) != core.ENOTFOUND {
		t.Fatalf("FindEcho of an echo older than since: %v", err)
	}
	// A customer's message is never found as an echo.
	if _, err := s.FindEcho(ctx, "1784", core.TextDigest("Можно оплатить картой?"), t0); core.ErrorCode(err) != core.ENOTFOUND {
		t.Fatalf("FindEcho found a customer's message: %v", err)
	}
	// An echo to a customer paysync never heard from opens no window.
	lone, _, err := s.RecordDirect(ctx, core.DirectMessage{MID: "e-2", IGSID: "2001", Echo: true, Text: "hi", At: t2})
	if err != nil || !lone.LastCustomerAt.IsZero() || !lone.WindowEndsAt().IsZero() || lone.WindowOpen(t2) {
		t.Fatalf("an echo-only conversation: %+v, %v", lone, err)
	}
	long := strings.Repeat("ա", 400)
	if c, _, err := s.RecordDirect(ctx, core.DirectMessage{MID: "m-3", IGSID: "3003", Text: long, At: t0}); err != nil || len(c.LastText) > core.MaxConversationText {
		t.Fatalf("a long text is kept at %d bytes (%v), at most %d", len(c.LastText), err, core.MaxConversationText)
	}

	if err := s.SetUsername(ctx, "1784", "anna.knits", t2); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUsername(ctx, "nobody", "x", t2); core.ErrorCode(err) != core.ENOTFOUND {
		t.Fatalf("SetUsername of an unknown conversation: %v", err)
	}
	got, err := s.GetConversation(ctx, "1784")
	if err != nil || got.Username != "anna.knits" || !got.UsernameCheckedAt.Equal(t2) {
		t.Fatalf("after SetUsername: %+v, %v", got, err)
	}
	list, err := s.ListConversations(ctx, 10)
	if err != nil || len(list) != 3 || list[0].IGSID != "1784" && list[0].IGSID != "2001" || list[2].IGSID != "3003" {
		t.Fatalf("ListConversations: %+v, %v", list, err)
	}

	// Retention: messages and quiet conversations older than the cut go.
	n, err := s.PurgeConversations(ctx, t0.Add(5*time.Minute))
	if err != nil || n != 4 { // messages m-0, m-1 and m-3, and conversation 3003
		t.Fatalf("PurgeConversations: %d, %v; want 4", n, err)
	}
	if _, err := s.GetConversation(ctx, "3003"); core.ErrorCode(err) != core.ENOTFOUND {
		t.Fatalf("a conversation quiet since before the cut survived: %v", err)
	}
	if _, err := s.GetConversation(ctx, "1784"); err != nil {
		t.Fatalf("a recent conversation was purged: %v", err)
	}
	if _, added, err := s.RecordDirect(ctx, core.DirectMessage{MID: "m-1", IGSID: "1784", Text: "hello again", At: t2.Add(time.Minute)}); err != nil || !added {
		t.Fatalf("a purged mid is new again: added %v, %v", added, err)
	}
}
