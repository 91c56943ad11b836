package amocrm

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/setting"
	"github.com/paysync/paysync/mapping"
)

func init() {
	connectors.Register(connectors.Spec{
		Name:      Name,
		Title:     "amoCRM",
		Settings:  func() connectors.Settings { return DefaultSettings() },
		Mapping:   mapping.Profile{Record: "lead"},
		New:       newFromSettings,
		Check:     checkAccount,
		RecordURL: recordURL,
	})
}

// Settings is the `connectors.amocrm` section of the config file.
type Settings struct {
	// BaseURL is the account's address, https://SUBDOMAIN.amocrm.ru.
	BaseURL string `yaml:"base_url" env:"PAYSYNC_AMOCRM_BASE_URL, overwrite"`
	// AccessToken is a private integration's long-lived token.
	AccessToken setting.Secret `yaml:"access_token" env:"PAYSYNC_AMOCRM_ACCESS_TOKEN, overwrite"`
	// An OAuth integration instead: its keys and a refresh token to start
	// from (the rotated pair is kept in paysync's database).
	ClientID     string         `yaml:"client_id" env:"PAYSYNC_AMOCRM_CLIENT_ID, overwrite"`
	ClientSecret setting.Secret `yaml:"client_secret" env:"PAYSYNC_AMOCRM_CLIENT_SECRET, overwrite"`
	RefreshToken setting.Secret `yaml:"refresh_token" env:"PAYSYNC_AMOCRM_REFRESH_TOKEN, overwrite"`
	RedirectURI  string         `yaml:"redirect_uri" env:"PAYSYNC_AMOCRM_REDIRECT_URI, overwrite"`
	// RateLimit is how many requests may start in any second (1 to 7).
	RateLimit int `yaml:"rate_limit"`
	// OrderFieldID is the lead custom field that holds the order id; 0 is
	// the field the mapping writes the order id to.
	OrderFieldID int64 `yaml:"order_field_id"`
}

// DefaultSettings are the built-in values of the section.
func DefaultSettings() *Settings { return &Settings{RateLimit: DefaultRate} }

// Enabled: an account address and a long-lived token or an OAuth refresh token.
func (s *Settings) Enabled() bool {
	return s.BaseURL != "" && (s.AccessToken != "" || (s.ClientID != "" && s.RefreshToken != ""))
}

// Validate checks the values serve would refuse.
func (s *Settings) Validate(bad func(key, reason string)) {
	oauth := s.ClientID != "" || s.ClientSecret != "" || s.RefreshToken != "" || s.RedirectURI != ""
	if s.BaseURL != "" {
		if _, err := parseBaseURL(s.BaseURL); err != nil {
			bad("base_url", "connectors.amocrm.base_url must be the account's address, like https://yourshop.amocrm.ru (or https://yourshop.kommo.com)")
		}
	} else if s.AccessToken != "" || oauth {
		bad("base_url", "amoCRM credentials are set but not the account's address: set PAYSYNC_AMOCRM_BASE_URL to https://yourshop.amocrm.ru")
	}
	switch {
	case s.AccessToken != "" && oauth:
		bad("access_token", "set either an amoCRM long-lived access_token or the OAuth integration (client_id, client_secret, refresh_token, redirect_uri), not both: unset the one you do not use")
	case oauth:
		for _, kv := range [][2]string{{"client_id", s.ClientID}, {"client_secret", string(s.ClientSecret)},
			{"refresh_token", string(s.RefreshToken)}, {"redirect_uri", s.RedirectURI}} {
			if kv[1] == "" {
				bad(kv[0], "connectors.amocrm."+kv[0]+" is not set: an amoCRM OAuth integration needs client_id, client_secret and "+
					"redirect_uri (amoCRM > Settings > Integrations > your integration > Keys and scopes) and a refresh_token "+
					"(docs/amocrm.md shows how to get one)")
			}
		}
		if s.RedirectURI != "" {
			if u, err := url.Parse(s.RedirectURI); err != nil || u.Scheme == "" || u.Host == "" {
				bad("redirect_uri", "connectors.amocrm.redirect_uri must be the integration's redirect URI exactly as amoCRM shows it (https://…)")
			}
		}
	}
	if s.RateLimit < 1 || s.RateLimit > DefaultRate {
		bad("rate_limit", "connectors.amocrm.rate_limit must be 1 to 7: amoCRM allows 7 requests a second per integration and blocks one that keeps exceeding it")
	}
	if s.OrderFieldID < 0 {
		bad("order_field_id", "connectors.amocrm.order_field_id must be a lead custom field id (GET /api/v4/leads/custom_fields, or `paysync connectors check`), or 0")
	}
}

// ClientFor builds the API client of the settings; store keeps the rotated
// OAuth tokens (unused with a long-lived token), and owner names this
// replica in the refresh lease.
func ClientFor(s *Settings, store core.Store, owner string) (*Client, error) {
	return New(configFor(s, store, owner))
}

// clientFor builds the client of a connector's deps: its settings, store,
// HTTP client and meter.
func clientFor(d connectors.Deps) (*Client, error) {
	cfg := configFor(d.Settings.(*Settings), d.Store, d.Owner)
	cfg.HTTPClient, cfg.Meter = d.HTTPClient, d.Meter
	return New(cfg)
}

func configFor(s *Settings, store core.Store, owner string) Config {
	cfg := Config{BaseURL: s.BaseURL, Rate: s.RateLimit}
	if s.AccessToken != "" {
		cfg.Tokens = LongLivedToken(s.AccessToken)
	} else {
		cfg.OAuth = &OAuthConfig{ClientID: s.ClientID, ClientSecret: string(s.ClientSecret), RedirectURI: s.RedirectURI,
			RefreshToken: string(s.RefreshToken), Store: StateTokenStore(store), Holder: owner}
	}
	return cfg
}

func newFromSettings(_ context.Context, d connectors.Deps) (core.Connector, error) {
	s := d.Settings.(*Settings)
	client, err := clientFor(d)
	if err != nil {
		return nil, err
	}
	cfg := ConnectorConfig{Client: client, Mappings: d.Mappings, OrderFieldID: s.OrderFieldID}
	if d.Store != nil {
		cfg.Unconfirmed = StateUnconfirmed{Store: d.Store}
		cfg.Merges = StateMerges{Store: d.Store}
	}
	if s.OrderFieldID == 0 && d.Mappings != nil {
		if m := d.Mappings.Get(Name); m != nil {
			if err := probeOrderField(m); err != nil {
				return nil, err
			}
		}
	}
	return NewConnector(cfg)
}

// probeOrderField refuses a mapping that writes the order id to no lead
// field: paysync could not find its leads again.
func probeOrderField(m *mapping.Mapping) error {
	o := core.Order{ID: "PROBE-1", Status: core.StatusPending, AmountMinor: 100, Currency: "AMD",
		Items: []core.Item{{Name: "x", Quantity: 1, PriceMinor: 100}}}
	p, err := m.Render(mapping.Input{Order: o})
	if err != nil || OrderField(p.Entity, o.ID) != 0 {
		return nil // render problems are the mapping check's to report
	}
	return core.Errorf(core.EINVALID, "%s writes the order id into no lead custom field, and order_field_id is not set: "+
		"add a text field \"Order ID\" in amoCRM > Settings > Leads > Fields and map it under entity.custom_fields_values "+
		"with `value: {source: order_id}`", m.File())
}

// checkAccount lists the account's pipelines, statuses and lead fields and
// compares the mapping with them.
func checkAccount(ctx context.Context, d connectors.Deps, m *mapping.Mapping, w io.Writer) ([]string, error) {
	s := d.Settings.(*Settings)
	client, err := clientFor(d)
	if err != nil {
		return nil, err
	}
	acc, err := client.ReadAccount(ctx)
	if err != nil {
		return nil, Classify(err)
	}
	problems := acc.Check(m, s.OrderFieldID, w)
	if d.Store != nil {
		if err := WarnDuplicateControl(ctx, StateMerges{Store: d.Store}, w); err != nil {
			return nil, err
		}
	}
	return problems, nil
}

// WarnDuplicateControl tells, when paysync has seen amoCRM's duplicate
// control merge its new leads, that it is on and what paysync does about
// it. amoCRM's API does not say whether duplicate control is on, so the
// merges paysync saw are how it knows.
func WarnDuplicateControl(ctx context.Context, m Merges, w io.Writer) error {
	n, last, err := m.Seen(ctx)
	if err != nil || n == 0 {
		return err
	}
	fmt.Fprintf(w, "  warning: duplicate control is on for paysync's integration: amoCRM merged %d of paysync's new leads into existing ones (the last at %s).\n"+
		"    paysync never links an order to a lead that is another order's: such an order gets a lead of its own with the customer's contact, and its\n"+
		"    history says which lead amoCRM merged it into (check that lead: the merge may have changed it). To stop the merges, turn duplicate\n"+
		"    control off for the paysync integration in amoCRM > Settings > Integrations > paysync (docs/amocrm.md, \"Duplicate control\").\n",
		n, last.UTC().Format(time.RFC3339))
	return nil
}

// recordURL is the lead's page: https://SUBDOMAIN.amocrm.ru/leads/detail/ID.
func recordURL(st connectors.Settings, link core.CRMLink) string {
	s, ok := st.(*Settings)
	if !ok || link.ExternalID == "" {
		return ""
	}
	base, err := parseBaseURL(s.BaseURL)
	if err != nil {
		return ""
	}
	return base + "/leads/detail/" + url.PathEscape(link.ExternalID)
}
