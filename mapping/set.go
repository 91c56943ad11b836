package mapping

import (
	"slices"
	"sync/atomic"
)

// Set holds the live mappings of a running daemon. Reload (on SIGHUP) swaps
// them all at once, and only when every file validates: a broken edit keeps
// the previous mappings working and returns the errors to log.
type Set struct {
	dir        string
	connectors []string
	cur        atomic.Pointer[map[string]*Mapping]
}

// NewSet loads dir/<connector>.yaml for each connector (dir "" uses the built-in files).
func NewSet(dir string, connectors []string) (*Set, error) {
	s := &Set{dir: dir, connectors: slices.Clone(connectors)}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Get returns the current mapping of connector, or nil when it has none.
// Callers render a whole order with the one *Mapping they got.
func (s *Set) Get(connector string) *Mapping {
	m := s.cur.Load()
	if m == nil {
		return nil
	}
	return (*m)[connector]
}

// Reload validates the files again and swaps them in; on error the old ones stay.
func (s *Set) Reload() error {
	m, err := LoadDir(s.dir, s.connectors)
	if err != nil {
		return err
	}
	s.cur.Store(&m)
	return nil
}
