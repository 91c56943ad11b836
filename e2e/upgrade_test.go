package e2e

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/paysync/paysync/dispatcher"
	"github.com/paysync/paysync/internal/testutil"
	"github.com/paysync/paysync/sandbox"
	"github.com/paysync/paysync/storage/testdb"
)

// TestRollingUpgrade is issue 23's upgrade test: the previous release (the
// newest commit of this checkout's first-parent history whose migrations
// are a strict subset of this tree's; PAYSYNC_UPGRADE_FROM names another)
// serves on a PostgreSQL database, then this tree's binary starts beside
// it and migrates the database under it, then the old one stops, as in
// docs/deploy/upgrade.md. Webhooks go to both replicas all along: none may
// be refused or fail, every order must be visible from both replicas, and
// every payment must reach every CRM exactly once. Migrations that break
// the running version (a dropped or renamed column it still uses, a new
// NOT NULL column without a default) fail it: see the expand/contract rule
// in migrations/README.md.
func TestRollingUpgrade(t *testing.T) {
	if testing.Short() {
		t.Skip("the upgrade test builds the previous release and runs two daemons; -short skips it")
	}
	rev, added := previousRelease(t)
	dbURL := testdb.NewPostgresDB(t)
	oldBin := buildRevision(t, rev)
	paysyncBinary(t)
	t.Logf("upgrading from %s; this tree adds migrations %s", rev, strings.Join(added, ", "))
	ctx := testutil.Context(t)
	dir := t.TempDir()

	ln := loopback(t)
	if err := os.MkdirAll(filepath.Join(dir, "sandbox"), 0o755); err != nil {
		t.Fatal(err)
	}
	sb := sandbox.New(sandbox.Options{BaseURL: "http://" + ln.Addr().String(), Dir: filepath.Join(dir, "sandbox")})
	t.Cleanup(sb.Close)
	serve(t, ln, sb)
	crms := recordCRMs(t, sb)
	cfg := filepath.Join(dir, "upgrade.yaml")
	if err := os.WriteFile(cfg, []byte(upgradeConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"PAYSYNC_CONFIG=" + cfg, "PAYSYNC_ADMIN_TOKEN=" + chaosToken, "PAYSYNC_GENERIC_WEBHOOK_SECRET=" + chaosSecret,
		"PAYSYNC_DATABASE_URL=" + dbURL}
	for _, name := range crms {
		for k, v := range sb.CRMs[name].Env() {
			env = append(env, k+"="+v)
		}
	}
	replica := func(name, bin string) *daemon {
		rdir := filepath.Join(dir, name)
		if err := os.MkdirAll(rdir, 0o755); err != nil {
			t.Fatal(err)
		}
		d := &daemon{bin: bin, dir: rdir, addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), postgres: true,
			env: append([]string{"PAYSYNC_DATA_DIR=" + rdir}, env...)}
		t.Cleanup(d.kill)
		return d
	}

	old := replica("old", oldBin)
	if err := old.ensure(ctx); err != nil {
		t.Fatal(err)
	}
	sOld := newSender("http://"+old.addr, chaosToken, chaosSecret)
	testutil.Eventually(t, "the old release dispatches every connector", func() bool { return countState(ctx, sOld, dispatcher.StateRunning) >= len(crms) })
	upgraded := replica("new", paysyncBinary(t))
	defer func() {
		if t.Failed() {
			t.Logf("old release's log:\n%s\nnew release's log:\n%s", old.lastLog(6000), upgraded.lastLog(6000))
		}
	}()

	// Webhooks keep coming to the old release while the new one starts
	// and migrates, and to both once both serve.
	var mu sync.Mutex
	var ids []string
	var failures []string
	// traffic pays an order through s every 250 ms until stop is closed;
	// a request in flight then finishes (cancelling it would count as a
	// failed request).
	traffic := func(stop <-chan struct{}, s *sender, prefix string) {
		for i := 1; ; i++ {
			id := fmt.Sprintf("%s-%d", prefix, i)
			err := payErr(ctx, s, id)
			mu.Lock()
			if err == nil {
				ids = append(ids, id)
			} else {
				failures = append(failures, err.Error())
			}
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
	stopOld, stopNew := make(chan struct{}), make(chan struct{})
	var oldWG, newWG sync.WaitGroup
	oldWG.Go(func() { traffic(stopOld, sOld, "UP-OLD") })

	if err := upgraded.ensure(ctx); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	phase := func(what string) { t.Logf("%5.1f s: %s", time.Since(began).Seconds(), what) }
	phase("the new release serves; it migrated the database under the old one")
	if n, line := upgraded.grepLogs("migrations applied"); n == 0 || !strings.Contains(line, strings.TrimSuffix(added[len(added)-1], ".sql")) {
		t.Fatalf("the new release did not migrate the database (log: %q)", line)
	}
	sNew := newSender("http://"+upgraded.addr, chaosToken, chaosSecret)
	newWG.Go(func() { traffic(stopNew, sNew, "UP-NEW") })
	testutil.Eventually(t, "the new release stands by beside the old", func() bool { return countState(ctx, sNew, dispatcher.StateStandby) >= len(crms) })

	// Side by side after the migration: the old release still delivers,
	// and each replica sees the other's orders.
	side := []string{"UP-SIDE-OLD", "UP-SIDE-NEW"}
	pay(ctx, t, sOld, side[0])
	pay(ctx, t, sNew, side[1])
	waitInCRMs(ctx, t, sb, crms, side, time.Now())
	phase("payments through either release reach the CRMs (the old release delivers)")
	for _, c := range []struct {
		s  *sender
		id string
	}{{sOld, side[1]}, {sNew, side[0]}} {
		if v, err := c.s.orderView(ctx, c.id); err != nil || v.Order.Status != "paid" {
			t.Errorf("order %s from the other replica: %+v, %v; want it paid", c.id, v.Order, err)
		}
	}

	// The old release leaves the load balancer, then stops as its
	// supervisor would stop it; the new one takes the connectors over and
	// its traffic goes on.
	close(stopOld)
	oldWG.Wait()
	old.terminate(t)
	phase("the old release stopped")
	testutil.Eventually(t, "the new release dispatches every connector", func() bool { return countState(ctx, sNew, dispatcher.StateRunning) >= len(crms) })
	phase("the new release dispatches")
	pay(ctx, t, sNew, "UP-AFTER")
	close(stopNew)
	newWG.Wait()

	mu.Lock()
	all := append(slices.Clone(ids), side...)
	all = append(all, "UP-AFTER")
	mu.Unlock()
	for _, f := range failures {
		t.Errorf("during the upgrade: %s", f)
	}
	for _, s := range []*sender{sOld, sNew} {
		if n := s.retries.Load(); n > 0 {
			t.Errorf("%s: %d requests failed (refused connection or 5xx) during the upgrade; want none", s.base, n)
		}
	}
	waitInCRMs(ctx, t, sb, crms, all, time.Now())
	for _, name := range crms {
		count := map[string]int{}
		for _, r := range sb.CRMs[name].Records() {
			count[r.OrderID]++
		}
		for _, id := range all {
			if count[id] != 1 {
				t.Errorf("%s holds %d records of order %s, want exactly 1", name, count[id], id)
			}
		}
	}
	t.Logf("%d orders paid across the upgrade (%d through the old release's webhooks, %d through the new's), each in %d CRMs once",
		len(all), countPrefix(all, "UP-OLD"), countPrefix(all, "UP-NEW"), len(crms))
}

// upgradeConfig keeps the default shutdown_timeout (15 s): a release before
// issue 23 that is stopped before its deliveries end keeps its one-minute
// leases until they expire, as docs/deploy/upgrade.md says.
const upgradeConfig = `log_level: info
dispatcher:
  poll_interval: 500ms
  backoff: [250ms, 500ms, 1s]
`

func countPrefix(ids []string, prefix string) int {
	n := 0
	for _, id := range ids {
		if strings.HasPrefix(id, prefix) {
			n++
		}
	}
	return n
}

// terminate stops the running process with SIGTERM, as a supervisor does,
// and waits for it to exit.
func (d *daemon) terminate(t *testing.T) {
	d.mu.Lock()
	cmd, exited := d.cmd, d.exited
	d.killing = true
	d.mu.Unlock()
	if cmd == nil {
		return
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-exited:
	case <-time.After(time.Minute):
		t.Fatalf("serve did not stop within a minute of SIGTERM; log:\n%s", d.lastLog(3000))
	}
}

// previousRelease finds the revision to upgrade from, and the migrations
// this tree adds to it.
func previousRelease(t *testing.T) (rev string, added []string) {
	t.Helper()
	if _, err := git("rev-parse", "--git-dir"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the upgrade test needs the git history (a full clone: fetch-depth 0): %v", err)
		}
		t.Skip("not a git checkout: the upgrade test builds the previous release from the history")
	}
	entries, err := os.ReadDir("../migrations/postgres")
	if err != nil {
		t.Fatal(err)
	}
	mine := map[string]bool{}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".sql") {
			mine[e.Name()] = true
		}
	}
	subset := func(rev string) ([]string, bool) {
		out, err := git("ls-tree", "--name-only", rev, "migrations/postgres/")
		if err != nil {
			return nil, false
		}
		theirs := map[string]bool{}
		for _, p := range strings.Fields(out) {
			if strings.HasSuffix(p, ".sql") {
				theirs[filepath.Base(p)] = true
			}
		}
		var missing []string
		for name := range mine {
			if !theirs[name] {
				missing = append(missing, name)
			}
		}
		for name := range theirs {
			if !mine[name] {
				return nil, false // a migration this tree no longer has: not an ancestor release
			}
		}
		slices.Sort(missing)
		return missing, len(missing) > 0 && len(theirs) > 0
	}
	if from := os.Getenv("PAYSYNC_UPGRADE_FROM"); from != "" {
		missing, ok := subset(from)
		if !ok {
			t.Fatalf("PAYSYNC_UPGRADE_FROM=%s: its migrations are not a strict subset of this tree's", from)
		}
		return from, missing
	}
	out, err := git("rev-list", "--first-parent", "--max-count=500", "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range strings.Fields(out) {
		if missing, ok := subset(c); ok {
			return c[:12], missing
		}
	}
	msg := "no commit in the last 500 of this checkout's first-parent history has fewer migrations than this tree"
	if os.Getenv("CI") != "" {
		t.Fatal(msg + " (a shallow clone? fetch the full history, or set PAYSYNC_UPGRADE_FROM)")
	}
	t.Skip(msg)
	return "", nil
}

// buildRevision builds cmd/paysync as it was at rev, from git's copy of
// that tree (git archive), so the checkout is left alone.
func buildRevision(t *testing.T, rev string) string {
	t.Helper()
	archive, err := git("archive", "--format=tar", rev)
	if err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	tr := tar.NewReader(strings.NewReader(archive))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(src, filepath.FromSlash(h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, 0o755)
		case tar.TypeReg:
			if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
				var b bytes.Buffer
				if _, err = io.Copy(&b, tr); err == nil {
					err = os.WriteFile(p, b.Bytes(), os.FileMode(h.Mode)&0o777)
				}
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(t.TempDir(), "paysync-"+rev)
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/paysync")
	cmd.Dir = src
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build of the previous release %s: %v\n%s", rev, err, out)
	}
	return bin
}

// git runs git in the repository's root.
func git(args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = ".."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}
