package generic

import (
	"context"
	"strings"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/setting"
	"github.com/paysync/paysync/providers"
)

func init() {
	providers.Register(providers.Spec{
		Name:     Name,
		Title:    "Generic",
		Settings: func() providers.Settings { return &Settings{} },
		New:      newFromSettings,
		Enable:   "PAYSYNC_GENERIC_WEBHOOK_SECRET",
	})
}

// Settings is the `providers.generic` section of the config file.
type Settings struct {
	WebhookSecret         setting.Secret `yaml:"webhook_secret" env:"PAYSYNC_GENERIC_WEBHOOK_SECRET, overwrite"`
	WebhookSecretPrevious setting.Secret `yaml:"webhook_secret_previous" env:"PAYSYNC_GENERIC_WEBHOOK_SECRET_PREVIOUS, overwrite"`
	// Title is how people see the payments this backend reports, on the
	// console and in the CLI ("Bank transfer", "Cash on delivery");
	// default "Generic".
	Title string `yaml:"title" env:"PAYSYNC_GENERIC_TITLE, overwrite"`
}

// DisplayTitle is the configured title, "" for the default.
func (s *Settings) DisplayTitle() string { return strings.TrimSpace(s.Title) }

// Enabled: a webhook secret.
func (s *Settings) Enabled() bool { return s.WebhookSecret != "" }

// Validate checks the secret's form.
func (s *Settings) Validate(bad func(key, reason string)) {
	if g := string(s.WebhookSecret); g != "" && !strings.HasPrefix(g, "whsec_") {
		bad("webhook_secret", "the generic webhook secret must start with whsec_ (Standard Webhooks format)")
	}
}

func newFromSettings(_ context.Context, d providers.Deps) (core.Provider, error) {
	s := d.Settings.(*Settings)
	return New(Options{Secret: string(s.WebhookSecret), PreviousSecret: string(s.WebhookSecretPrevious), Title: strings.TrimSpace(s.Title)})
}
