package vpos

import (
	"context"
	"fmt"
	"net/url"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/setting"
	"github.com/paysync/paysync/internal/standardwebhooks"
	"github.com/paysync/paysync/providers"
)

func init() {
	providers.Register(providers.Spec{
		Name:     Name,
		Title:    "VPOS.am",
		Settings: func() providers.Settings { return DefaultSettings() },
		New:      newFromSettings,
		Check:    checkAccount,
		Enable:   "PAYSYNC_VPOS_API_TOKEN",
	})
}

// Settings is the `providers.vpos` section of the config file. The webhook
// format is not published, so the header names, field paths and lookup path
// are settings (see the package comment).
type Settings struct {
	BaseURL               string         `yaml:"base_url" env:"PAYSYNC_VPOS_BASE_URL, overwrite"`
	APIToken              setting.Secret `yaml:"api_token" env:"PAYSYNC_VPOS_API_TOKEN, overwrite"`
	WebhookSecret         setting.Secret `yaml:"webhook_secret" env:"PAYSYNC_VPOS_WEBHOOK_SECRET, overwrite"`
	WebhookSecretPrevious setting.Secret `yaml:"webhook_secret_previous" env:"PAYSYNC_VPOS_WEBHOOK_SECRET_PREVIOUS, overwrite"`
	ConfirmWithLookup     *bool          `yaml:"confirm_with_lookup"`
	// ProviderName is the `provider` field of a payment session (which
	// acquirer VPOS.am routes to, e.g. "arca"); empty leaves it out.
	ProviderName    string            `yaml:"provider"`
	LookupPath      string            `yaml:"lookup_path"`
	SignatureHeader string            `yaml:"signature_header"`
	IDHeader        string            `yaml:"id_header"`
	TimestampHeader string            `yaml:"timestamp_header"`
	Fields          map[string]string `yaml:"fields"`   // event field -> JSON path in the webhook body
	Statuses        map[string]string `yaml:"statuses"` // provider status/event -> paysync status
}

// DefaultSettings are the built-in values of the section.
func DefaultSettings() *Settings {
	t := true
	return &Settings{BaseURL: DefaultBaseURL, ConfirmWithLookup: &t, LookupPath: DefaultLookupPath,
		SignatureHeader: standardwebhooks.HeaderSignature, IDHeader: standardwebhooks.HeaderID,
		TimestampHeader: standardwebhooks.HeaderTimestamp}
}

// Enabled: an API token (links and lookups) or a webhook secret.
func (s *Settings) Enabled() bool { return s.APIToken != "" || s.WebhookSecret != "" }

// Validate checks what can be checked without building the adapter.
func (s *Settings) Validate(bad func(key, reason string)) {
	if s.BaseURL != "" {
		if u, err := url.Parse(s.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("base_url", fmt.Sprintf("providers.vpos.base_url %q is not an http(s) URL", s.BaseURL))
		}
	}
}

// Options are the adapter's options for these settings; publicURL is where
// VPOS.am sends the buyer back.
func (s *Settings) Options(publicURL string) Options {
	return Options{
		BaseURL: s.BaseURL, APIToken: string(s.APIToken),
		WebhookSecret: string(s.WebhookSecret), PreviousWebhookSecret: string(s.WebhookSecretPrevious),
		ConfirmWithLookup: s.ConfirmWithLookup, ProviderName: s.ProviderName,
		ReturnURL:  publicURL + "/webhooks/" + Name + "/return?order_id={order_id}",
		LookupPath: s.LookupPath, SignatureHeader: s.SignatureHeader, IDHeader: s.IDHeader,
		TimestampHeader: s.TimestampHeader, Fields: s.Fields, Statuses: s.Statuses,
	}
}

func newFromSettings(_ context.Context, d providers.Deps) (core.Provider, error) {
	o := d.Settings.(*Settings).Options(d.PublicURL)
	o.HTTPClient = d.HTTPClient
	return New(o)
}
