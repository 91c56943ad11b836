package bitrix24_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/time/rate"

	"github.com/paysync/paysync/connectors/bitrix24"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/recorded"
	sandbox "github.com/paysync/paysync/sandbox/bitrix24"
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

func replayClient(t *testing.T, ex recorded.Exchange) {
	c, err := bitrix24.New(bitrix24.Config{WebhookURL: recorded.Serve(t, ex) + "/rest/1/recorded/", Rate: rate.Inf})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var params map[string]any
	_ = json.Unmarshal(ex.Request.Body, &params)
	method := strings.TrimPrefix(ex.Request.Path, "/")
	switch ex.Name {
	case "findbycomm":
		resp, err := c.Call(ctx, method, params)
		var got struct {
			Contact []int `json:"CONTACT"`
		}
		if err != nil || resp.Decode(&got) != nil || len(got.Contact) != 2 || got.Contact[1] != 2297 || resp.Time.OperatingResetAt != 1750684660 {
			t.Fatalf("parsed %+v, %v", resp, err)
		}
	case "deal-list":
		resp, err := c.Call(ctx, method, params)
		var rows []struct {
			ID, StageID, Opportunity string
		}
		if err != nil || resp.Total != 2 || resp.Next != nil || resp.Decode(&rows) != nil || len(rows) != 2 || rows[1].ID != "39" {
			t.Fatalf("parsed %+v %+v, %v", resp, rows, err)
		}
	case "batch", "batch-error":
		res, err := c.Batch(ctx, []bitrix24.Command{{Key: "get_user", Method: "user.current"},
			{Key: "get_department", Method: "department.get", Params: map[string]any{"ID": "$result[get_user][UF_DEPARTMENT][0]"}}}, false)
		if err != nil || len(res) != 2 {
			t.Fatalf("parsed %+v, %v", res, err)
		}
		if ex.Name == "batch-error" {
			for _, r := range res {
				if de := bitrix24.Classify(r.Err); de == nil || de.Class != core.NeedsReauth || !strings.Contains(de.Reason, "crm scope") {
					t.Fatalf("%s: %v", r.Key, r.Err)
				}
			}
			return
		}
		if res[0].Err != nil || res[1].Err != nil || res[1].Total != 1 || !bytes.Contains(res[0].Result, []byte(`"UF_DEPARTMENT"`)) {
			t.Fatalf("parsed %+v", res)
		}
	case "query-limit":
		_, err := c.Call(ctx, method, params)
		if de := bitrix24.Classify(err); de == nil || !de.SlowDown || de.Class != core.Retryable {
			t.Fatalf("read %v", err)
		}
	case "deal-list-error":
		_, err := c.Call(ctx, method, params)
		if de := bitrix24.Classify(err); de == nil || de.Class != core.Permanent || !strings.Contains(de.Reason, "Parameter 'filter' must be array.") {
			t.Fatalf("read %v", err)
		}
	default:
		t.Fatalf("no client replay for %s", ex.Name)
	}
}

func replayDouble(t *testing.T, ex recorded.Exchange) {
	p := newPortal(t, sandbox.Options{})
	c := p.webhookClient(t)
	ctx := context.Background()
	switch ex.Name {
	case "findbycomm":
		// The example's two contacts, with the phones it searches.
		for _, phone := range []string{"8976543", "11223355"} {
			p.AddContact(sandbox.Contact{Name: "Found", Phones: []string{phone}})
		}
	case "deal-list":
		for _, title := range []string{"[A] Deal", "[B] Sale"} {
			if _, err := c.Call(ctx, "crm.deal.add", map[string]any{"fields": map[string]any{"TITLE": title, "CATEGORY_ID": 1,
				"STAGE_ID": "C1:NEW", "OPPORTUNITY": 20000, "TYPE_ID": "COMPLEX"}}); err != nil {
				t.Fatal(err)
			}
		}
	case "query-limit":
		p.FillBucket()
	}
	resp, err := http.Post(p.WebhookURL(p.srv.URL)+strings.TrimPrefix(ex.Request.Path, "/")+".json", "application/json", bytes.NewReader(ex.Request.Body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != ex.Response.Status {
		t.Fatalf("the double answers %d, the docs %d: %s", resp.StatusCode, ex.Response.Status, body)
	}
	if diffs := recorded.SameShape(ex.Response.Body, body); len(diffs) > 0 {
		t.Fatalf("the double's answer differs from the documented one:\n%s\n%s", strings.Join(diffs, "\n"), body)
	}
}
