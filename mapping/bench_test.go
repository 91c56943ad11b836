package mapping_test

import (
	"testing"

	"github.com/paysync/paysync/mapping"
)

// BenchmarkRender renders the full sample order (2 items, 3 transitions).
// Goal: at most 20 µs per order per connector.
func BenchmarkRender(b *testing.B) {
	in := readInput(b, "testdata/orders/paid_full.json")
	for _, c := range mapping.ShippedConnectors() {
		b.Run(c, func(b *testing.B) {
			m := load(b, c)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Render(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
