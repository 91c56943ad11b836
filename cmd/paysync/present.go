package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/paysync/paysync/config"
	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/dispatcher"
	"github.com/paysync/paysync/present"
	"github.com/paysync/paysync/providers"
)

// printer prints CLI tables in English, in the configured time zone, with
// currency codes (scripts read these tables too).
func printer(cfg *config.Config) present.Printer {
	zone, err := present.LoadZone(cfg.TimeZone)
	if err != nil {
		zone = time.UTC
	}
	return present.Printer{Lang: present.English, Zone: zone, CurrencyCodes: true}
}

// providerTitle names a payment provider as people know it: its configured
// title (the generic provider's "Bank transfer"), else its registered one
// ("VPOS.am"), else the name as it is.
func providerTitle(cfg *config.Config, name string) string {
	if t, ok := cfg.Providers[name].(interface{ DisplayTitle() string }); ok && t.DisplayTitle() != "" {
		return t.DisplayTitle()
	}
	if spec, ok := providers.Lookup(name); ok && spec.Title != "" {
		return spec.Title
	}
	if spec, ok := connectors.Lookup(name); ok && spec.Title != "" {
		return spec.Title // a journal entry from a connector ("Instagram Direct")
	}
	return name
}

// liveOutboxStats asks the serve running with this config for each
// connector's backlog and state: only the dispatcher knows its state.
func liveOutboxStats(ctx context.Context, cfg *config.Config) ([]dispatcher.ConnectorStats, error) {
	if cfg.AdminToken == "" {
		return nil, fmt.Errorf("PAYSYNC_ADMIN_TOKEN is not set, so serve cannot be asked")
	}
	host, port, err := net.SplitHostPort(cfg.HTTPAddr)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	url := "http://" + net.JoinHostPort(host, port) + "/v1/outbox/stats"
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+string(cfg.AdminToken))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("serve does not answer at %s", net.JoinHostPort(host, port))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("serve at %s answered HTTP %d", net.JoinHostPort(host, port), resp.StatusCode)
	}
	var out struct {
		Connectors []dispatcher.ConnectorStats `json:"connectors"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("serve at %s sent stats paysync cannot read: %v", net.JoinHostPort(host, port), err)
	}
	return out.Connectors, nil
}
