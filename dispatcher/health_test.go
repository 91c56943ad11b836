package dispatcher_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/dispatcher"
	"github.com/paysync/paysync/dispatcher/dispatchertest"
	"github.com/paysync/paysync/internal/testutil"
	"github.com/paysync/paysync/storage"
	"github.com/paysync/paysync/storage/testdb"
)

// Health lists every configured connector, stopped before Run, and the
// stats carry no zero times: no 0001-01-01 for an empty backlog.
func TestHealthBeforeRunAndEmptyBacklog(t *testing.T) {
	t.Parallel()
	db := testdb.Open(t, storage.SQLite)
	d := dispatcher.New(db, []core.Connector{dispatchertest.NewCRM("zeta", 1), dispatchertest.NewCRM("alpha", 1)},
		dispatcher.Options{Owner: "replica", Logger: testutil.Logger(t)})
	h := d.Health()
	if len(h) != 2 || h[0].Connector != "alpha" || h[1].Connector != "zeta" {
		t.Fatalf("health = %+v, want alpha and zeta in order", h)
	}
	for _, c := range h {
		if c.State != dispatcher.StateStopped || c.Reason != "" || !c.Until.IsZero() {
			t.Fatalf("%s before Run: %+v, want stopped", c.Connector, c)
		}
	}
	st, err := d.Stats(bg)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(st)
	if strings.Contains(string(b), "0001-01-01") || strings.Contains(string(b), "oldest_pending") || strings.Contains(string(b), "until") {
		t.Fatalf("stats of an empty backlog print zero times: %s", b)
	}
	if !strings.Contains(string(b), `"state":"stopped"`) {
		t.Fatalf("stats without state: %s", b)
	}
}
