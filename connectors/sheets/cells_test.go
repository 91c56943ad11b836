package sheets_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf16"

	"github.com/paysync/paysync/connectors/connectortest"
	"github.com/paysync/paysync/connectors/sheets"
	"github.com/paysync/paysync/core"
	sandbox "github.com/paysync/paysync/sandbox/sheets"
)

// Google refuses a cell over 50,000 characters, and the whole request with
// it (issue 24): the connector cuts such a cell below the limit, with the
// cut shown in the cell, and the order lands.
func TestOverlongCellIsCut(t *testing.T) {
	t.Parallel()
	d := newDouble(t, sandbox.Options{Sheets: []string{sheets.DefaultSheet}})
	c := d.connector(t, shipped(t))
	o := connectortest.Order("LONG-1")
	o.Shipping = map[string]any{"method": "courier", "address": strings.Repeat("Yerevan, ", 6_700)} // 60,300 characters
	mustDeliver(t, c, core.Delivery{Order: o}, core.Delivery{Order: connectortest.Order("LONG-2")})
	got := d.Value(sheets.DefaultSheet, d.row(t, o.ID), "Delivery")
	n := len(utf16.Encode([]rune(got)))
	if n >= sandbox.MaxCellChars || !strings.HasPrefix(got, "courier: Yerevan, ") || !strings.Contains(got, "[cut by paysync:") {
		t.Fatalf("the Delivery cell holds %d characters, ends %q", n, got[max(0, len(got)-80):])
	}
	d.row(t, "LONG-2")
}

// A values:batchUpdate or append is all or nothing: a 400 for one order's
// row used to dead-letter every order of the delivery (issue 24). It is
// narrowed down to the rows Google refuses, which alone fail with its
// reason; the rest land.
func TestRefusedRowAloneFails(t *testing.T) {
	t.Parallel()
	d := newDouble(t, sandbox.Options{Sheets: []string{sheets.DefaultSheet}})
	c := d.connector(t, shipped(t))
	d.RefuseCells("poison")
	var ds []core.Delivery
	for i := range 12 {
		o := connectortest.Order(fmt.Sprintf("NARROW-%02d", i))
		if i == 7 {
			o.Customer.Name = "a poison pill"
		}
		ds = append(ds, core.Delivery{Order: o})
	}
	check := func(what string, res []core.DeliveryResult) {
		t.Helper()
		for i, r := range res {
			if i != 7 && r.Err != nil {
				t.Fatalf("%s: order %d failed with the refused one: %v", what, i, r.Err)
			}
		}
		de := sheets.Classify(res[7].Err)
		if de == nil || de.Class != core.Permanent || !strings.Contains(de.Reason, "RefuseCells") {
			t.Fatalf("%s: the refused order: %v", what, res[7].Err)
		}
	}
	check("appends", deliver(t, c, ds...))
	for i := range ds {
		if i != 7 {
			d.row(t, ds[i].Order.ID)
		}
	}
	// Updates of rows that exist: the refused order gets a row first.
	d.RefuseCells("")
	res := mustDeliver(t, c, ds[7])
	d.RefuseCells("poison")
	for i := range ds {
		ds[i].Order = moveTo(ds[i].Order, core.StatusPaid)
		if i == 7 {
			ds[i] = linked(ds[i].Order, res[0])
		}
	}
	check("updates", deliver(t, c, ds...))
	for i := range ds {
		want := "Paid"
		if i == 7 {
			want = "Awaiting payment"
		}
		if got := d.Value(sheets.DefaultSheet, d.row(t, ds[i].Order.ID), "Status"); got != want {
			t.Fatalf("order %d is %q, want %q", i, got, want)
		}
	}
}

// Every API request is reported to the dispatcher's breaker.
func TestRequestsAreReported(t *testing.T) {
	t.Parallel()
	d := newDouble(t, sandbox.Options{Sheets: []string{sheets.DefaultSheet}})
	c := d.connector(t, shipped(t))
	var mu sync.Mutex
	var got []core.RequestOutcome
	ctx := core.WithRequestObserver(context.Background(), func(o core.RequestOutcome) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, o)
	})
	d.FailNext(1, http.StatusServiceUnavailable)
	c.Deliver(ctx, []core.Delivery{{Order: connectortest.Order("OBS-1")}})
	c.Deliver(ctx, []core.Delivery{{Order: connectortest.Order("OBS-1")}})
	mu.Lock()
	defer mu.Unlock()
	if len(got) < 3 || got[0] != core.RequestFailed || slices.Contains(got[1:], core.RequestFailed) {
		t.Fatalf("reported %v: want the 503 first, then answers", got)
	}
}
