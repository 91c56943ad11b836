package instagram

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/paysync/paysync/core"
)

// The send log keeps, per order and change, what became of its message:
// written before the message goes out (sending), then sent with the id
// Instagram gave it, or skipped with the reason. It is what makes a send
// happen at most once: the Send API has no idempotency key, so a send still
// "sending" when its delivery comes back (an answer lost, the process
// killed between the send and the acknowledgement) is looked for in the
// thread before it is sent again.

// Send states.
const (
	stateSending = "sending" // recorded before the request; the outcome is not known
	stateSent    = "sent"
	stateSkipped = "skipped" // a rule said no; the reason was journaled
)

// sendRecord is one change's message.
type sendRecord struct {
	State   string    `json:"state"`
	MID     string    `json:"mid,omitempty"`
	IGSID   string    `json:"igsid,omitempty"`
	Digest  string    `json:"sha256,omitempty"` // of the text sent: the echo that proves it went
	Started time.Time `json:"started"`          // when the (last) send began
	Reason  string    `json:"reason,omitempty"`
	Tag     string    `json:"tag,omitempty"` // HUMAN_AGENT
	Who     string    `json:"who,omitempty"` // the person who sent it from the console
}

// sendLog keeps the records; stateLog in core.Store's connector state,
// memoryLog in memory (tests, `config check`).
type sendLog interface {
	get(ctx context.Context, orderID, key string) (sendRecord, int64, error) // version 0: none
	put(ctx context.Context, orderID, key string, r sendRecord, version int64) (int64, error)
}

func logKey(orderID, key string) string { return "send/" + orderID + "/" + key }

// StateBackend is what the send log needs of core.Store.
type StateBackend interface {
	GetState(ctx context.Context, connector, key string) (string, int64, error)
	PutState(ctx context.Context, connector, key, value string, expectedVersion int64) error
}

type stateLog struct{ s StateBackend }

func (l stateLog) get(ctx context.Context, orderID, key string) (sendRecord, int64, error) {
	v, ver, err := l.s.GetState(ctx, Name, logKey(orderID, key))
	if core.ErrorCode(err) == core.ENOTFOUND {
		return sendRecord{}, 0, nil
	}
	if err != nil {
		return sendRecord{}, 0, err
	}
	var r sendRecord
	if err := json.Unmarshal([]byte(v), &r); err != nil {
		return sendRecord{}, 0, fmt.Errorf("the send log of order %s is not valid JSON", orderID)
	}
	return r, ver, nil
}

// put writes r if the stored version is still version (0: none stored) and
// returns the new version; ESTALE when someone wrote first.
func (l stateLog) put(ctx context.Context, orderID, key string, r sendRecord, version int64) (int64, error) {
	b, _ := json.Marshal(r)
	if err := l.s.PutState(ctx, Name, logKey(orderID, key), string(b), version); err != nil {
		return 0, err
	}
	return version + 1, nil
}

type memoryLog struct {
	mu   sync.Mutex
	recs map[string]sendRecord
	vers map[string]int64
}

func newMemoryLog() *memoryLog {
	return &memoryLog{recs: map[string]sendRecord{}, vers: map[string]int64{}}
}

func (l *memoryLog) get(_ context.Context, orderID, key string) (sendRecord, int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := logKey(orderID, key)
	return l.recs[k], l.vers[k], nil
}

func (l *memoryLog) put(_ context.Context, orderID, key string, r sendRecord, version int64) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := logKey(orderID, key)
	if l.vers[k] != version {
		return 0, core.Errorf(core.ESTALE, "the send log of %s changed", k)
	}
	l.recs[k] = r
	l.vers[k]++
	return l.vers[k], nil
}
