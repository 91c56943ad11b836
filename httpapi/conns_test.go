package httpapi_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/paysync/paysync/httpapi"
	"github.com/paysync/paysync/internal/testutil"
	"github.com/paysync/paysync/storage/testdb"
)

// TestConnectionCap is issue 22, item 7: 5,000 idle connections were all
// accepted and kept. With a cap, a new connection takes the place of the
// one idle longest, so the open ones never pass the cap and a client with
// a request still gets through; when every connection is busy with a
// request, the new one is closed at once.
func TestConnectionCap(t *testing.T) {
	const max = 4
	limit := httpapi.NewConnLimit(max)
	release := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		io.WriteString(w, "ok")
	}))
	srv.Listener = limit.Listener(srv.Listener)
	srv.Config.ConnState = limit.ConnState
	srv.Start()
	defer srv.Close()
	addr := srv.Listener.Addr().String()

	var idle []net.Conn
	for i := 0; i < 50; i++ { // they connect and say nothing
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
		if n := limit.Open(); n > max {
			t.Fatalf("%d connections open, the cap is %d", n, max)
		}
	}
	testutil.Eventually(t, "the server to close the idle connections past the cap", func() bool { return limit.Open() <= max })
	closed := 0
	for _, c := range idle {
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
			closed++
		}
	}
	if closed < 50-max {
		t.Fatalf("%d of 50 idle connections closed, want at least %d", closed, 50-max)
	}
	if resp, err := http.Get(srv.URL + "/"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("a real request at the cap: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// Every connection busy: a new one is refused, none is evicted.
	for _, c := range idle {
		c.Close()
	}
	testutil.Eventually(t, "the idle connections gone", func() bool { return limit.Open() == 0 })
	done := make(chan error, max)
	for i := 0; i < max; i++ {
		go func() {
			tr := &http.Transport{} // a connection each
			resp, err := (&http.Client{Transport: tr}).Get(srv.URL + "/slow")
			if err == nil {
				resp.Body.Close()
			}
			done <- err
		}()
	}
	testutil.Eventually(t, "four requests in progress", func() bool { return limit.Open() == max })
	time.Sleep(50 * time.Millisecond) // let them become active
	refused := limit.Refused()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("a connection past the cap, all busy, was kept (%v)", err)
	}
	c.Close()
	if limit.Refused() != refused+1 {
		t.Fatalf("refused %d, want %d", limit.Refused(), refused+1)
	}
	close(release)
	for i := 0; i < max; i++ {
		if err := <-done; err != nil {
			t.Fatalf("a busy request was cut: %v", err)
		}
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// TestHSTSWhenTerminatingTLS: over TLS every answer carries
// Strict-Transport-Security; over plain HTTP (behind a proxy) none does.
func TestHSTSWhenTerminatingTLS(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		db := testdb.Open(t, dialect)
		s := &httpapi.Server{Store: db, AdminToken: token}
		tlsSrv := httptest.NewTLSServer(s.Handler())
		defer tlsSrv.Close()
		resp, err := tlsSrv.Client().Get(tlsSrv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=31536000" {
			t.Fatalf("over TLS: Strict-Transport-Security %q", got)
		}
		plain := httptest.NewServer(s.Handler())
		defer plain.Close()
		resp, err = http.Get(plain.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Strict-Transport-Security"); got != "" {
			t.Fatalf("over plain HTTP: Strict-Transport-Security %q", got)
		}
	})
}
