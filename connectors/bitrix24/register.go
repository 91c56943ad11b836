package bitrix24

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"

	"golang.org/x/time/rate"

	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/setting"
	"github.com/paysync/paysync/mapping"
)

func init() {
	connectors.Register(connectors.Spec{
		Name:      Name,
		Title:     "Bitrix24",
		Settings:  func() connectors.Settings { return DefaultSettings() },
		Mapping:   mapping.Profile{Record: "deal"},
		New:       newFromSettings,
		Check:     checkAccount,
		RecordURL: recordURL,
	})
}

// Settings is the `connectors.bitrix24` section of the config file.
type Settings struct {
	// WebhookURL is an incoming webhook (https://PORTAL/rest/USER_ID/CODE/); a secret.
	WebhookURL setting.Secret `yaml:"webhook_url" env:"PAYSYNC_BITRIX24_WEBHOOK_URL, overwrite"`
	// An OAuth application instead of a webhook.
	ClientID     string         `yaml:"client_id" env:"PAYSYNC_BITRIX24_CLIENT_ID, overwrite"`
	ClientSecret setting.Secret `yaml:"client_secret" env:"PAYSYNC_BITRIX24_CLIENT_SECRET, overwrite"`
	PortalURL    string         `yaml:"portal_url" env:"PAYSYNC_BITRIX24_PORTAL_URL, overwrite"`
	OAuthURL     string         `yaml:"oauth_url" env:"PAYSYNC_BITRIX24_OAUTH_URL, overwrite"`
	// The portal's leaky bucket (docs/bitrix24.md): it drains RateLimit
	// requests a second and refuses above BucketSize; paysync fills at most
	// BurstShare of it in a burst. Enterprise plans: 5 and 250.
	RateLimit  float64 `yaml:"rate_limit"`
	BucketSize int     `yaml:"bucket_size"`
	BurstShare float64 `yaml:"burst_share"`
}

// DefaultSettings are the built-in values of the section.
func DefaultSettings() *Settings {
	return &Settings{OAuthURL: DefaultTokenURL, RateLimit: float64(DefaultRate), BucketSize: DefaultBucketSize, BurstShare: DefaultBurstShare}
}

// Enabled: a webhook URL, or an OAuth app's id and secret.
func (s *Settings) Enabled() bool {
	return s.WebhookURL != "" || (s.ClientID != "" && s.ClientSecret != "")
}

// Validate checks the values serve would refuse, with the same code.
func (s *Settings) Validate(bad func(key, reason string)) {
	if s.WebhookURL != "" {
		if _, _, err := parseWebhook(string(s.WebhookURL)); err != nil {
			bad("webhook_url", "the Bitrix24 webhook URL must look like https://PORTAL/rest/USER_ID/CODE/ (copy it from Developer resources > Incoming webhook)")
		}
	}
	if s.WebhookURL == "" && (s.ClientID != "") != (s.ClientSecret != "") {
		bad("client_id", "a Bitrix24 OAuth app needs both client_id and client_secret (from the app's page in Developer resources)")
	}
	for key, u := range map[string]string{"oauth_url": s.OAuthURL, "portal_url": s.PortalURL} {
		if u == "" {
			continue
		}
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			bad(key, fmt.Sprintf("connectors.bitrix24.%s %q is not an http(s) URL", key, u))
		}
	}
	if s.RateLimit <= 0 {
		bad("rate_limit", "connectors.bitrix24.rate_limit must be positive (requests per second the portal drains: 2, or 5 on Enterprise plans)")
	}
	if s.BucketSize < 1 {
		bad("bucket_size", "connectors.bitrix24.bucket_size must be at least 1 (50, or 250 on Enterprise plans)")
	}
	if s.BurstShare <= 0 || s.BurstShare > 1 {
		bad("burst_share", "connectors.bitrix24.burst_share must be in (0, 1]: the share of the portal's bucket paysync may fill at once (default 0.5)")
	}
}

// ClientFor builds the REST client of the settings; store keeps rotated
// OAuth tokens (unused with a webhook URL).
func ClientFor(s *Settings, store core.Store) (*Client, error) {
	c, err := configFor(s, store)
	if err != nil {
		return nil, err
	}
	return New(c)
}

func configFor(s *Settings, store core.Store) (Config, error) {
	c := Config{Rate: rate.Limit(s.RateLimit), BucketSize: s.BucketSize, BurstShare: s.BurstShare}
	if s.WebhookURL != "" {
		c.WebhookURL = string(s.WebhookURL)
	} else {
		c.OAuth = &OAuthConfig{ClientID: s.ClientID, ClientSecret: string(s.ClientSecret), TokenURL: s.OAuthURL,
			PortalURL: s.PortalURL, Store: StateTokenStore{Store: store}}
	}
	return c, nil
}

// clientFor builds the client of a connector's deps: its settings, store,
// HTTP client and meter.
func clientFor(d connectors.Deps) (*Client, error) {
	c, err := configFor(d.Settings.(*Settings), d.Store)
	if err != nil {
		return nil, err
	}
	c.HTTPClient, c.Meter = d.HTTPClient, d.Meter
	return New(c)
}

func newFromSettings(_ context.Context, d connectors.Deps) (core.Connector, error) {
	client, err := clientFor(d)
	if err != nil {
		return nil, err
	}
	return NewConnector(ConnectorConfig{Client: client, Mappings: d.Mappings})
}

// checkAccount lists the stages, currencies and user fields of the portal
// and compares the mapping with them.
func checkAccount(ctx context.Context, d connectors.Deps, m *mapping.Mapping, w io.Writer) ([]string, error) {
	client, err := clientFor(d)
	if err != nil {
		return nil, err
	}
	category := "0"
	sample := core.Order{ID: "CHECK-1", Status: core.StatusPending, AmountMinor: 100, Currency: "AMD",
		Items: []core.Item{{Name: "x", Quantity: 1, PriceMinor: 100}}}
	if p, err := m.Render(mapping.Input{Order: sample}); err == nil {
		if v, ok := p.Entity["CATEGORY_ID"]; ok {
			category = fmt.Sprint(v)
		}
	}
	acc, err := client.ReadAccount(ctx, category)
	if err != nil {
		return nil, core.ClassifyDelivery(err)
	}
	fmt.Fprintf(w, "  stages of pipeline %s: %s\n", category, strings.Join(acc.Stages, ", "))
	fmt.Fprintf(w, "  enabled currencies: %s\n", strings.Join(acc.Currencies, ", "))
	if len(acc.UserFields) > 0 {
		fmt.Fprintf(w, "  deal user fields: %s\n", strings.Join(acc.UserFields, ", "))
	}
	return acc.Check(m), nil
}

// recordURL is the deal's page on the portal: the portal's address only,
// never the webhook's secret path (what precedes /rest/ is kept: a portal
// served under a path, as the sandbox's is, has its pages there too).
func recordURL(st connectors.Settings, link core.CRMLink) string {
	s, ok := st.(*Settings)
	if !ok || link.ExternalID == "" {
		return ""
	}
	raw := s.PortalURL
	if s.WebhookURL != "" {
		raw = string(s.WebhookURL)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	base := strings.TrimRight(u.Path, "/")
	if i := strings.Index(u.Path, "/rest/"); i >= 0 {
		base = u.Path[:i]
	} else if s.WebhookURL != "" {
		base = ""
	}
	return u.Scheme + "://" + u.Host + base + "/crm/deal/details/" + url.PathEscape(link.ExternalID) + "/"
}
