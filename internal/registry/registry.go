// Package registry is the one plug-in registry behind paysync's four: CRM
// connectors, payment providers, local doubles and mapping profiles. Each
// registers by name, once, from an init function; the registries differ
// only in what a registration holds and checks.
package registry

import (
	"fmt"
	"sort"
	"sync"
)

// Registry holds registrations of type S by name; it is safe for concurrent use.
type Registry[S any] struct {
	kind  string // "connector", for messages
	mu    sync.RWMutex
	items map[string]S
}

// New returns an empty registry of kind ("connector", "provider", …).
func New[S any](kind string) *Registry[S] {
	return &Registry[S]{kind: kind, items: map[string]S{}}
}

// Add registers s under name. It panics on a second registration of a
// name: a programming error found at start.
func (r *Registry[S]) Add(name string, s S) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.items[name]; dup {
		panic(fmt.Sprintf("%s %q registered twice", r.kind, name))
	}
	r.items[name] = s
}

// Remove drops name's registration and returns it; tests that register a
// plug-in of their own remove it when they end.
func (r *Registry[S]) Remove(name string) (S, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.items[name]
	delete(r.items, name)
	return s, ok
}

// Get returns name's registration.
func (r *Registry[S]) Get(name string) (S, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s, ok := r.items[name]
	return s, ok
}

// Names lists the registered names, sorted.
func (r *Registry[S]) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.items))
	for name := range r.items {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// All lists the registrations, sorted by name.
func (r *Registry[S]) All() []S {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.items))
	for name := range r.items {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make([]S, len(names))
	for i, name := range names {
		out[i] = r.items[name]
	}
	return out
}
