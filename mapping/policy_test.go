package mapping_test

import (
	"strings"
	"testing"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/mapping"
)

type move struct {
	current, next string
	want          bool
}

// TestForwardOnly checks each shipped stage map: payments move records
// forward, never back out of a stage a manager chose, and may revive a lost one.
func TestForwardOnly(t *testing.T) {
	cases := map[string][]move{
		"bitrix24": {
			{"", "PREPAYMENT_INVOICE", true},           // new deal
			{"NEW", "PREPAYMENT_INVOICE", true},        // link sent
			{"PREPAYMENT_INVOICE", "EXECUTING", true},  // paid
			{"EXECUTING", "EXECUTING", true},           // repeat
			{"FINAL_INVOICE", "EXECUTING", false},      // late paid after a manager moved on
			{"WON", "EXECUTING", false},                // late paid must not leave WON
			{"EXECUTING", "PREPAYMENT_INVOICE", false}, // never back
			{"WON", "LOSE", true},                      // refund after delivery
			{"LOSE", "EXECUTING", true},                // payment revives a lost deal
			{"APOLOGY", "EXECUTING", true},             // so does one under analysis
			{"C1:NEW", "EXECUTING", false},             // a stage paysync does not know is kept
			{"EXECUTING", "C1:NEW", false},             // nor moved to
			{"EXECUTING", "", false},                   // "" is no stage
		},
		"amocrm": {
			{"", "61234562", true},
			{"61234561", "61234562", true},
			{"61234562", "61234563", true},
			{"61234564", "61234563", false}, // late paid after Shipped
			{"142", "61234563", false},      // late paid after won
			{"61234563", "143", true},       // refund
			{"143", "61234563", true},       // payment revives a lost lead
			{"142", "143", true},
			{"143", "142", true},
			{"99999999", "61234563", false}, // unknown status kept
		},
		"sheets": {
			{"", "Awaiting payment", true},
			{"Awaiting payment", "Paid", true},
			{"Payment failed", "Paid", true},
			{"Expired", "Needs review", true},
			{"Needs review", "Payment failed", true}, // a person decided it failed
			{"Needs review", "Paid", true},
			{"Delivered", "Paid", false}, // late paid after Delivered
			{"Shipped", "Paid", false},
			{"Paid", "Awaiting payment", false},
			{"Delivered", "Refunded", true},
			{"Shipped to Gyumri", "Paid", false}, // a label someone typed
		},
	}
	for _, c := range mapping.ShippedConnectors() {
		m := load(t, c)
		if m.Messages() {
			continue // a messaging connector's file has no stages
		}
		if len(cases[c]) == 0 {
			t.Fatalf("no policy cases for %s", c)
		}
		for _, tc := range cases[c] {
			if got := m.AllowStageMove(tc.current, tc.next); got != tc.want {
				t.Errorf("%s: AllowStageMove(%q, %q) = %v, want %v", c, tc.current, tc.next, got, tc.want)
			}
		}
	}
}

// TestLatePaidKeepsLaterStage walks the connector's view: the record sits in
// a later stage a manager set; a late `paid` renders, and the policy says keep.
func TestLatePaidKeepsLaterStage(t *testing.T) {
	later := map[string]string{"bitrix24": "WON", "amocrm": "142", "sheets": "Delivered"}
	in := readInput(t, "testdata/orders/paid_full.json")
	for _, c := range mapping.ShippedConnectors() {
		m := load(t, c)
		if m.Messages() {
			continue // a messaging connector's file has no stages
		}
		p := render(t, m, in)
		if p.Stage == "" {
			t.Fatalf("%s: paid has no stage", c)
		}
		if m.AllowStageMove(later[c], p.Stage) {
			t.Errorf("%s: a late paid (%s) would pull the record out of %s", c, p.Stage, later[c])
		}
		if !m.AllowStageMove("", p.Stage) {
			t.Errorf("%s: a new record cannot take the paid stage %s", c, p.Stage)
		}
		if m.StageField() == "" || p.Entity[m.StageField()] == nil {
			t.Errorf("%s: entity has no stage field %q", c, m.StageField())
		}
	}
}

// TestEveryForwardStatusPathIsAllowed: along every path of the order state
// machine, each status's stage may follow the previous one's, so paysync's
// own updates are never refused by its own policy.
func TestEveryForwardStatusPathIsAllowed(t *testing.T) {
	in := readInput(t, "testdata/orders/paid_full.json")
	for _, c := range mapping.ShippedConnectors() {
		m := load(t, c)
		if m.Messages() {
			continue // a messaging connector's file has no stages
		}
		stage := map[core.Status]string{}
		for _, st := range core.Statuses {
			in.Order.Status = st
			stage[st] = render(t, m, in).Stage
		}
		for _, from := range core.Statuses {
			for _, to := range core.Statuses {
				if !core.CanTransition(from, to) || stage[from] == "" || stage[to] == "" {
					continue
				}
				if !m.AllowStageMove(stage[from], stage[to]) {
					t.Errorf("%s: %s -> %s is a valid payment move but stage %s -> %s is refused", c, from, to, stage[from], stage[to])
				}
			}
		}
	}
}

func TestUnknownStagePolicy(t *testing.T) {
	for _, tc := range []struct {
		policy string
		want   bool
	}{{"", false}, {"\n  unknown: keep", false}, {"\n  unknown: move", true}} {
		m, err := mapping.Parse("t.yaml", []byte(strings.Replace(minimal, "order: [A, B]", "order: [A, B]"+tc.policy, 1)))
		if err != nil {
			t.Fatal(err)
		}
		if got := m.AllowStageMove("Z", "A"); got != tc.want {
			t.Errorf("policy %q: unknown current -> A = %v, want %v", tc.policy, got, tc.want)
		}
		if m.AllowStageMove("B", "A") || !m.AllowStageMove("A", "B") {
			t.Errorf("policy %q: order A < B not enforced", tc.policy)
		}
	}
}

func TestStagesIsACopy(t *testing.T) {
	m := load(t, "sheets")
	s := m.Stages()
	s[0] = "hacked"
	if m.Stages()[0] == "hacked" {
		t.Fatal("Stages exposes the mapping's slice")
	}
}
