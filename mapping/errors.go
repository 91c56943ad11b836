package mapping

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Error is one problem with a mapping file, at a position in it. Load errors
// and render errors both use it, so an operator always learns which line to fix.
type Error struct {
	File   string
	Line   int
	Col    int
	Reason string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Reason)
}

// Errors is every problem found at once; Error prints one `file:line:col: reason` per line.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// sorted orders errors by file and position, so output is stable and reads top to bottom.
func (es Errors) sorted() Errors {
	slices.SortStableFunc(es, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
	return es
}

// errOrNil keeps a nil Errors from becoming a non-nil error interface.
func (es Errors) errOrNil() error {
	if len(es) == 0 {
		return nil
	}
	return es.sorted()
}
