package amocrm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/paysync/paysync/core"
)

// Request sizes amoCRM accepts.
const (
	MaxEntities = 250 // leads, notes or ids in one request
	MaxComplex  = 50  // leads in one POST /api/v4/leads/complex
	// maxSearchPages bounds GET /leads?query=: a short order id can match
	// many leads' text, and only an exact order-id value counts.
	maxSearchPages = 20
)

// Lead is a lead as GET /api/v4/leads returns it, the parts paysync reads.
type Lead struct {
	ID                 int64              `json:"id"`
	Name               string             `json:"name"`
	Price              int64              `json:"price"`
	StatusID           int64              `json:"status_id"`
	PipelineID         int64              `json:"pipeline_id"`
	CustomFieldsValues []CustomFieldValue `json:"custom_fields_values"`
	Embedded           struct {
		Tags     []Tag `json:"tags"`
		Contacts []struct {
			ID int64 `json:"id"`
		} `json:"contacts"`
	} `json:"_embedded"`
}

// CustomFieldValue is one custom field of a lead.
type CustomFieldValue struct {
	FieldID int64 `json:"field_id"`
	Values  []struct {
		Value  json.RawMessage `json:"value"`
		EnumID int64           `json:"enum_id"`
	} `json:"values"`
}

// Tag is a lead's tag.
type Tag struct {
	ID   int64  `json:"id,omitempty"`
	Name string `json:"name"`
}

// FieldText is the first value of a custom field as text, "" when unset.
func (l *Lead) FieldText(fieldID int64) string {
	for _, f := range l.CustomFieldsValues {
		if f.FieldID != fieldID || len(f.Values) == 0 {
			continue
		}
		raw := f.Values[0].Value
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return strings.TrimSpace(string(raw))
	}
	return ""
}

// TagNames lists the lead's tags.
func (l *Lead) TagNames() []string {
	out := make([]string, 0, len(l.Embedded.Tags))
	for _, t := range l.Embedded.Tags {
		out = append(out, t.Name)
	}
	return out
}

type leadsPage struct {
	Links struct {
		Next *struct {
			Href string `json:"href"`
		} `json:"next"`
	} `json:"_links"`
	Embedded struct {
		Leads []Lead `json:"leads"`
	} `json:"_embedded"`
}

// decodeAnswer unmarshals a 2xx answer, naming the request when it is not
// amoCRM's JSON.
func decodeAnswer(op string, body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return &core.DeliveryError{Class: core.Retryable, Reason: "amoCRM sent an answer to " + op + " that paysync cannot read; will retry",
			Err: fmt.Errorf("%s: %w", op, err)}
	}
	return nil
}

// LeadsByID reads up to 250 leads by id; ids that do not exist are left out.
func (c *Client) LeadsByID(ctx context.Context, ids []int64) ([]Lead, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	if len(ids) > MaxEntities {
		return nil, &core.DeliveryError{Class: core.Permanent, Reason: fmt.Sprintf("paysync asked amoCRM for %d leads at once, more than %d (a bug)", len(ids), MaxEntities)}
	}
	// Brackets stay literal: 250 ids then fit the 8 KB request line that
	// common front ends accept.
	var q strings.Builder
	q.WriteString("with=contacts&limit=" + strconv.Itoa(MaxEntities))
	for _, id := range ids {
		q.WriteString("&filter[id][]=")
		q.WriteString(strconv.FormatInt(id, 10))
	}
	status, body, err := c.do(ctx, request{method: http.MethodGet, path: "/api/v4/leads", query: q.String()})
	if err != nil || status == http.StatusNoContent {
		return nil, err
	}
	var page leadsPage
	if err := decodeAnswer("GET /api/v4/leads", body, &page); err != nil {
		return nil, err
	}
	return page.Embedded.Leads, nil
}

// SearchLeads reads the leads GET /api/v4/leads?query= finds for text: every
// lead with the text in a filled field (amoCRM answers 204 for none). It
// stops at the first page where keep reports a match.
func (c *Client) SearchLeads(ctx context.Context, text string, keep func(*Lead) bool) ([]Lead, error) {
	var out []Lead
	for page := 1; page <= maxSearchPages; page++ {
		q := "with=contacts&query=" + url.QueryEscape(text) + "&limit=" + strconv.Itoa(MaxEntities) + "&page=" + strconv.Itoa(page)
		status, body, err := c.do(ctx, request{method: http.MethodGet, path: "/api/v4/leads", query: q})
		if err != nil {
			return nil, err
		}
		if status == http.StatusNoContent {
			return out, nil
		}
		var p leadsPage
		if err := decodeAnswer("GET /api/v4/leads", body, &p); err != nil {
			return nil, err
		}
		found := false
		for i := range p.Embedded.Leads {
			l := p.Embedded.Leads[i]
			if keep == nil || keep(&l) {
				out = append(out, l)
				found = true
			}
		}
		if found || p.Links.Next == nil || len(p.Embedded.Leads) < MaxEntities {
			return out, nil
		}
	}
	return out, nil
}

// LeadsCreatedSince reads one page (250 leads, oldest first) of the leads
// created at or after since: GET /api/v4/leads?filter[created_at][from]=.
// The filter reads the leads themselves, so a lead created a moment ago is
// there, unlike in ?query= results, which come from a search index that
// catches up later. more says whether another page may follow.
func (c *Client) LeadsCreatedSince(ctx context.Context, since time.Time, page int) (leads []Lead, more bool, err error) {
	q := "with=contacts&filter[created_at][from]=" + strconv.FormatInt(max(since.Unix(), 1), 10) +
		"&order[id]=asc&limit=" + strconv.Itoa(MaxEntities) + "&page=" + strconv.Itoa(page)
	status, body, err := c.do(ctx, request{method: http.MethodGet, path: "/api/v4/leads", query: q})
	if err != nil || status == http.StatusNoContent {
		return nil, false, err
	}
	var p leadsPage
	if err := decodeAnswer("GET /api/v4/leads", body, &p); err != nil {
		return nil, false, err
	}
	return p.Embedded.Leads, p.Links.Next != nil && len(p.Embedded.Leads) == MaxEntities, nil
}

// AddedLead is one lead POST /api/v4/leads created.
type AddedLead struct {
	ID        int64  `json:"id"`
	RequestID string `json:"request_id"`
}

// AddLeads creates up to 250 leads in one request (no duplicate control:
// that is /leads/complex's), each item with its request_id.
func (c *Client) AddLeads(ctx context.Context, items []map[string]any) ([]AddedLead, error) {
	if len(items) > MaxEntities {
		return nil, &core.DeliveryError{Class: core.Permanent, Reason: fmt.Sprintf("paysync built a lead create of %d leads, more than %d (a bug)", len(items), MaxEntities)}
	}
	_, body, err := c.do(ctx, request{method: http.MethodPost, path: "/api/v4/leads", body: items})
	if err != nil {
		return nil, err
	}
	var out struct {
		Embedded struct {
			Leads []AddedLead `json:"leads"`
		} `json:"_embedded"`
	}
	if err := decodeAnswer("POST /api/v4/leads", body, &out); err != nil {
		return nil, err
	}
	return out.Embedded.Leads, nil
}

// ComplexResult is one lead POST /api/v4/leads/complex created.
type ComplexResult struct {
	ID        int64    `json:"id"`
	ContactID *int64   `json:"contact_id"`
	RequestID []string `json:"request_id"`
	Merged    bool     `json:"merged"`
}

// AddComplex creates up to 50 leads, each with its embedded contact, in one
// request. Each item carries a request_id that its result and its
// validation errors are keyed by.
func (c *Client) AddComplex(ctx context.Context, items []map[string]any) ([]ComplexResult, error) {
	if len(items) > MaxComplex {
		return nil, &core.DeliveryError{Class: core.Permanent, Reason: fmt.Sprintf("paysync built a /leads/complex request of %d leads, more than %d (a bug)", len(items), MaxComplex)}
	}
	_, body, err := c.do(ctx, request{method: http.MethodPost, path: "/api/v4/leads/complex", body: items})
	if err != nil {
		return nil, err
	}
	var out []ComplexResult
	if err := decodeAnswer("POST /api/v4/leads/complex", body, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// UpdatedLead is one lead PATCH /api/v4/leads changed.
type UpdatedLead struct {
	ID        int64 `json:"id"`
	UpdatedAt int64 `json:"updated_at"`
}

// UpdateLeads changes up to 250 leads, each item with its id.
func (c *Client) UpdateLeads(ctx context.Context, items []map[string]any) ([]UpdatedLead, error) {
	if len(items) > MaxEntities {
		return nil, &core.DeliveryError{Class: core.Permanent, Reason: fmt.Sprintf("paysync built a lead update of %d leads, more than %d (a bug)", len(items), MaxEntities)}
	}
	_, body, err := c.do(ctx, request{method: http.MethodPatch, path: "/api/v4/leads", body: items})
	if err != nil {
		return nil, err
	}
	var out struct {
		Embedded struct {
			Leads []UpdatedLead `json:"leads"`
		} `json:"_embedded"`
	}
	if err := decodeAnswer("PATCH /api/v4/leads", body, &out); err != nil {
		return nil, err
	}
	return out.Embedded.Leads, nil
}

// NewNote is a common (text) note on a lead.
type NewNote struct {
	LeadID    int64
	Text      string
	RequestID string
}

func (n NewNote) body() map[string]any {
	return map[string]any{"entity_id": n.LeadID, "note_type": "common", "params": map[string]any{"text": n.Text}, "request_id": n.RequestID}
}

// NoteResult is one note POST /api/v4/leads/notes added.
type NoteResult struct {
	ID        int64  `json:"id"`
	EntityID  int64  `json:"entity_id"`
	RequestID string `json:"request_id"`
}

// AddNotes adds up to 250 notes to leads in one request.
func (c *Client) AddNotes(ctx context.Context, notes []NewNote) ([]NoteResult, error) {
	if len(notes) > MaxEntities {
		return nil, &core.DeliveryError{Class: core.Permanent, Reason: fmt.Sprintf("paysync built %d notes in one request, more than %d (a bug)", len(notes), MaxEntities)}
	}
	items := make([]map[string]any, len(notes))
	for i, n := range notes {
		items[i] = n.body()
	}
	_, body, err := c.do(ctx, request{method: http.MethodPost, path: "/api/v4/leads/notes", body: items})
	if err != nil {
		return nil, err
	}
	var out struct {
		Embedded struct {
			Notes []NoteResult `json:"notes"`
		} `json:"_embedded"`
	}
	if err := decodeAnswer("POST /api/v4/leads/notes", body, &out); err != nil {
		return nil, err
	}
	return out.Embedded.Notes, nil
}

// Validation returns the validation errors of a 400 answer by request_id,
// nil when err is not one.
func Validation(err error) map[string][]FieldError {
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || len(ae.Validation) == 0 {
		return nil
	}
	out := map[string][]FieldError{}
	for _, it := range ae.Validation {
		out[it.RequestID] = append(out[it.RequestID], it.Errors...)
	}
	return out
}
