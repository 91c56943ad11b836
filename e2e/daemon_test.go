package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// paysyncBinary builds cmd/paysync once per test run.
func paysyncBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "paysync-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "paysync")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/paysync")
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/paysync: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// daemon runs `paysync serve` as a child process, again and again: the
// chaos test kills it with SIGKILL and starts a new one on the same address,
// data directory and database.
type daemon struct {
	bin, dir, addr string
	env            []string
	postgres       bool // the database may be down for a while: a start may be refused

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the current process has exited
	killing bool          // the test killed the current process
	runs    int
	kills   int
	// refusedStarts counts the runs that stopped before serving while
	// PostgreSQL was down or recovering.
	refusedStarts int
	// crashes are the runs that ended without the test killing them, with
	// the end of their logs.
	crashes []string
}

func newDaemon(t *testing.T, dir, addr string, postgres bool, env []string) *daemon {
	d := &daemon{bin: paysyncBinary(t), dir: dir, addr: addr, postgres: postgres, env: env}
	t.Cleanup(func() { d.kill() })
	return d
}

func (d *daemon) logPath(run int) string {
	return filepath.Join(d.dir, fmt.Sprintf("serve-%03d.log", run))
}

// start runs a new process; the previous one must have exited.
func (d *daemon) start() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.runs++
	run := d.runs
	logf, err := os.Create(d.logPath(run))
	if err != nil {
		return err
	}
	cmd := exec.Command(d.bin, "serve")
	cmd.Dir = d.dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + d.dir, "PAYSYNC_HTTP_ADDR=" + d.addr}, d.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	exited := make(chan struct{})
	d.cmd, d.exited, d.killing = cmd, exited, false
	go func() {
		err := cmd.Wait()
		logf.Close()
		d.mu.Lock()
		if !d.killing {
			b, _ := os.ReadFile(d.logPath(run))
			if d.postgres && !strings.Contains(string(b), "paysync serving") {
				// serve refuses to start while its database is down or
				// recovering, as it should; its supervisor starts it
				// again. Once serving, it must ride a restart out.
				d.refusedStarts++
			} else {
				d.crashes = append(d.crashes, fmt.Sprintf("run %d exited by itself (%v):\n%s", run, err, tail(string(b), 3000)))
			}
		}
		d.mu.Unlock()
		close(exited)
	}()
	return nil
}

// kill sends SIGKILL to the running process, if any, and waits for it.
func (d *daemon) kill() {
	d.mu.Lock()
	cmd, exited := d.cmd, d.exited
	if cmd == nil || exited == nil {
		d.mu.Unlock()
		return
	}
	select {
	case <-exited:
		d.mu.Unlock()
		return
	default:
	}
	d.killing = true
	d.kills++
	d.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// running reports whether a process is up, and the channel closed when it exits.
func (d *daemon) running() (bool, chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.exited == nil {
		return false, nil
	}
	select {
	case <-d.exited:
		return false, d.exited
	default:
		return true, d.exited
	}
}

// ensure starts a process when none is running and waits until it is ready.
func (d *daemon) ensure(ctx context.Context) error {
	if up, _ := d.running(); !up {
		if err := d.start(); err != nil {
			return err
		}
	}
	return d.waitReady(ctx, 2*time.Minute)
}

// waitReady polls /readyz until 200.
func (d *daemon) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.addr+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if up, _ := d.running(); !up {
			if err := d.start(); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("serve on %s not ready after %s; log:\n%s", d.addr, limit, d.lastLog(3000))
}

// killAtRandom keeps a process running and kills it with SIGKILL after a
// random uptime between min and max, then starts the next one after up to
// a second and a half (the supervisor's restart delay), until ctx ends; it
// leaves the last one running.
func (d *daemon) killAtRandom(ctx context.Context, rng *rand.Rand, min, max time.Duration) {
	for ctx.Err() == nil {
		up, exited := d.running()
		if !up {
			if err := d.start(); err != nil {
				return
			}
			_, exited = d.running()
		}
		uptime := min + time.Duration(rng.Int64N(int64(max-min)))
		down := time.Duration(rng.Int64N(int64(1500 * time.Millisecond)))
		select {
		case <-ctx.Done():
			return
		case <-exited: // it stopped by itself: counted, and started again after systemd's RestartSec
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		case <-time.After(uptime):
			d.kill()
			select {
			case <-ctx.Done():
			case <-time.After(down):
			}
		}
	}
}

// lastLog is the end of the current (or last) process's log.
func (d *daemon) lastLog(n int) string {
	d.mu.Lock()
	run := d.runs
	d.mu.Unlock()
	b, _ := os.ReadFile(d.logPath(run))
	return tail(string(b), n)
}

// grepLogs counts the lines of every run's log that contain s.
func (d *daemon) grepLogs(s string) (n int, first string) {
	d.mu.Lock()
	runs := d.runs
	d.mu.Unlock()
	for run := 1; run <= runs; run++ {
		b, _ := os.ReadFile(d.logPath(run))
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, s) {
				if n == 0 {
					first = fmt.Sprintf("run %d: %s", run, line)
				}
				n++
			}
		}
	}
	return n, first
}

func (d *daemon) counts() (runs, kills, refusedStarts int, crashes []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.runs, d.kills, d.refusedStarts, append([]string(nil), d.crashes...)
}

// killN is killAtRandom for exactly n kills: after the n-th it starts the
// next process and leaves it running. It returns when that one is started
// (or ctx ended), with the time of the last kill.
func (d *daemon) killN(ctx context.Context, rng *rand.Rand, n int, min, max time.Duration) (last time.Time) {
	for kills := 0; ctx.Err() == nil; {
		up, exited := d.running()
		if !up {
			if err := d.start(); err != nil {
				return last
			}
			_, exited = d.running()
		}
		if kills == n {
			return last
		}
		uptime := min + time.Duration(rng.Int64N(int64(max-min)))
		down := time.Duration(rng.Int64N(int64(1500 * time.Millisecond)))
		select {
		case <-ctx.Done():
			return last
		case <-exited:
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		case <-time.After(uptime):
			d.kill()
			kills++
			last = time.Now()
			select {
			case <-ctx.Done():
			case <-time.After(down):
			}
		}
	}
	return last
}
