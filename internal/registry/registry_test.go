package registry_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/paysync/paysync/internal/registry"
)

func TestRegistry(t *testing.T) {
	r := registry.New[int]("widget")
	r.Add("b", 2)
	r.Add("a", 1)
	r.Add("c", 3)
	if got := r.All(); !slices.Equal(got, []int{1, 2, 3}) {
		t.Fatalf("All = %v, want sorted by name", got)
	}
	if got := r.Names(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("Names = %v", got)
	}
	if v, ok := r.Get("b"); !ok || v != 2 {
		t.Fatalf("Get(b) = %d %v", v, ok)
	}
	if v, ok := r.Remove("b"); !ok || v != 2 {
		t.Fatalf("Remove(b) = %d %v", v, ok)
	}
	if _, ok := r.Get("b"); ok {
		t.Fatal("b is still registered")
	}
	defer func() {
		if p := recover(); p == nil || !strings.Contains(p.(string), `widget "a" registered twice`) {
			t.Fatalf("a second registration: %v", p)
		}
	}()
	r.Add("a", 9)
}
