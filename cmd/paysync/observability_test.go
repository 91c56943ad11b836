package main

import (
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestObservability: /metrics has every series the operator needs, /readyz
// reports the database and each connector, and the JSON log lines about an
// order carry its order_id, the ones about a request its request_id.
func TestObservability(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	os.WriteFile(cfg, []byte("scheduler:\n  purge_schedule: \"@every 1s\"\n"), 0o600)
	e := startE2E(t, "sqlite", map[string]string{"PAYSYNC_GENERIC_WEBHOOK_SECRET": e2eSecret, "PAYSYNC_CONFIG": cfg})
	if code, out := e.api("POST", "/v1/orders", map[string]any{"order_id": "OBS-1", "amount_minor": 500000, "currency": "AMD"}); code != 201 {
		t.Fatalf("create: %d %v", code, out)
	}
	body := `{"event_id":"obs-1","order_id":"OBS-1","status":"paid","amount_minor":500000,"currency":"AMD"}`
	if code := e.webhook([]byte(body)); code != 200 {
		t.Fatalf("webhook: %d", code)
	}
	e.eventually("the deal at the paid stage", func() bool {
		d := e.portal.DealsByOrigin("paysync", "OBS-1")
		return len(d) == 1 && d[0].StageID == "EXECUTING"
	})
	get := func(path string) (int, string, http.Header) {
		resp, err := http.Get(e.base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	e.eventually("a scheduler run and the delivery counted", func() bool {
		// The delivery is counted once settled, a moment after the portal
		// stored the deal.
		_, m, _ := get("/metrics")
		return strings.Contains(m, `paysync_scheduler_runs_total{job="purge-delivered",outcome="ok"}`) &&
			strings.Contains(m, `paysync_delivery_attempts_total{connector="bitrix24",outcome="delivered"}`)
	})
	_, m, _ := get("/metrics")
	for _, want := range []string{
		`paysync_webhooks_total{provider="generic",verdict="accepted"} 1`, // webhooks by provider and verdict
		`paysync_webhook_seconds_count{provider="generic"}`,               // ingest latency
		`paysync_orders{status="paid"} 1`,                                 // orders by status
		`paysync_outbox_pending{connector="bitrix24"}`,                    // backlog
		`paysync_outbox_oldest_pending_age_seconds{connector="bitrix24"}`, // and its oldest age
		`paysync_delivery_attempts_total{connector="bitrix24",outcome="delivered"}`,
		`paysync_delivery_latency_seconds_count{connector="bitrix24"}`, // journal-to-CRM latency
		`paysync_crm_requests_total{code="200",connector="bitrix24"}`,  // CRM calls by status code
		`paysync_crm_rate_limit_waits_total{connector="bitrix24"}`,     // a fresh client waits for its budget
		`paysync_connector_state{connector="bitrix24",state="running"} 1`,
		`paysync_scheduler_runs_total{job="purge-delivered",outcome="ok"}`,
		`paysync_database_size_bytes `,                   // the database on disk
		`paysync_database_wal_bytes `,                    // and its WAL, for the alert
		`paysync_database_wal_limit_bytes 3.3554432e+07`, // within sqlite_wal_limit (32MiB)
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	code, ready, _ := get("/readyz")
	var r struct {
		Status     string `json:"status"`
		Database   string `json:"database"`
		Connectors []struct {
			Connector, State string
		} `json:"connectors"`
	}
	if err := json.Unmarshal([]byte(ready), &r); err != nil || code != 200 || r.Status != "ready" || r.Database != "ok" ||
		len(r.Connectors) != 1 || r.Connectors[0].Connector != "bitrix24" || r.Connectors[0].State != "running" {
		t.Errorf("/readyz: %d %s", code, ready)
	}
	// Logs are JSON (stderr is not a terminal); a failing request's lines
	// carry its request id, which the answer names too.
	req, _ := http.NewRequest("POST", e.base+"/webhooks/generic", strings.NewReader(`{"event_id":"x"}`))
	req.Header.Set("X-Request-ID", "req-obs-42")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Request-ID") != "req-obs-42" {
		t.Errorf("X-Request-ID answered %q", resp.Header.Get("X-Request-ID"))
	}
	// A line about an order names it: the portal refuses an order in a
	// disabled currency, and the dead letter's line says which order.
	e.portal.DisableCurrency("EUR")
	if code, out := e.api("POST", "/v1/orders", map[string]any{"order_id": "OBS-2", "amount_minor": 9000, "currency": "EUR"}); code != 201 {
		t.Fatalf("create: %d %v", code, out)
	}
	e.eventually("OBS-2 dead-lettered", func() bool { return strings.Contains(e.logs.String(), "dead-lettered") })
	sawRequest, sawOrder := false, false
	for _, line := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		var l map[string]any
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("a log line is not JSON: %q", line)
		}
		if l["msg"] == "webhook refused" && l["request_id"] == "req-obs-42" {
			sawRequest = true
		}
		if strings.HasPrefix(l["msg"].(string), "dead-lettered") && l["order_id"] == "OBS-2" {
			sawOrder = true
		}
	}
	if !sawRequest {
		t.Errorf("no log line of the refused webhook carries its request id:\n%s", e.logs.String())
	}
	if !sawOrder {
		t.Errorf("the dead letter's log line does not name order OBS-2:\n%s", e.logs.String())
	}
}

// TestMonitoringDocsNameRealMetrics: every metric the alert rules, the
// dashboard and docs/monitoring.md name is one paysync defines, and every
// metric paysync defines is documented.
func TestMonitoringDocsNameRealMetrics(t *testing.T) {
	defined := map[string]bool{}
	re := regexp.MustCompile(`(?:Name:\s*|NewDesc\()"(paysync_[a-z_]+)"`)
	filepath.WalkDir("../..", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			defined[m[1]] = true
		}
		return nil
	})
	if len(defined) < 15 {
		t.Fatalf("found only %d metric definitions: %v", len(defined), defined)
	}
	var dash any
	if b, err := os.ReadFile("../../docs/monitoring/grafana-dashboard.json"); err != nil || json.Unmarshal(b, &dash) != nil {
		t.Fatalf("the Grafana dashboard is not JSON: %v", err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct{ Alert, Expr string }
		}
	}
	if b, err := os.ReadFile("../../docs/monitoring/alerts.yml"); err != nil || yaml.Unmarshal(b, &rules) != nil || len(rules.Groups) == 0 || len(rules.Groups[0].Rules) < 8 {
		t.Fatalf("the alert rules do not parse: %v %+v", err, rules)
	}
	name := regexp.MustCompile(`paysync_[a-z_]+`)
	suffix := regexp.MustCompile(`_(bucket|count|sum)$`)
	doc := ""
	for _, f := range []string{"docs/monitoring/alerts.yml", "docs/monitoring/grafana-dashboard.json", "docs/monitoring.md"} {
		b, _ := os.ReadFile("../../" + f)
		doc += string(b)
		for _, n := range name.FindAllString(string(b), -1) {
			if !defined[n] && !defined[suffix.ReplaceAllString(n, "")] {
				t.Errorf("%s names %s, which paysync does not define", f, n)
			}
		}
	}
	for n := range defined {
		if !strings.Contains(doc, n) {
			t.Errorf("metric %s is not in docs/monitoring.md", n)
		}
	}
}
