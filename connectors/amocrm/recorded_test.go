package amocrm_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/paysync/paysync/connectors/amocrm"
	"github.com/paysync/paysync/internal/recorded"
	sandbox "github.com/paysync/paysync/sandbox/amocrm"
)

// The documented examples in testdata/exchanges are parsed by the client
// and answered in the same shape by the double (internal/recorded).
func TestRecordedExchanges(t *testing.T) {
	for _, ex := range recorded.Load(t, "testdata/exchanges") {
		t.Run(ex.Name+"/client", func(t *testing.T) { replayClient(t, ex) })
		if ex.ToDouble() {
			t.Run(ex.Name+"/double", func(t *testing.T) { replayDouble(t, ex) })
		}
	}
}

// replayClient has the client send the documented request's kind and read
// the documented answer.
func replayClient(t *testing.T, ex recorded.Exchange) {
	c, err := amocrm.New(amocrm.Config{BaseURL: recorded.Serve(t, ex), Tokens: amocrm.LongLivedToken("recorded")})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var items []map[string]any
	if len(ex.Request.Body) > 0 {
		if err := json.Unmarshal(ex.Request.Body, &items); err != nil {
			t.Fatal(err)
		}
	}
	switch ex.Name {
	case "leads-complex", "leads-complex-merged":
		res, err := c.AddComplex(ctx, items)
		if err != nil || len(res) != 1 || res[0].ID != 9774766 || res[0].ContactID == nil || *res[0].ContactID != 12117258 ||
			len(res[0].RequestID) != 1 || res[0].Merged != (ex.Name == "leads-complex-merged") {
			t.Fatalf("parsed %+v, %v", res, err)
		}
	case "leads-add":
		res, err := c.AddLeads(ctx, items)
		if err != nil || len(res) != 1 || res[0].ID != 10185151 || res[0].RequestID != "0" {
			t.Fatalf("parsed %+v, %v", res, err)
		}
	case "leads-list":
		leads, more, err := c.LeadsCreatedSince(ctx, time.Unix(1453279607, 0), 1)
		if err != nil || more || len(leads) != 1 || leads[0].ID != 19619 || leads[0].StatusID != 142 || leads[0].PipelineID != 1300 || leads[0].Price != 46333 {
			t.Fatalf("parsed %+v (more %v), %v", leads, more, err)
		}
	case "leads-query-nothing":
		found, err := c.SearchLeads(ctx, "NO-SUCH-ORDER-4711", nil)
		if err != nil || len(found) != 0 {
			t.Fatalf("204: %+v, %v", found, err)
		}
	case "validation-error":
		_, err := c.AddLeads(ctx, items)
		bad := amocrm.Validation(err)
		if len(bad["0"]) != 1 || bad["0"][0].Code != "NotSupportedChoice" || bad["0"][0].Path != "custom_fields_values.0.field_id" {
			t.Fatalf("read %v as %v", err, bad)
		}
	default:
		t.Fatalf("no client replay for %s", ex.Name)
	}
}

// replayDouble sends the documented request to the double, after what the
// example assumes happened before, and compares the answers' shapes.
func replayDouble(t *testing.T, ex recorded.Exchange) {
	a := newAccount(t, sandbox.Options{DuplicateControl: ex.Name == "leads-complex-merged"})
	send := func(req recorded.Request) (int, []byte) {
		t.Helper()
		u := a.srv.URL + req.Path
		if req.Query != "" {
			u += "?" + req.Query
		}
		var body io.Reader
		if len(req.Body) > 0 {
			body = bytes.NewReader(req.Body)
		}
		r, _ := http.NewRequest(req.Method, u, body)
		r.Header.Set("Authorization", "Bearer "+a.AccessToken())
		r.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	switch ex.Name {
	case "leads-complex-merged":
		// The example's first request, which made the lead it merges into.
		first := recorded.Load(t, "testdata/exchanges")
		for _, e := range first {
			if e.Name == "leads-complex" {
				send(e.Request)
			}
		}
	case "leads-list":
		send(recorded.Request{Method: "POST", Path: "/api/v4/leads", Body: json.RawMessage(`[{"name":"Deal for example","price":46333}]`)})
	}
	status, body := send(ex.Request)
	if status != ex.Response.Status {
		t.Fatalf("the double answers %d, the docs %d: %s", status, ex.Response.Status, body)
	}
	if len(ex.Response.Body) == 0 {
		if len(bytes.TrimSpace(body)) != 0 {
			t.Fatalf("the docs answer an empty body, the double %q", body)
		}
		return
	}
	if diffs := recorded.SameShape(ex.Response.Body, body); len(diffs) > 0 {
		t.Fatalf("the double's answer differs from the documented one:\n%s\n%s", strings.Join(diffs, "\n"), body)
	}
	if ex.Name == "leads-complex-merged" && !bytes.Contains(body, []byte(`"merged":true`)) {
		t.Fatalf("no merge: %s", body)
	}
}
