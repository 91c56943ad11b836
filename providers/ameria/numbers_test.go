package ameria

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/storage/testdb"
)

// memStore is core.Store's state in memory, with its semantics: create
// with version 0 fails with ESTALE when the key exists, a swap when the
// version moved.
type memStore struct {
	mu sync.Mutex
	m  map[string]memValue
}

type memValue struct {
	v   string
	ver int64
}

func newMemStore() *memStore { return &memStore{m: map[string]memValue{}} }

func (s *memStore) GetState(_ context.Context, c, k string) (string, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[c+"\x00"+k]
	if !ok {
		return "", 0, core.Errorf(core.ENOTFOUND, "no state %s/%s", c, k)
	}
	return v.v, v.ver, nil
}

func (s *memStore) PutState(_ context.Context, c, k, v string, expected int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.m[c+"\x00"+k]
	if expected == 0 && ok || expected != 0 && (!ok || cur.ver != expected) {
		return core.Errorf(core.ESTALE, "state %s/%s changed", c, k)
	}
	s.m[c+"\x00"+k] = memValue{v, cur.ver + 1}
	return nil
}

func TestParseRange(t *testing.T) {
	for in, want := range map[string]Range{"2350301-2350400": {2350301, 2350400}, " 30164001 - 30165000 ": {30164001, 30165000}, "7-7": {7, 7}} {
		if got, err := ParseRange(in); err != nil || got != want {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "2350301", "2350400-2350301", "0-10", "-5-10", "a-b", "1.5-3", "2350301–2350400"} {
		if _, err := ParseRange(in); err == nil {
			t.Errorf("%q parsed", in)
		}
	}
}

// TestOrderNumbers runs the allocation on both databases: numbers come
// from the range in order, an order keeps its number across retries and
// restarts, a number another order holds is skipped, and a used-up range
// says what to do.
func TestOrderNumbers(t *testing.T) {
	ctx := context.Background()
	testdb.Each(t, func(t *testing.T, dialect string) {
		db := testdb.Open(t, dialect)
		n := numbers{store: db, r: Range{From: 2350301, To: 2350304}}
		first, err := n.allocate(ctx, "IG-1")
		if err != nil || first != 2350301 {
			t.Fatalf("first number %d %v, want 2350301", first, err)
		}
		if again, err := n.allocate(ctx, "IG-1"); err != nil || again != first {
			t.Fatalf("a retry got %d %v, want the same %d", again, err, first)
		}
		// Someone (an earlier paysync, another tool) holds the next number.
		if err := db.PutState(ctx, Name, "number/2350302", "ELSEWHERE-1", 0); err != nil {
			t.Fatal(err)
		}
		// A restart: a new allocator over the same database.
		n2 := numbers{store: db, r: n.r}
		if got, err := n2.allocate(ctx, "IG-2"); err != nil || got != 2350303 {
			t.Fatalf("after a taken number: %d %v, want 2350303", got, err)
		}
		if got, _, _ := n2.of(ctx, "IG-1"); got != first {
			t.Fatalf("IG-1 lost its number across a restart: %d", got)
		}
		if holder, ok, _ := n2.orderOf(ctx, 2350303); !ok || holder != "IG-2" {
			t.Fatalf("number 2350303 is held by %q", holder)
		}
		if got, err := n2.allocate(ctx, "IG-3"); err != nil || got != 2350304 {
			t.Fatalf("last number: %d %v", got, err)
		}
		_, err = n2.allocate(ctx, "IG-4")
		if msg := core.ErrorMessage(err); err == nil || !strings.Contains(msg, "2350301-2350304") || !strings.Contains(msg, "ask the bank for a new range") ||
			!strings.Contains(msg, "PAYSYNC_AMERIA_ORDER_IDS") {
			t.Fatalf("a used-up range: %v", err)
		}
		// A new range from the bank: its own cursor, numbers held before still held.
		n3 := numbers{store: db, r: Range{From: 2350303, To: 2350310}}
		if got, err := n3.allocate(ctx, "IG-4"); err != nil || got != 2350305 {
			t.Fatalf("in the new range: %d %v, want 2350305 (2350303-4 are held)", got, err)
		}
		if got, _ := n3.allocate(ctx, "IG-1"); got != first {
			t.Fatalf("IG-1 renumbered by a range change: %d", got)
		}
	})
}

// TestOrderNumbersConcurrent: replicas numbering different orders at once
// never share a number; numbering one order at once gives it one number.
func TestOrderNumbersConcurrent(t *testing.T) {
	ctx := context.Background()
	testdb.Each(t, func(t *testing.T, dialect string) {
		db := testdb.Open(t, dialect)
		r := Range{From: 100, To: 199}
		const orders = 24
		var both [orders][2]int64
		var wg sync.WaitGroup
		for i := 0; i < orders; i++ {
			for replica := range 2 { // two replicas create the same order's link
				wg.Add(1)
				go func() {
					defer wg.Done()
					num, err := numbers{store: db, r: r}.allocate(ctx, "C-"+strconv.Itoa(i))
					if err != nil {
						t.Error(err)
					}
					both[i][replica] = num
				}()
			}
		}
		wg.Wait()
		got := make([]int64, orders)
		for i, b := range both {
			if b[0] != b[1] {
				t.Fatalf("order C-%d got %d and %d", i, b[0], b[1])
			}
			got[i] = b[0]
		}
		seen := map[int64]string{}
		for i, num := range got {
			if num < r.From || num > r.To {
				t.Fatalf("C-%d got %d, outside %s", i, num, r)
			}
			if other, dup := seen[num]; dup {
				t.Fatalf("C-%d and %s share number %d", i, other, num)
			}
			seen[num] = "C-" + strconv.Itoa(i)
			if stored, _, _ := (numbers{store: db, r: r}).of(ctx, "C-"+strconv.Itoa(i)); stored != num {
				t.Fatalf("C-%d was given %d but keeps %d", i, num, stored)
			}
		}
	})
}
