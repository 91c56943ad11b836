// Package testutil holds the helpers every package's tests share: a logger
// that writes to the test's log, a wait for a condition, a buffer safe for
// concurrent writers, and where a token stands in a file.
package testutil

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Logger returns a logger that writes to t.Log, so that a failing test shows
// what the code under test said. It logs warnings and errors, or everything
// when PAYSYNC_TEST_LOG is set. Lines logged after the test ended (by
// goroutines still winding down) are dropped instead of panicking.
func Logger(t testing.TB) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("PAYSYNC_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

type testWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Helper()
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

// Eventually polls cond until it holds, failing the test after a generous
// deadline: tests count what happened, they never time it.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Place returns "line:col" of token on the first line of the file at path
// that holds lineWith (columns count from 1, in bytes, as yaml.v3 counts
// them on ASCII lines): where a problem about that token must point.
func Place(t testing.TB, path, lineWith, token string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, lineWith) {
			if col := strings.Index(line, token); col >= 0 {
				return strconv.Itoa(i+1) + ":" + strconv.Itoa(col+1)
			}
		}
	}
	t.Fatalf("%s has no line with %q and %q", path, lineWith, token)
	return ""
}

// Context returns a context cancelled when the test ends.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers (a log sink
// shared by goroutines, a child process's output).
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
