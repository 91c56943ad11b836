package main

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/browsertest"
	vpossandbox "github.com/paysync/paysync/sandbox/vpos"
	"github.com/paysync/paysync/storage"
)

// sessionCookie reads the console's session cookie (HttpOnly: no script
// sees it) from the browser.
func sessionCookie(ctx context.Context, t *chromedp.Target) (string, error) {
	res, err := cdp.Call(ctx, t, network.GetCookies, network.GetCookiesParams{})
	if err != nil {
		return "", err
	}
	for _, c := range res.Cookies {
		if c.Name == "paysync_session" {
			return c.Value, nil
		}
	}
	return "", nil
}

// TestManagersDayInBrowser is issue 20's day in headless Chromium, on a
// real serve with the VPOS sandbox: the owner (made with `paysync users
// add` while serve runs) logs in with the one-time password and chooses
// their own, adds a catalog item and invites a manager with a one-time
// link; the manager chooses a password through it, makes an order from
// the catalog, copies its payment link, the buyer pays at the sandbox in
// another tab, and the order page turns to Paid by itself (the same page:
// a value set on it before the payment is still there). The manager sees
// no way to settle a review and a post to settle is refused; after logout
// and a restart of serve the old session cookie opens nothing.
func TestManagersDayInBrowser(t *testing.T) {
	browsertest.Chromium(t)
	sb := vpossandbox.New(vpossandbox.Options{})
	sbsrv := httptest.NewServer(sb)
	t.Cleanup(func() { sb.Close(); sbsrv.Close() })
	e := startE2E(t, storage.SQLite, map[string]string{"PAYSYNC_VPOS_BASE_URL": sbsrv.URL, "PAYSYNC_VPOS_API_TOKEN": vpossandbox.DefaultToken,
		"PAYSYNC_VPOS_WEBHOOK_SECRET": vpossandbox.DefaultWebhookSecret})
	sb.SetWebhookURL(e.base + "/webhooks/vpos")
	t.Setenv("PAYSYNC_PUBLIC_URL", e.base) // invite links point at this serve
	code, out, errs := cli(t, "users", "add", "Anahit", "--role", "owner")
	if code != 0 {
		t.Fatalf("users add: %d %s", code, errs)
	}
	oneTime := lastLine(out)

	b := browsertest.New(t, 20*time.Second)
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	ui := e.base + "/ui/"

	// The owner's first login asks for their own password.
	b.Do("the owner logs in with the one-time password", chromedp.Navigate(ui), chromedp.WaitVisible(css("#password")),
		chromedp.SendKeys(css("#name"), "Anahit"), chromedp.SendKeys(css("#password"), oneTime), chromedp.Click(css("#login")),
		chromedp.WaitVisible(css("#current")))
	b.Do("the owner chooses a password", chromedp.SendKeys(css("#current"), oneTime),
		chromedp.SendKeys(css("#password"), "anahit-owns-the-shop"), chromedp.SendKeys(css("#password2"), "anahit-owns-the-shop"),
		chromedp.Click(css("#change")), chromedp.WaitVisible(css("#q")))

	// A catalog item, and a manager invited with a one-time link.
	b.Do("the owner adds a catalog item", chromedp.Navigate(ui+"catalog"), chromedp.WaitVisible(css("#item-form")),
		chromedp.SendKeys(css("#sku"), "SCARF-RED"), chromedp.SendKeys(css("#name_en"), "Silk scarf, red"),
		chromedp.SendKeys(css("#name_hy"), "Մետաքսե շարֆ"), chromedp.SetValue(css("#price"), "15000"),
		chromedp.SetValue(css("#item-currency"), "AMD"), chromedp.Click(css("#save-item")), chromedp.WaitVisible(css("#catalog")))
	if got := b.Text("#catalog"); !strings.Contains(got, "SCARF-RED") || !strings.Contains(got, "15,000") {
		t.Fatalf("the catalog after adding:\n%s", got)
	}
	b.Do("the owner invites a manager", chromedp.Navigate(ui+"people"), chromedp.WaitVisible(css("#invite-name")),
		chromedp.SendKeys(css("#invite-name"), "Mane"), chromedp.SetValue(css("#invite-role"), "manager"),
		chromedp.Click(css("#invite")), chromedp.WaitVisible(css("#invite-url")))
	invite := browsertest.Get(b, "read the invite link", chromedp.Value(css("#invite-url")))
	if !strings.HasPrefix(invite, e.base+"/ui/invite/") {
		t.Fatalf("invite link %q", invite)
	}
	b.Do("the owner logs out", chromedp.Click(css("#logout")), chromedp.WaitVisible(css("#login")))

	// The manager takes the invite (once).
	b.Do("the manager opens the invite", chromedp.Navigate(invite), chromedp.WaitVisible(css("#accept")),
		chromedp.SendKeys(css("#password"), "mane-sells-scarves"), chromedp.SendKeys(css("#password2"), "mane-sells-scarves"),
		chromedp.Click(css("#accept")), chromedp.WaitVisible(css("#logout")))
	b.Do("the manager logs out and in again", chromedp.Click(css("#logout")), chromedp.WaitVisible(css("#login")),
		chromedp.SendKeys(css("#name"), "Mane"), chromedp.SendKeys(css("#password"), "mane-sells-scarves"),
		chromedp.Click(css("#login")), chromedp.WaitVisible(css("#new-order")))
	if got := b.Text("#who"); !strings.Contains(got, "Mane") {
		t.Fatalf("signed in as %q", got)
	}
	b.Do("an invite works once", chromedp.Navigate(invite), chromedp.WaitVisible(css("main")))
	if ok := browsertest.Get(b, "look for the invite form", chromedp.Evaluate[bool](`document.querySelector("#accept") === null`)); !ok {
		t.Fatal("the invite link works a second time")
	}

	// A new order from the catalog, its link copied.
	b.Do("the manager makes an order", chromedp.Navigate(ui+"orders"), chromedp.Click(css("#new-order")), chromedp.WaitVisible(css("#create-order")),
		chromedp.SetValue(css("#order_id"), "IG-3001"), chromedp.SetValue(css("#sku-1"), "SCARF-RED"),
		chromedp.SendKeys(css("#handle"), "anna.knits"), chromedp.SendKeys(css("#name"), "Anna Petrosyan"),
		chromedp.SendKeys(css("#phone"), "091 000 101"), chromedp.SetValue(css("#provider"), "vpos"),
		chromedp.Click(css("#create-order")), chromedp.WaitVisible(css("#payment-url")))
	if got := b.Text("#order-status"); got != "Awaiting payment" {
		t.Fatalf("a new order shows %q", got)
	}
	if got := b.Text("#order-amount"); got != "15,000\u00a0֏" {
		t.Fatalf("the order's amount %q, want the catalog's price", got)
	}
	copyTarget := browsertest.Get(b, "read what the copy button copies", chromedp.AttributeValue(css("#copy-link"), "data-copy"))
	link := browsertest.Get(b, "read the link", chromedp.Value(css("#"+copyTarget.Value)))
	if !strings.HasPrefix(link, sbsrv.URL+"/checkout/") {
		t.Fatalf("the payment link %q (copy target %+v), want the sandbox's checkout", link, copyTarget)
	}
	b.Do("copy the link", chromedp.Click(css("#copy-link")), chromedp.WaitVisible(css("#copy-link.done")))
	b.Screenshot("console-new-order")
	browsertest.Get(b, "mark the page", chromedp.Evaluate[bool](`window.paysyncMarker = "before payment"; true`))

	// The buyer pays in another tab; the manager's page follows by itself.
	buyer := b.Tab()
	buyer.Do("the buyer pays at the sandbox", chromedp.Navigate(link), chromedp.WaitVisible(css(`form[action*="/pay"] button`)),
		chromedp.Click(css(`form[action*="/pay"] button`)))
	b.Do("the order page turns to Paid", chromedp.WaitVisible(css(`#order-status[data-status="paid"]`)))
	if got := b.Text("#order-status"); got != "Paid" {
		t.Fatalf("after the payment the page shows %q", got)
	}
	if m := browsertest.Get(b, "read the mark", chromedp.Evaluate[string](`String(window.paysyncMarker)`)); m != "before payment" {
		t.Fatalf("the page was reloaded (its mark is %q)", m)
	}
	if o, err := e.d.app.store.GetOrder(context.Background(), "IG-3001"); err != nil || o.Status != core.StatusPaid || len(o.Items) != 1 || o.Items[0].SKU != "SCARF-RED" {
		t.Fatalf("IG-3001 in the database: %+v %v", o, err)
	}

	// A manager cannot settle a review.
	if code, out := e.api("POST", "/v1/orders", map[string]any{"order_id": "IG-3002", "amount_minor": 1500000, "currency": "AMD", "provider": "vpos"}); code != 201 {
		t.Fatalf("create IG-3002: %d %v", code, out)
	}
	if err := sb.PayWith("IG-3002", 1400000, "AMD"); err != nil {
		t.Fatal(err)
	}
	e.eventually("IG-3002 in review", func() bool {
		o, err := e.d.app.store.GetOrder(context.Background(), "IG-3002")
		return err == nil && o.Status == core.StatusManualReview
	})
	b.Do("the manager opens the order in review", chromedp.Navigate(ui+"orders/IG-3002"), chromedp.WaitVisible(css("#timeline")))
	if none := browsertest.Get(b, "look for a settle control", chromedp.Evaluate[bool](
		`document.querySelector('#settle, form[action$="/review"], #paid-IG-3002') === null`)); !none {
		t.Fatal("a manager sees a control to settle the review")
	}
	status := browsertest.Get(b, "post a settlement anyway", chromedp.Evaluate[int](`
		fetch("/ui/orders/IG-3002/review", {method: "POST", credentials: "same-origin",
			headers: {"Content-Type": "application/x-www-form-urlencoded", Accept: "text/html"},
			body: new URLSearchParams({csrf: document.querySelector('form.logout input[name="csrf"]').value, decision: "paid", note: "cash"})})
		.then(r => r.status)`, chromedp.EvalAwaitPromise))
	if status != 403 {
		t.Fatalf("a manager's post to settle: %d, want 403", status)
	}
	if o, _ := e.d.app.store.GetOrder(context.Background(), "IG-3002"); o.Status != core.StatusManualReview {
		t.Fatalf("IG-3002 after the manager's post: %s", o.Status)
	}

	// Logout survives a restart: the old cookie opens nothing.
	old := browsertest.Get(b, "read the session cookie", chromedp.Action[string](sessionCookie))
	if old == "" {
		t.Fatal("no session cookie in the browser")
	}
	b.Do("the manager logs out", chromedp.Click(css("#logout")), chromedp.WaitVisible(css("#login")))
	e.restart()
	browsertest.Get(b, "put the old cookie back", chromedp.Action[cdp.Empty](func(ctx context.Context, t *chromedp.Target) (cdp.Empty, error) {
		return cdp.Call(ctx, t, network.SetCookie, network.SetCookieParams{Name: "paysync_session", Value: old, URL: e.base + "/ui/", Path: "/ui/"})
	}))
	if back := browsertest.Get(b, "read the cookie put back", chromedp.Action[string](sessionCookie)); back != old {
		t.Fatal("the old session cookie did not go back into the browser")
	}
	b.Do("the old cookie after the restart", chromedp.Navigate(e.base+"/ui/orders"), chromedp.WaitVisible(css("#login")))
	b.WaitURL("/ui/login")
	b.Do("the manager logs in again on the new serve", chromedp.SendKeys(css("#name"), "Mane"),
		chromedp.SendKeys(css("#password"), "mane-sells-scarves"), chromedp.Click(css("#login")), chromedp.WaitVisible(css("#new-order")))
}
