package connectors_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/mapping"
)

func TestLatest(t *testing.T) {
	d := func(id string, v int64) core.Delivery { return core.Delivery{Order: core.Order{ID: id, Version: v}} }
	batch := []core.Delivery{d("A", 2), d("B", 1), d("A", 5), d("C", 3), d("A", 4), d("B", 1)}
	// A's work goes to its version 5 (index 2); B's to the first of equals.
	if got, want := connectors.Latest(batch), []int{2, 1, 2, 3, 2, 1}; !slices.Equal(got, want) {
		t.Fatalf("Latest = %v, want %v", got, want)
	}
	if got := connectors.Latest(nil); len(got) != 0 {
		t.Fatalf("empty batch: %v", got)
	}
}

type noSettings struct{}

func (noSettings) Enabled() bool { return false }

func TestRegistryRefusesMistakes(t *testing.T) {
	mustPanic := func(what string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", what)
			}
		}()
		f()
	}
	mustPanic("a spec without New", func() { connectors.Register(connectors.Spec{Name: "x"}) })
	spec := connectors.Spec{Name: "twice", Settings: func() connectors.Settings { return noSettings{} },
		New: func(context.Context, connectors.Deps) (core.Connector, error) { return nil, nil }}
	connectors.Register(spec)
	defer connectors.Unregister("twice")
	mustPanic("a second registration of one name", func() { connectors.Register(spec) })
	if s, ok := connectors.Lookup("twice"); !ok || s.Title != "twice" {
		t.Fatalf("lookup: %+v %v", s, ok)
	}
	if !slices.Contains(connectors.Names(), "twice") {
		t.Fatal("not listed")
	}
}

// TestRegisterHandsTheMappingProfileOn: a connector's mapping profile is
// registered with it (and removed with it), so that its mapping file loads;
// one that reads no mapping file registers none.
func TestRegisterHandsTheMappingProfileOn(t *testing.T) {
	newSpec := func(name string) connectors.Spec {
		return connectors.Spec{Name: name, Settings: func() connectors.Settings { return noSettings{} },
			New: func(context.Context, connectors.Deps) (core.Connector, error) { return nil, nil }}
	}
	withFile := newSpec("profiled")
	withFile.Mapping = mapping.Profile{Record: "ticket", NoContact: "a ticket has no contact"}
	connectors.Register(withFile)
	p, ok := mapping.LookupProfile("profiled")
	if !ok || p != (mapping.Profile{Connector: "profiled", Record: "ticket", NoContact: "a ticket has no contact"}) {
		t.Fatalf("profile after Register: %+v, %v", p, ok)
	}
	connectors.Unregister("profiled")
	if p, ok := mapping.LookupProfile("profiled"); ok {
		t.Fatalf("profile after Unregister: %+v", p)
	}

	noFile := newSpec("unmapped")
	noFile.NoMapping = true
	connectors.Register(noFile)
	defer connectors.Unregister("unmapped")
	if p, ok := mapping.LookupProfile("unmapped"); ok {
		t.Fatalf("a connector without a mapping file registered profile %+v", p)
	}

	other := newSpec("mislabelled")
	other.Mapping.Connector = "someone-else"
	defer func() {
		if recover() == nil {
			t.Error("a profile for another name did not panic")
		}
		if _, ok := connectors.Lookup("mislabelled"); ok {
			t.Error("the mislabelled connector was registered")
		}
	}()
	connectors.Register(other)
}

// A request with no answer is retried, and the reason says which kind of
// silence it was, naming the CRM and, after a timeout, what the retry does first.
func TestUnanswered(t *testing.T) {
	cause := errors.New("dial tcp: connection refused")
	cases := []struct {
		err                error
		transport, timeout bool
		want               string
	}{
		{cause, true, true, "Bitrix24 did not answer in time; will retry (the deal is looked up first)"},
		{cause, true, false, "Bitrix24 did not answer (network error); will retry"},
		{context.DeadlineExceeded, false, false, "the Bitrix24 request was cut short; will retry"},
		{cause, false, false, "the Bitrix24 request failed; will retry"},
	}
	for _, c := range cases {
		de := connectors.Unanswered("Bitrix24", c.err, c.transport, c.timeout, "the deal is looked up first")
		if de.Class != core.Retryable || de.Reason != c.want || !errors.Is(de, c.err) {
			t.Errorf("Unanswered(%v, transport %v, timeout %v) = %v %q, want retryable %q wrapping the error", c.err, c.transport, c.timeout, de.Class, de.Reason, c.want)
		}
	}
}
