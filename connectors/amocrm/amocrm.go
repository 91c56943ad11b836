// Package amocrm connects paysync to amoCRM: leads that move through the
// shop's pipeline as payments are verified.
package amocrm

import (
	"context"

	"github.com/paysync/paysync/config"
	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/core"
)

// Name is the connector's name in config, the outbox and links.
const Name = "amocrm"

func init() {
	connectors.Register(connectors.Spec{
		Name:     Name,
		Title:    "amoCRM",
		Settings: func() connectors.Settings { return DefaultSettings() },
		New: func(context.Context, connectors.Deps) (core.Connector, error) {
			return nil, core.Errorf(core.EINVALID, "the amoCRM connector is not in this release yet: unset the PAYSYNC_AMOCRM_* credentials")
		},
	})
}

// Settings is the `connectors.amocrm` section of the config file.
type Settings struct {
	BaseURL      string        `yaml:"base_url" env:"PAYSYNC_AMOCRM_BASE_URL, overwrite"`
	AccessToken  config.Secret `yaml:"access_token" env:"PAYSYNC_AMOCRM_ACCESS_TOKEN, overwrite"`
	ClientID     string        `yaml:"client_id" env:"PAYSYNC_AMOCRM_CLIENT_ID, overwrite"`
	ClientSecret config.Secret `yaml:"client_secret" env:"PAYSYNC_AMOCRM_CLIENT_SECRET, overwrite"`
	RefreshToken config.Secret `yaml:"refresh_token" env:"PAYSYNC_AMOCRM_REFRESH_TOKEN, overwrite"`
	RedirectURI  string        `yaml:"redirect_uri" env:"PAYSYNC_AMOCRM_REDIRECT_URI, overwrite"`
	RateLimit    float64       `yaml:"rate_limit"`
}

// DefaultSettings are the built-in values of the section.
func DefaultSettings() *Settings { return &Settings{RateLimit: 7} }

// Enabled: an account address and a long-lived token or an OAuth refresh token.
func (s *Settings) Enabled() bool {
	return s.BaseURL != "" && (s.AccessToken != "" || (s.ClientID != "" && s.RefreshToken != ""))
}
