package core

import "testing"

// TestRecentOrdersBounded: the oldest copy goes when the cache is full, and
// a copy handed out is the caller's own.
func TestRecentOrdersBounded(t *testing.T) {
	r := NewRecentOrders(2)
	for _, id := range []string{"A", "B", "C"} {
		r.put(Order{ID: id, Version: 1, Items: []Item{{SKU: id}}})
	}
	if _, ok := r.get("A"); ok {
		t.Fatal("A outlived the bound of 2")
	}
	b, ok := r.get("B")
	if !ok || b.Version != 1 {
		t.Fatalf("B: %+v %v", b, ok)
	}
	b.Items[0].SKU = "changed"
	if again, _ := r.get("B"); again.Items[0].SKU != "B" {
		t.Fatalf("a caller changed the kept copy: %q", again.Items[0].SKU)
	}
	r.drop("C")
	if _, ok := r.get("C"); ok {
		t.Fatal("C was dropped")
	}
	var none *RecentOrders
	none.put(Order{ID: "X"})
	if _, ok := none.get("X"); ok {
		t.Fatal("a nil cache keeps nothing")
	}
}
