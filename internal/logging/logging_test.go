package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestJSONWithIDsAndNoSecrets(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, Options{Level: "info", Secrets: []string{"https://shop.bitrix24.ru/rest/1/hooksecret9/", "tok-123456"}})
	ctx := WithOrderID(WithRequestID(context.Background(), "req-1"), "IG-7")
	log.InfoContext(ctx, "delivery to https://shop.bitrix24.ru/rest/1/hooksecret9/ failed", "err", errors.New("401 for tok-123456"), "token", "tok-123456")
	log.Debug("not shown at info")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not one JSON line (the buffer is no terminal): %q", buf.String())
	}
	if line["request_id"] != "req-1" || line["order_id"] != "IG-7" {
		t.Errorf("ids: %v", line)
	}
	out := buf.String()
	if strings.Contains(out, "hooksecret9") || strings.Contains(out, "tok-123456") || !strings.Contains(out, "[redacted]") {
		t.Errorf("a secret reached the log: %s", out)
	}
	if strings.Contains(out, "not shown") {
		t.Error("debug line logged at info")
	}
}

func TestOrderIDNotRepeated(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, Options{Format: "text"})
	ctx := WithOrderID(context.Background(), "IG-1")
	log.InfoContext(ctx, "x", "order_id", "IG-1")
	log.With("order_id", "IG-2").InfoContext(ctx, "y")
	if n := strings.Count(buf.String(), "order_id="); n != 2 {
		t.Fatalf("order_id %d times, want once per line:\n%s", n, buf.String())
	}
}
