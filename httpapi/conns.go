package httpapi

import (
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxConnections is how many connections serve keeps open at most.
const DefaultMaxConnections = 1024

// ConnLimit caps the connections an HTTP server keeps open. Without it,
// anyone could hold thousands of idle connections (5,000 were accepted) and
// take the process's file descriptors. At the cap, a new connection takes
// the place of the one that has been idle longest (between requests of a
// keep-alive connection, or not yet sent a request); when every one is busy
// with a request, the new one is closed at once. Wrap the listener with
// Listener and set the server's ConnState to the limit's ConnState.
type ConnLimit struct {
	max     int
	mu      sync.Mutex
	open    map[*limitedConn]connInfo
	evicted atomic.Int64
	refused atomic.Int64
}

type connInfo struct {
	idle  bool // no request in progress
	since time.Time
}

// NewConnLimit returns a limit of max open connections (DefaultMaxConnections when max <= 0).
func NewConnLimit(max int) *ConnLimit {
	if max <= 0 {
		max = DefaultMaxConnections
	}
	return &ConnLimit{max: max, open: map[*limitedConn]connInfo{}}
}

// Open is how many connections are open now.
func (c *ConnLimit) Open() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.open)
}

// Evicted and Refused count the idle connections closed to make room and
// the new connections closed because none was idle.
func (c *ConnLimit) Evicted() int64 { return c.evicted.Load() }
func (c *ConnLimit) Refused() int64 { return c.refused.Load() }

// Listener wraps ln so that it keeps at most the limit's connections open.
func (c *ConnLimit) Listener(ln net.Listener) net.Listener { return &limitListener{Listener: ln, c: c} }

// ConnState follows each connection's state, to know which are idle: set it
// as the http.Server's ConnState.
func (c *ConnLimit) ConnState(nc net.Conn, st http.ConnState) {
	if w, ok := nc.(interface{ NetConn() net.Conn }); ok {
		nc = w.NetConn() // a TLS connection over ours
	}
	lc, ok := nc.(*limitedConn)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, open := c.open[lc]; !open {
		return
	}
	switch st {
	case http.StateActive:
		c.open[lc] = connInfo{idle: false, since: time.Now()}
	case http.StateIdle:
		c.open[lc] = connInfo{idle: true, since: time.Now()}
	case http.StateClosed, http.StateHijacked:
		delete(c.open, lc)
	}
}

// admit takes a new connection, making room if the limit is reached.
func (c *ConnLimit) admit(lc *limitedConn) bool {
	c.mu.Lock()
	var victim *limitedConn
	if len(c.open) >= c.max {
		var oldest time.Time
		for o, info := range c.open {
			if info.idle && (victim == nil || info.since.Before(oldest)) {
				victim, oldest = o, info.since
			}
		}
		if victim == nil {
			c.mu.Unlock()
			c.refused.Add(1)
			return false
		}
		delete(c.open, victim)
	}
	// New: idle until its first request arrives (it may never send one).
	c.open[lc] = connInfo{idle: true, since: time.Now()}
	c.mu.Unlock()
	if victim != nil {
		c.evicted.Add(1)
		victim.Conn.Close()
	}
	return true
}

func (c *ConnLimit) forget(lc *limitedConn) {
	c.mu.Lock()
	delete(c.open, lc)
	c.mu.Unlock()
}

type limitListener struct {
	net.Listener
	c *ConnLimit
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		lc := &limitedConn{Conn: nc, c: l.c}
		if l.c.admit(lc) {
			return lc, nil
		}
		nc.Close()
	}
}

type limitedConn struct {
	net.Conn
	c    *ConnLimit
	once sync.Once
}

func (lc *limitedConn) Close() error {
	lc.once.Do(func() { lc.c.forget(lc) })
	return lc.Conn.Close()
}

// HSTSMaxAge is how long browsers are told to reach paysync over HTTPS only.
const HSTSMaxAge = 365 * 24 * time.Hour

// hsts tells browsers that reached paysync over TLS to use nothing else
// (Strict-Transport-Security), when paysync itself terminates TLS.
func hsts(next http.Handler) http.Handler {
	v := "max-age=" + strconv.FormatInt(int64(HSTSMaxAge/time.Second), 10)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil {
			w.Header().Set("Strict-Transport-Security", v)
		}
		next.ServeHTTP(w, r)
	})
}
