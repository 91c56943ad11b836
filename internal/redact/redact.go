// Package redact removes secrets (tokens, webhook URLs, keys) from text that
// may reach a log, an error or a page: the connectors' errors and paysync's
// log lines both go through a Redactor.
package redact

import (
	"net/url"
	"sort"
	"strings"
	"sync"
)

// Marker replaces every secret.
const Marker = "[redacted]"

// Redactor knows a set of secrets. The zero value is ready; it is safe for
// concurrent use.
type Redactor struct {
	mu      sync.RWMutex
	known   map[string]bool
	secrets []string // longest first, so that a secret's prefix never leaves its tail behind
}

// New returns a Redactor that knows secrets.
func New(secrets ...string) *Redactor {
	r := &Redactor{}
	r.Add(secrets...)
	return r
}

// Add learns secrets, with their query- and path-escaped forms (a secret in
// a URL appears escaped). Values shorter than 4 bytes are ignored: they would
// redact ordinary words.
func (r *Redactor) Add(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.known == nil {
		r.known = map[string]bool{}
	}
	added := false
	for _, s := range secrets {
		for _, form := range []string{s, url.QueryEscape(s), url.PathEscape(s)} {
			if len(form) < 4 || r.known[form] {
				continue
			}
			r.known[form] = true
			r.secrets = append(r.secrets, form)
			added = true
		}
	}
	if added {
		sort.Slice(r.secrets, func(i, j int) bool { return len(r.secrets[i]) > len(r.secrets[j]) })
	}
}

// Empty reports whether the Redactor knows no secret.
func (r *Redactor) Empty() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.secrets) == 0
}

// String returns s with every known secret replaced by Marker.
func (r *Redactor) String(s string) string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, sec := range r.secrets {
		if strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, Marker)
		}
	}
	return s
}
