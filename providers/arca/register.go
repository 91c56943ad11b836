package arca

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/setting"
	"github.com/paysync/paysync/providers"
)

func init() {
	providers.Register(providers.Spec{
		Name:     Name,
		Title:    "ArCa",
		Settings: func() providers.Settings { return DefaultSettings() },
		New:      newFromSettings,
		Check:    checkAccount,
		Enable:   "PAYSYNC_ARCA_USERNAME and PAYSYNC_ARCA_PASSWORD",
	})
}

// Settings is the `providers.arca` section of the config file.
type Settings struct {
	BaseURL     string         `yaml:"base_url" env:"PAYSYNC_ARCA_BASE_URL, overwrite"`
	Username    string         `yaml:"username" env:"PAYSYNC_ARCA_USERNAME, overwrite"`
	Password    setting.Secret `yaml:"password" env:"PAYSYNC_ARCA_PASSWORD, overwrite"`
	CallbackKey setting.Secret `yaml:"callback_key" env:"PAYSYNC_ARCA_CALLBACK_KEY, overwrite"`
	// CallbackKeyPrevious is accepted too during a key rotation.
	CallbackKeyPrevious setting.Secret `yaml:"callback_key_previous" env:"PAYSYNC_ARCA_CALLBACK_KEY_PREVIOUS, overwrite"`
	// CallbackPublicKey checks RSA-signed callbacks: the gateway's PEM
	// certificate (or public key), or the path of a file holding it.
	CallbackPublicKey string           `yaml:"callback_public_key" env:"PAYSYNC_ARCA_CALLBACK_PUBLIC_KEY, overwrite"`
	Language          string           `yaml:"language"`
	SessionTimeout    setting.Duration `yaml:"session_timeout"`
	// MaxOrderNumberLength is the longest order id the gateway takes.
	MaxOrderNumberLength int `yaml:"max_order_number_length"`
}

// DefaultSettings are the built-in values of the section.
func DefaultSettings() *Settings {
	return &Settings{BaseURL: TestBaseURL, Language: "en", SessionTimeout: setting.Duration(DefaultSessionTimeout),
		MaxOrderNumberLength: DefaultMaxOrderNumber}
}

// Enabled: the API user and its password.
func (s *Settings) Enabled() bool { return s.Username != "" && s.Password != "" }

// Validate checks what can be checked without building the adapter.
func (s *Settings) Validate(bad func(key, reason string)) {
	if s.BaseURL != "" {
		if u, err := url.Parse(s.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("base_url", fmt.Sprintf("providers.arca.base_url %q is not an http(s) URL", s.BaseURL))
		}
	}
	if s.MaxOrderNumberLength < 1 || s.MaxOrderNumberLength > core.MaxOrderIDLen {
		bad("max_order_number_length", fmt.Sprintf("providers.arca.max_order_number_length must be 1 to %d (the RBS manuals say 32)", core.MaxOrderIDLen))
	}
	if s.CallbackPublicKey != "" {
		if _, err := parsePublicKey(s.CallbackPublicKey); err != nil {
			bad("callback_public_key", "providers.arca.callback_public_key is "+err.Error()+": paste the certificate the ArCa merchant console "+
				"gives for checking callbacks (-----BEGIN CERTIFICATE-----…), or the path of a file holding it")
		}
	}
}

// Options are the adapter's options for these settings; publicURL is where
// ArCa sends the buyer back and its callbacks.
func (s *Settings) Options(publicURL string) Options {
	return Options{
		BaseURL: s.BaseURL, Username: s.Username, Password: string(s.Password),
		CallbackKey: string(s.CallbackKey), CallbackKeyPrevious: string(s.CallbackKeyPrevious), CallbackPublicKey: s.CallbackPublicKey,
		MaxOrderNumber: s.MaxOrderNumberLength,
		Language:       s.Language, SessionTimeout: time.Duration(s.SessionTimeout),
		ReturnURL:   publicURL + "/webhooks/" + Name + "/return?order_id={order_id}",
		CallbackURL: publicURL + "/webhooks/" + Name,
	}
}

func newFromSettings(_ context.Context, d providers.Deps) (core.Provider, error) {
	o := d.Settings.(*Settings).Options(d.PublicURL)
	o.HTTPClient = d.HTTPClient
	return New(o)
}
