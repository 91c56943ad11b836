package main

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paysync/paysync/internal/testutil"
	"github.com/paysync/paysync/storage/testdb"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds paysync once per test run, so tests can run real processes.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "paysync-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "paysync")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type proc struct {
	cmd  *exec.Cmd
	logs *testutil.SyncBuffer
	addr string
}

// startServe runs `paysync serve` in dir with only the given environment.
func startServe(t *testing.T, dir string, env ...string) *proc {
	t.Helper()
	p := &proc{addr: freeAddr(t), logs: &testutil.SyncBuffer{}}
	p.cmd = exec.Command(binary(t), "serve")
	p.cmd.Dir = dir
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "PAYSYNC_HTTP_ADDR=" + p.addr}, env...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			p.cmd.Process.Kill()
		}
	})
	return p
}

// waitReady polls /readyz until 200, failing with the process's logs.
func (p *proc) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + p.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if p.cmd.ProcessState != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("serve on %s never became ready; logs:\n%s", p.addr, p.logs.String())
}

func TestServeOnSQLiteWithNoConfig(t *testing.T) {
	dir := t.TempDir()
	p := startServe(t, dir)
	p.waitReady(t)
	if _, err := os.Stat(filepath.Join(dir, "data", "paysync.db")); err != nil {
		t.Fatalf("no SQLite database in ./data: %v", err)
	}
	// Graceful shutdown on SIGINT exits 0.
	p.cmd.Process.Signal(os.Interrupt)
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("serve did not exit cleanly: %v\n%s", err, p.logs.String())
	}
	if !strings.Contains(p.logs.String(), "stopped") {
		t.Fatalf("no shutdown log:\n%s", p.logs.String())
	}
}

func TestTwoServesMigrateOnceOnPostgres(t *testing.T) {
	url := testdb.NewPostgresDB(t)
	var procs []*proc
	for i := 0; i < 2; i++ {
		procs = append(procs, startServe(t, t.TempDir(), "PAYSYNC_DATABASE_URL="+url))
	}
	for _, p := range procs {
		p.waitReady(t)
	}
	applied := 0
	for _, p := range procs {
		applied += strings.Count(p.logs.String(), "migrations applied")
	}
	if applied != 1 {
		t.Fatalf("migrations applied by %d processes, want exactly 1", applied)
	}
	db, err := sql.Open("postgres", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n == 0 {
		t.Fatalf("schema_migrations: %d %v", n, err)
	}
}

func TestServeRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	ro := filepath.Join(dir, "ro")
	os.Mkdir(ro, 0o500)
	cases := []struct {
		name string
		env  []string
		want string
	}{
		{"unreachable database", []string{"PAYSYNC_DATABASE_URL=postgres://nobody:pw@127.0.0.1:1/none?sslmode=disable&connect_timeout=2"}, "cannot reach PostgreSQL"},
		{"bad address", []string{"PAYSYNC_HTTP_ADDR=nowhere"}, "PAYSYNC_HTTP_ADDR"},
		{"not a postgres url", []string{"PAYSYNC_DATABASE_URL=mysql://x"}, "must start with postgres://"},
	}
	if os.Geteuid() != 0 { // root writes anywhere, so the permission case only means something otherwise
		cases = append(cases, struct {
			name string
			env  []string
			want string
		}{"read-only data dir", []string{"PAYSYNC_DATA_DIR=" + ro}, "not writable"})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(binary(t), "serve")
			cmd.Dir = dir
			cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "PAYSYNC_HTTP_ADDR=" + freeAddr(t)}, c.env...)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("serve started anyway:\n%s", out)
			}
			if !strings.Contains(string(out), c.want) || strings.Contains(string(out), "pw@") {
				t.Fatalf("output %q does not say %q (or leaks the password)", out, c.want)
			}
			if n := strings.Count(strings.TrimSpace(string(out)), "\n"); n > 2 {
				t.Fatalf("want one clear line, got:\n%s", out)
			}
		})
	}
}
