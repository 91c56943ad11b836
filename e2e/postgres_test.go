package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/lib/pq"
)

// pgCluster is a throwaway PostgreSQL cluster the test owns, so that it may
// restart it: the shared test server (PAYSYNC_TEST_DATABASE_URL) serves other
// tests and is never touched. It is what scripts/test-postgres.sh starts,
// on a port that stays the same across restarts.
type pgCluster struct {
	bindir, dir string
	port        int
	opts        string // the server's options, the same at every start
	asPostgres  bool   // root: initdb refuses to run as root, so the cluster runs as the postgres user
}

// startCluster initdb's and starts a cluster, stopped when the test ends.
// Without PostgreSQL's server binaries it skips on a laptop and fails in CI.
func startCluster(t *testing.T) *pgCluster {
	t.Helper()
	bindir := pgBindir()
	if bindir == "" {
		if os.Getenv("CI") != "" || os.Getenv("PAYSYNC_REQUIRE_POSTGRES") != "" {
			t.Fatal("PostgreSQL server binaries (initdb, pg_ctl) not found in CI: install postgresql (make test does)")
		}
		t.Skip("PostgreSQL test skipped: the chaos test runs its own cluster and needs initdb and pg_ctl (apt-get install postgresql)")
	}
	base, err := os.MkdirTemp("", "paysync-chaos-pg-")
	if err != nil {
		t.Fatal(err)
	}
	// The postgres user must reach the data directory through its parent.
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	c := &pgCluster{bindir: bindir, dir: filepath.Join(base, "data"), asPostgres: os.Geteuid() == 0}
	if err := os.Mkdir(c.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if c.asPostgres {
		if _, err := user.Lookup("postgres"); err != nil {
			if out, err := exec.Command("useradd", "--system", "--no-create-home", "postgres").CombinedOutput(); err != nil {
				t.Fatalf("useradd postgres: %v\n%s", err, out)
			}
		}
		if out, err := exec.Command("chown", "postgres", c.dir).CombinedOutput(); err != nil {
			t.Fatalf("chown postgres %s: %v\n%s", c.dir, err, out)
		}
	}
	t.Cleanup(func() {
		_ = c.run("pg_ctl", "-D", c.dir, "-m", "immediate", "-w", "stop")
		os.RemoveAll(base)
	})
	if err := c.run("initdb", "-D", c.dir, "-U", "paysync", "--auth=trust", "--encoding=UTF8", "--no-sync"); err != nil {
		t.Fatal(err)
	}
	c.port = freePort(t)
	// fsync stays on: a payment answered 2xx must survive the crash restart.
	c.opts = fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=60 -c shared_buffers=32MB", c.port, c.dir)
	if err := c.start(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("postgres", c.url("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE paysync_chaos"); err != nil {
		t.Fatalf("create database: %v", err)
	}
	return c
}

// url is the address of one database of the cluster.
func (c *pgCluster) url(db string) string {
	return fmt.Sprintf("postgres://paysync@127.0.0.1:%d/%s?sslmode=disable&connect_timeout=5", c.port, db)
}

// crashRestart stops the server at once, as a crash or a power cut would
// (no checkpoint; it recovers from its WAL), and starts it again with the
// same options.
func (c *pgCluster) crashRestart(ctx context.Context) error {
	if err := c.run("pg_ctl", "-D", c.dir, "-m", "immediate", "-w", "stop"); err != nil {
		return err
	}
	// A moment down, so that the daemon sees refused connections, not a blip.
	select {
	case <-time.After(time.Second):
	case <-ctx.Done():
	}
	return c.start()
}

func (c *pgCluster) start() error {
	return c.run("pg_ctl", "-D", c.dir, "-l", filepath.Join(c.dir, "server.log"), "-w", "-t", "60", "-o", c.opts, "start")
}

func (c *pgCluster) run(name string, args ...string) error {
	bin := filepath.Join(c.bindir, name)
	var cmd *exec.Cmd
	if c.asPostgres {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", bin}, args...)...)
	} else {
		cmd = exec.Command(bin, args...)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
		return fmt.Errorf("%s %s: %v\n%s\nserver log:\n%s", name, strings.Join(args, " "), err, out, tail(string(log), 2000))
	}
	return nil
}

// pgBindir finds initdb and pg_ctl: pg_config's bindir, else Debian's layout.
func pgBindir() string {
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		d := strings.TrimSpace(string(out))
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	best, bestVersion := "", -1
	for _, d := range dirs {
		v, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil && v > bestVersion {
			best, bestVersion = d, v
		}
	}
	return best
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// tail is the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
