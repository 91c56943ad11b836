// Package mapping turns an order into what a CRM connector sends (a deal and
// its contact, a lead, a spreadsheet row by header name). Each connector has
// one YAML file (mapping/<connector>.yaml) that names the CRM's fields, where
// their values come from, their types, the payment-status -> stage map and the
// forward-only stage policy. Files are validated completely at load, with
// `file:line:col: reason` errors, so that a typo fails `paysync config check`
// rather than a delivery. Which connectors a file may declare, and how their
// errors call the record, comes from the profiles the connectors register
// (RegisterProfile, through package connectors); this package names none.
package mapping

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/paysync/paysync/core"
)

// Mapping is one validated mapping file. It is immutable after load and safe
// for concurrent use.
type Mapping struct {
	file       string
	connector  string
	loc        *time.Location
	dateLayout string
	country    string
	currencies []string
	currPos    []pos

	entity  []*field
	contact []*field // nil: the file has no contact section
	tags    []*tmpl

	stageField  string
	stages      []string
	stagePos    []pos
	rank        map[string]int
	reopen      map[string]bool
	unknownMove bool
	statuses    map[core.Status]*statusRule

	messages     bool     // a messaging connector's file (Profile.Messages)
	languages    []string // the languages of its messages, the first the default
	patternState          // ReadMessage's patterns, built on first use
}

type pos struct{ line, col int }

// statusRule is what one payment status means for the CRM.
type statusRule struct {
	pos
	stage string // "" keeps the current stage
	note  *tmpl  // nil: no note
	tags  []*tmpl
	// message is a messaging connector's text for the status, by language;
	// nil when the status sends nothing (message: null).
	message map[string]*tmpl
}

// Input is what Render needs: the order as it stands and the journal entries
// since the last sync, which become notes.
type Input struct {
	Order       core.Order
	Transitions []core.JournalEntry
}

// Payload is what a connector sends for one order. Maps hold only strings,
// int64, bool, json.Number (decimals), []any and map[string]any, so that
// json.Marshal gives the same bytes every time.
type Payload struct {
	Entity  map[string]any `json:"entity,omitempty"`  // deal fields / lead object / row by header name; none for a messaging connector
	Contact map[string]any `json:"contact,omitempty"` // contact fields when the mapping has a contact section
	Stage   string         `json:"stage,omitempty"`   // where the order's status moves an existing record; "" keeps it where it is
	// NewStage is where a record created now starts: Stage, or for a status
	// whose stage is null the stage of pending. A record created for a failed
	// order lands where one created while pending would stay, so the stage
	// does not depend on whether the CRM saw the order before it failed. The
	// entity's stage field (source: stage) holds this stage; a connector
	// updating a record drops it unless Stage moves the record.
	NewStage string   `json:"new_stage,omitempty"`
	Notes    []string `json:"notes,omitempty"` // rendered per-status extras / timeline comments for the Transitions
	Tags     []string `json:"tags,omitempty"`
	// Messages is a messaging connector's message for the order's status,
	// by language (hy, ru, en, …); nil when the status sends none.
	Messages map[string]string `json:"messages,omitempty"`
}

// realChange reports whether a journal entry changed the order in a way a
// note should tell: a new status, or money moving within one (a further
// refund). A link attached, a webhook awaiting confirmation or a duplicate
// leaves the status as it was and gets no note of its own.
func realChange(e *core.JournalEntry) bool {
	return e.StatusBefore != e.StatusAfter || e.Verdict == core.VerdictAccepted
}

// LoadFile reads and validates one mapping file. Its error, when it is an
// Errors, holds every problem as a `file:line:col: reason` line.
func LoadFile(path string) (*Mapping, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mapping: %w", err)
	}
	return Parse(path, data)
}

// LoadDir loads dir/<connector>.yaml for each connector and checks that each
// file declares the connector it is named after. An empty connectors list
// loads every *.yaml in dir. dir "" loads the copies built into the binary.
// Errors from all files are returned together.
func LoadDir(dir string, connectors []string) (map[string]*Mapping, error) {
	if len(connectors) == 0 {
		connectors = filesIn(dir)
	}
	out := make(map[string]*Mapping, len(connectors))
	var all Errors
	var other []error
	for _, c := range connectors {
		var m *Mapping
		var err error
		if dir == "" {
			m, err = loadShipped(c)
		} else {
			m, err = LoadFile(filepath.Join(dir, c+".yaml"))
		}
		var es Errors
		switch {
		case errors.As(err, &es):
			all = append(all, es...)
			continue
		case err != nil:
			other = append(other, err)
			continue
		}
		if m.connector != c {
			all = append(all, &Error{File: m.file, Line: 1, Col: 1,
				Reason: fmt.Sprintf("file is named for connector %s but declares connector: %s", c, m.connector)})
			continue
		}
		out[c] = m
	}
	if len(all) > 0 {
		other = append(other, all.sorted())
	}
	if err := errors.Join(other...); err != nil {
		return nil, err
	}
	return out, nil
}

func filesIn(dir string) []string {
	var names []string
	if dir == "" {
		ents, _ := shipped.ReadDir(".")
		for _, e := range ents {
			if n, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
				names = append(names, n)
			}
		}
		return names
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	for _, p := range paths {
		names = append(names, strings.TrimSuffix(filepath.Base(p), ".yaml"))
	}
	return names
}

// Connector is the connector this file maps for, as its `connector:` says.
func (m *Mapping) Connector() string { return m.connector }

// File is the path the mapping was loaded from.
func (m *Mapping) File() string { return m.file }

// Stages is the stage order of the forward-only policy, earliest first.
func (m *Mapping) Stages() []string { return slices.Clone(m.stages) }

// StageField is the entity field that carries the stage (STAGE_ID, status_id,
// Status), or "". A connector updating an existing record drops this field
// from Entity when AllowStageMove(current, Payload.Stage) is false.
func (m *Mapping) StageField() string { return m.stageField }

// Fields lists the entity's top-level field names in file order (for a
// spreadsheet, the header row to write into an empty sheet).
func (m *Mapping) Fields() []string {
	names := make([]string, len(m.entity))
	for i, f := range m.entity {
		names[i] = f.name
	}
	return names
}

// AllowStageMove reports whether moving a record from the CRM's current stage
// to next obeys the forward-only policy:
//   - next must be a listed stage; current == next is allowed (nothing moves);
//   - current "" (a new record) allows any listed stage;
//   - a stage listed in stages.reopen may be left for any stage (a late payment
//     revives a lost deal);
//   - otherwise next must not come before current in stages.order, so a late
//     `paid` never pulls a deal out of a later stage a manager chose;
//   - a current stage missing from stages.order (a manager's own stage) is left
//     alone unless the file says `unknown: move`. Keeping is the default because
//     paysync cannot tell whether that stage is before or after next.
func (m *Mapping) AllowStageMove(current, next string) bool {
	ni, ok := m.rank[next]
	if !ok {
		return false
	}
	if current == next || current == "" {
		return true
	}
	ci, ok := m.rank[current]
	if !ok {
		return m.unknownMove
	}
	return m.reopen[current] || ni >= ci
}

// Messages reports whether this is a messaging connector's file (a message
// per status and language) rather than a CRM record's.
func (m *Mapping) Messages() bool { return m.messages }

// Languages lists the languages of a messaging connector's messages, in the
// file's order; the first is the file's default.
func (m *Mapping) Languages() []string { return slices.Clone(m.languages) }

// Render builds the payload for one order. It never panics; an error lists
// every field that failed, with its position in the mapping file.
func (m *Mapping) Render(in Input) (p Payload, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = Payload{}, fmt.Errorf("mapping %s: render failed: %v", m.file, r)
		}
	}()
	o := &in.Order
	rule, ok := m.statuses[o.Status]
	if !ok {
		return Payload{}, core.Errorf(core.EINVALID, "order %s has unknown status %q", o.ID, o.Status)
	}
	if m.messages {
		return m.renderMessages(o, rule, lastReasonOf(in))
	}
	r := &renderer{m: m, data: renderData(o, lastReasonOf(in), m.loc)}
	p.Stage, p.NewStage = rule.stage, rule.stage
	if p.NewStage == "" {
		if pending := m.statuses[core.StatusPending]; pending != nil {
			p.NewStage = pending.stage
		}
	}
	r.data["stage"] = p.NewStage
	p.Tags = r.tags(rule)
	r.data["tags"] = p.Tags
	p.Entity = r.object(m.entity)
	if m.contact != nil {
		if c := r.object(m.contact); len(c) > 0 {
			p.Contact = c
		}
	}
	var trans map[string]any
	for i := range in.Transitions {
		tr := &in.Transitions[i]
		rule := m.statuses[tr.StatusAfter]
		if tr.StatusAfter == "" || rule == nil || rule.note == nil || !realChange(tr) {
			continue
		}
		if trans == nil {
			trans = make(map[string]any, 11)
			r.data["transition"] = trans
		}
		setTransition(trans, tr, m.loc)
		s, err := rule.note.exec(r.data)
		if err != nil {
			r.failAt(rule.pos, "statuses.%s.note: %v", tr.StatusAfter, err)
			continue
		}
		if s = strings.TrimSpace(s); s != "" {
			p.Notes = append(p.Notes, s)
		}
	}
	if len(r.errs) > 0 {
		return Payload{}, r.errs.sorted()
	}
	return p, nil
}

// lastReasonOf explains the current status: the reason of the entry that
// moved the order last, not an older one (a decline before a payment).
func lastReasonOf(in Input) string {
	for i := len(in.Transitions) - 1; i >= 0; i-- {
		if in.Transitions[i].StatusAfter != "" {
			if r := in.Transitions[i].Reason; r != "" {
				return r
			}
			break
		}
	}
	return in.Order.Reason
}

// renderMessages renders a messaging connector's message for the order's
// status in every language of the file.
func (m *Mapping) renderMessages(o *core.Order, rule *statusRule, lastReason string) (Payload, error) {
	if rule.message == nil {
		return Payload{}, nil
	}
	r := &renderer{m: m, data: renderData(o, lastReason, m.loc)}
	p := Payload{Messages: make(map[string]string, len(rule.message))}
	for _, lang := range m.languages {
		t := rule.message[lang]
		if t == nil {
			continue
		}
		s, err := t.exec(r.data)
		if err != nil {
			r.failAt(rule.pos, "statuses.%s.message.%s: %v", o.Status, lang, err)
			continue
		}
		p.Messages[lang] = strings.TrimSpace(s)
	}
	if len(r.errs) > 0 {
		return Payload{}, r.errs.sorted()
	}
	return p, nil
}
