package sheets_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2/google"

	"github.com/paysync/paysync/connectors/sheets"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/recorded"
	sandbox "github.com/paysync/paysync/sandbox/sheets"
)

// The documented examples in testdata/exchanges are parsed by the client
// and answered in the same shape by the double (internal/recorded).
func TestRecordedExchanges(t *testing.T) {
	for _, ex := range recorded.Load(t, "testdata/exchanges") {
		ex.Request.Body = expand(ex.Request.Body)
		t.Run(ex.Name+"/client", func(t *testing.T) { replayClient(t, ex) })
		if ex.ToDouble() {
			t.Run(ex.Name+"/double", func(t *testing.T) { replayDouble(t, ex) })
		}
	}
}

// expand turns the marker "<50001 x a>" into that many a's: the example
// is about the size, and a file of it would say nothing more.
func expand(b json.RawMessage) json.RawMessage {
	return bytes.ReplaceAll(b, []byte("<50001 x a>"), bytes.Repeat([]byte("a"), 50_001))
}

func replayClient(t *testing.T, ex recorded.Exchange) {
	tokens := newDouble(t, sandbox.Options{}) // the token endpoint only
	c, err := sheets.New(sheets.Config{SpreadsheetID: "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms", Key: tokens.key,
		Endpoint: recorded.Serve(t, ex) + "/", WritesPerMinute: -1, ReadsPerMinute: -1, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var vr sheets.ValueRange
	var batch struct {
		Data []sheets.ValueRange `json:"data"`
	}
	_ = json.Unmarshal(ex.Request.Body, &vr)
	_ = json.Unmarshal(ex.Request.Body, &batch)
	switch ex.Name {
	case "values-append":
		res, err := c.Append(ctx, vr.Range, vr.Values)
		if err != nil || res.TableRange != "Sheet1!A1:D12" || res.Updates.UpdatedRange != "Sheet1!A13:D14" || res.Updates.UpdatedRows != 2 {
			t.Fatalf("parsed %+v, %v", res, err)
		}
	case "values-batch-update":
		if err := c.BatchUpdate(ctx, batch.Data); err != nil {
			t.Fatal(err)
		}
	case "values-batch-get":
		q, _ := url.ParseQuery(ex.Request.Query)
		got, err := c.BatchGet(ctx, q["ranges"])
		if err != nil || len(got) != 2 || got[1].Range != "Sheet1!D1:D1000" || len(got[0].Values) != 4 || got[0].Values[1][0] != "$20.50" {
			t.Fatalf("parsed %+v, %v", got, err)
		}
	case "bad-range":
		err := c.BatchUpdate(ctx, batch.Data)
		if de := sheets.Classify(err); de == nil || de.Class != core.Permanent || !strings.Contains(de.Reason, "Invalid data[0]: Unable to parse range") {
			t.Fatalf("read %v", err)
		}
	case "cell-limit":
		_, err := c.Update(ctx, vr.Range, vr.Values)
		if de := sheets.Classify(err); de == nil || de.Class != core.Permanent || !strings.Contains(de.Reason, "50000 characters") {
			t.Fatalf("read %v", err)
		}
	default:
		t.Fatalf("no client replay for %s", ex.Name)
	}
}

func replayDouble(t *testing.T, ex recorded.Exchange) {
	d := newDouble(t, sandbox.Options{Sheets: []string{"Sheet1"}})
	c := d.client(t, -1, -1)
	switch ex.Name {
	case "values-append", "values-batch-get":
		// The example's sheet: a header row and three items.
		if _, err := c.Update(context.Background(), "Sheet1!A1:D4", [][]any{{"Item", "Cost", "Stocked", "Ship Date"},
			{"Wheel", "$20.50", "4", "3/1/2016"}, {"Door", "$15", "2", "3/15/2016"}, {"Engine", "$100", "1", "3/20/2016"}}); err != nil {
			t.Fatal(err)
		}
	}
	tok, err := tokenOf(d)
	if err != nil {
		t.Fatal(err)
	}
	u := d.srv.URL + "/v4/spreadsheets/" + d.ID() + strings.ReplaceAll(url.PathEscape(ex.Request.Path), "%2F", "/")
	if ex.Request.Query != "" {
		u += "?" + ex.Request.Query
	}
	var body io.Reader
	if len(ex.Request.Body) > 0 {
		body = bytes.NewReader(ex.Request.Body)
	}
	req, _ := http.NewRequest(ex.Request.Method, u, body)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != ex.Response.Status {
		t.Fatalf("the double answers %d, the docs %d: %s", resp.StatusCode, ex.Response.Status, got)
	}
	if diffs := recorded.SameShape(ex.Response.Body, got); len(diffs) > 0 {
		t.Fatalf("the double's answer differs from the documented one:\n%s\n%s", strings.Join(diffs, "\n"), got)
	}
}

// tokenOf signs in to the double as its service account, the way the
// connector does (golang.org/x/oauth2/google).
func tokenOf(d *double) (string, error) {
	conf, err := google.JWTConfigFromJSON(d.key, sheets.Scope)
	if err != nil {
		return "", err
	}
	tok, err := conf.TokenSource(context.Background()).Token()
	if err != nil {
		return "", err
	}
	return tok.AccessToken, nil
}
