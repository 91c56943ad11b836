// Package browsertest drives a real headless Chromium for tests, through
// chromedp (the DevTools protocol; no WebDriver, no download of a browser
// of its own). Chromium comes from the system: `make test` installs it with
// apt-get where it is missing. Without it a test skips on a laptop and
// fails in CI, like the PostgreSQL tests.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// EnvScreenshots names a folder where Screenshot keeps its pictures;
// without it they go to the test's temporary folder.
const EnvScreenshots = "PAYSYNC_SCREENSHOTS"

// candidates are where Debian, Ubuntu and others put Chromium.
var candidates = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "/usr/bin/chromium"}

// Chromium returns the browser binary (PAYSYNC_CHROMIUM, else the first of
// the usual names on PATH), skipping the test outside CI when there is none.
func Chromium(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("PAYSYNC_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range candidates {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" || os.Getenv("PAYSYNC_REQUIRE_POSTGRES") != "" {
		t.Fatal("Chromium is not installed, and browser tests must run in CI: `make test` installs it (apt-get install chromium)")
	}
	t.Skip("browser test skipped: install Chromium (apt-get install chromium), or run `make test`, which does")
	return ""
}

// Browser is one headless Chromium with a fresh profile, ended with the test.
type Browser struct {
	t       testing.TB
	ctx     context.Context
	dir     string
	timeout time.Duration
}

// New starts Chromium; each later step may take up to stepTimeout.
func New(t testing.TB, stepTimeout time.Duration) *Browser {
	t.Helper()
	path := Chromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox, // tests run as root in CI
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		// A closed network: no background calls home, updates or sync.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	// The first run starts the browser and lives as long as ctx: no timeout on it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("cannot start Chromium at %s: %v", path, err)
	}
	dir := os.Getenv(EnvScreenshots)
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &Browser{t: t, ctx: ctx, dir: dir, timeout: stepTimeout}
}

// Tab opens another tab of the same browser (its cookies shared), closed
// with the test: a buyer's page beside the manager's.
func (b *Browser) Tab() *Browser {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	b.t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatalf("cannot open a tab: %v", err)
	}
	return &Browser{t: b.t, ctx: ctx, dir: b.dir, timeout: b.timeout}
}

// Do runs actions as one step, failing the test with the step's name and
// the page it was on.
func (b *Browser) Do(step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	Get(b, step, chromedp.Steps(actions...))
}

// Get runs an action that reads something, failing the test when it cannot.
func Get[T any](b *Browser, step string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, b.timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		url, _ := chromedp.Run(b.ctx, chromedp.Location())
		b.t.Fatalf("%s: %v (on %s)", step, err, url)
	}
	return v
}

// WaitURL waits until the page's address contains part: after a click that
// navigates to a page with the same elements as the one it leaves (a search
// on a list), waiting for an element alone would find the old page.
func (b *Browser) WaitURL(part string) {
	b.t.Helper()
	deadline := time.Now().Add(b.timeout)
	for {
		url, err := chromedp.Run(b.ctx, chromedp.Location())
		if err == nil && strings.Contains(url, part) {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("the page never reached an address with %q (on %s)", part, url)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Text returns the visible text of the first element matching a CSS selector.
func (b *Browser) Text(css string) string {
	b.t.Helper()
	return Get(b, "read "+css, chromedp.Text(chromedp.CSS(css)))
}

// Screenshot saves the whole page as name.png and returns its path.
func (b *Browser) Screenshot(name string) string {
	b.t.Helper()
	png := Get(b, "screenshot "+name, chromedp.FullScreenshot(100))
	p := filepath.Join(b.dir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s", p)
	return p
}
