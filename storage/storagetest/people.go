package storagetest

import (
	"testing"
	"time"

	"github.com/paysync/paysync/core"
)

func peopleOf(t *testing.T, s core.Store) core.People {
	t.Helper()
	p, ok := s.(core.People)
	if !ok {
		t.Fatalf("%T does not keep people (core.People)", s)
	}
	return p
}

// testPeople: accounts are unique by name case aside; a session is found
// until it expires or is deleted, and deleting an account's sessions ends
// them all, the bootstrap owner's apart; an invite is taken once and not
// after its expiry; a token is found by its digest until revoked, and its
// last use is kept.
func testPeople(t *testing.T, open Factory) {
	p := peopleOf(t, open(t, nil))
	now := time.Now().UTC().Truncate(time.Microsecond)
	anna, err := p.CreateAccount(ctx, core.Account{Name: "Anna", Role: core.RoleManager, PasswordHash: "h1", MustChange: true, CreatedAt: now})
	if err != nil || anna.ID == 0 {
		t.Fatalf("create: %+v %v", anna, err)
	}
	if _, err := p.CreateAccount(ctx, core.Account{Name: "anna", Role: core.RoleViewer, CreatedAt: now}); core.ErrorCode(err) != core.ECONFLICT {
		t.Fatalf("the same name in other case: %v, want ECONFLICT", err)
	}
	got, err := p.GetAccount(ctx, "ANNA")
	if err != nil || got.ID != anna.ID || got.Name != "Anna" || got.Role != core.RoleManager || !got.MustChange || got.PasswordHash != "h1" {
		t.Fatalf("get: %+v %v", got, err)
	}
	got.PasswordHash, got.MustChange, got.Disabled, got.LastLoginAt = "h2", false, true, &now
	if err := p.UpdateAccount(ctx, got); err != nil {
		t.Fatal(err)
	}
	if again, _ := p.GetAccountByID(ctx, anna.ID); again.PasswordHash != "h2" || again.MustChange || !again.Disabled || again.LastLoginAt == nil || !again.LastLoginAt.Equal(now) {
		t.Fatalf("after update: %+v", again)
	}
	if _, err := p.GetAccount(ctx, "nobody"); core.ErrorCode(err) != core.ENOTFOUND {
		t.Fatalf("unknown name: %v", err)
	}
	if _, err := p.CreateAccount(ctx, core.Account{Name: "Owner", Role: core.RoleOwner, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if all, _ := p.ListAccounts(ctx); len(all) != 2 || all[0].Name != "Anna" || all[1].Name != "Owner" {
		t.Fatalf("list: %+v", all)
	}

	for _, s := range []core.Session{
		{Digest: "s1", AccountID: anna.ID, Name: "Anna", CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
		{Digest: "s2", AccountID: anna.ID, Name: "Anna", CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
		{Digest: "s0", AccountID: 0, Name: "", Credential: "fp", CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
	} {
		if err := p.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if s, err := p.GetSession(ctx, "s0", now); err != nil || s.Credential != "fp" || s.AccountID != 0 || !s.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("session: %+v %v", s, err)
	}
	if _, err := p.GetSession(ctx, "s1", now.Add(time.Hour)); core.ErrorCode(err) != core.ENOTFOUND {
		t.Fatalf("an expired session: %v", err)
	}
	if n, err := p.DeleteSessions(ctx, anna.ID); err != nil || n != 2 {
		t.Fatalf("delete an account's sessions: %d %v", n, err)
	}
	if _, err := p.GetSession(ctx, "s2", now); core.ErrorCode(err) != core.ENOTFOUND {
		t.Fatalf("a session outlived its account's logout everywhere: %v", err)
	}
	if _, err := p.GetSession(ctx, "s0", now); err != nil {
		t.Fatalf("another account's session ended too: %v", err)
	}
	if err := p.DeleteSession(ctx, "s0"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.GetSession(ctx, "s0", now); core.ErrorCode(err) != core.ENOTFOUND {
		t.Fatalf("a deleted session: %v", err)
	}

	if err := p.CreateInvite(ctx, core.Invite{Digest: "i1", AccountID: anna.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if id, err := p.PeekInvite(ctx, "i1", now); err != nil || id != anna.ID {
		t.Fatalf("peek: %d %v", id, err)
	}
	if _, err := p.TakeInvite(ctx, "i1", now.Add(2*time.Hour)); core.ErrorCode(err) != core.ENOTFOUND {
		t.Fatalf("an expired invite was taken: %v", err)
	}
	if id, err := p.TakeInvite(ctx, "i1", now); err != nil || id != anna.ID {
		t.Fatalf("take: %d %v", id, err)
	}
	if _, err := p.TakeInvite(ctx, "i1", now); core.ErrorCode(err) != core.ENOTFOUND {
		t.Fatalf("an invite was taken twice: %v", err)
	}

	tok, err := p.CreateToken(ctx, core.APIToken{AccountID: anna.ID, Digest: "d1", Prefix: "pst_abc", Scopes: []core.Scope{core.ScopeOrdersCreate, core.ScopeOrdersRead}, CreatedAt: now})
	if err != nil || tok.ID == 0 {
		t.Fatalf("token: %+v %v", tok, err)
	}
	found, err := p.TokenByDigest(ctx, "d1")
	if err != nil || found.ID != tok.ID || found.Account != "Anna" || !found.Has(core.ScopeOrdersRead) || found.Has(core.ScopeAdmin) || found.LastUsedAt != nil {
		t.Fatalf("by digest: %+v %v", found, err)
	}
	if err := p.TouchToken(ctx, tok.ID, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if list, _ := p.ListTokens(ctx, anna.ID); len(list) != 1 || list[0].LastUsedAt == nil || !list[0].LastUsedAt.Equal(now.Add(time.Minute)) {
		t.Fatalf("list after use: %+v", list)
	}
	if err := p.RevokeToken(ctx, tok.ID, now); err != nil {
		t.Fatal(err)
	}
	if _, err := p.TokenByDigest(ctx, "d1"); core.ErrorCode(err) != core.ENOTFOUND {
		t.Fatalf("a revoked token still works: %v", err)
	}
	if err := p.RevokeToken(ctx, tok.ID, now); core.ErrorCode(err) != core.ENOTFOUND {
		t.Fatalf("revoked twice: %v", err)
	}
	if all, _ := p.ListTokens(ctx, 0); len(all) != 1 || all[0].RevokedAt == nil {
		t.Fatalf("every token: %+v", all)
	}
}

// testCatalog: items are replaced by SKU and listed by it; templates are
// kept per language and "" restores the built-in one.
func testCatalog(t *testing.T, open Factory) {
	s := open(t, nil)
	c, ok := s.(core.Catalog)
	if !ok {
		t.Fatalf("%T keeps no catalog (core.Catalog)", s)
	}
	now := time.Now().UTC()
	for _, it := range []core.CatalogItem{
		{SKU: "SCARF", NameEN: "Silk scarf", NameRU: "Шёлковый шарф", NameHY: "Մետաքսե շարֆ", PriceMinor: 1500000, Currency: "AMD", UpdatedAt: now},
		{SKU: "BAG", NameEN: "Bag", PriceMinor: 100, Currency: "AMD", UpdatedAt: now},
		{SKU: "BAG", NameEN: "Leather bag", PriceMinor: 3200000, Currency: "AMD", FixedLink: "bag", UpdatedAt: now},
	} {
		if err := c.PutCatalogItem(ctx, it); err != nil {
			t.Fatal(err)
		}
	}
	items, err := c.ListCatalog(ctx)
	if err != nil || len(items) != 2 || items[0].SKU != "BAG" || items[0].PriceMinor != 3200000 || items[0].FixedLink != "bag" || items[1].NameHY != "Մետաքսե շարֆ" {
		t.Fatalf("catalog: %+v %v", items, err)
	}
	if err := c.DeleteCatalogItem(ctx, "BAG"); err != nil {
		t.Fatal(err)
	}
	if items, _ := c.ListCatalog(ctx); len(items) != 1 {
		t.Fatalf("after delete: %+v", items)
	}
	if err := c.PutMessageTemplate(ctx, "ru", "Здравствуйте! {link}", now); err != nil {
		t.Fatal(err)
	}
	if err := c.PutMessageTemplate(ctx, "ru", "Добрый день! {link}", now); err != nil {
		t.Fatal(err)
	}
	if m, _ := c.MessageTemplates(ctx); len(m) != 1 || m["ru"] != "Добрый день! {link}" {
		t.Fatalf("templates: %v", m)
	}
	c.PutMessageTemplate(ctx, "ru", "", now)
	if m, _ := c.MessageTemplates(ctx); len(m) != 0 {
		t.Fatalf("templates after restoring: %v", m)
	}
}
