package idram

import (
	"context"
	"fmt"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/setting"
	"github.com/paysync/paysync/providers"
)

func init() {
	providers.Register(providers.Spec{
		Name:     Name,
		Title:    "Idram",
		Settings: func() providers.Settings { return DefaultSettings() },
		New:      newFromSettings,
		Enable:   "PAYSYNC_IDRAM_ACCOUNT and PAYSYNC_IDRAM_SECRET_KEY",
	})
}

// Settings is the `providers.idram` section of the config file.
type Settings struct {
	// Account is the shop's IdramID (EDP_REC_ACCOUNT).
	Account   string         `yaml:"account" env:"PAYSYNC_IDRAM_ACCOUNT, overwrite"`
	SecretKey setting.Secret `yaml:"secret_key" env:"PAYSYNC_IDRAM_SECRET_KEY, overwrite"`
	// PaymentURL is where the checkout form posts (the sandbox points it
	// at its double).
	PaymentURL string `yaml:"payment_url" env:"PAYSYNC_IDRAM_PAYMENT_URL, overwrite"`
	// Language is Idram's page language for buyers whose browser asks for
	// none of Armenian, Russian and English.
	Language string `yaml:"language"`
}

// DefaultSettings are the built-in values of the section.
func DefaultSettings() *Settings {
	return &Settings{PaymentURL: DefaultPaymentURL, Language: "EN"}
}

// Enabled: the account and its secret key.
func (s *Settings) Enabled() bool { return s.Account != "" && s.SecretKey != "" }

// Validate checks what can be checked without building the adapter.
func (s *Settings) Validate(bad func(key, reason string)) {
	if s.PaymentURL != "" {
		if _, err := originOf(s.PaymentURL); err != nil {
			bad("payment_url", fmt.Sprintf("providers.idram.payment_url %q is not an http(s) URL (Idram's is %s)", s.PaymentURL, DefaultPaymentURL))
		}
	}
	if s.Account != "" && !accountRe.MatchString(s.Account) {
		bad("account", fmt.Sprintf("providers.idram.account %q is not an IdramID: it is the digits of the shop's Idram account, such as 100000114", s.Account))
	}
	// Half the credentials would leave Idram off without a word.
	switch {
	case s.Account != "" && s.SecretKey == "":
		bad("secret_key", "PAYSYNC_IDRAM_ACCOUNT is set but PAYSYNC_IDRAM_SECRET_KEY is not: Idram stays off until both are set (the key is the SECRET_KEY Idram staff configured for the shop)")
	case s.Account == "" && s.SecretKey != "":
		bad("account", "PAYSYNC_IDRAM_SECRET_KEY is set but PAYSYNC_IDRAM_ACCOUNT is not: Idram stays off until both are set (the account is the shop's IdramID, digits)")
	}
	if _, ok := pageLanguage(s.Language); !ok {
		bad("language", fmt.Sprintf("providers.idram.language %q must be AM, RU or EN", s.Language))
	}
}

// Options are the adapter's options for these settings.
func (s *Settings) Options(publicURL string) Options {
	return Options{Account: s.Account, SecretKey: string(s.SecretKey), PaymentURL: s.PaymentURL, Language: s.Language, PublicURL: publicURL}
}

func newFromSettings(_ context.Context, d providers.Deps) (core.Provider, error) {
	o := d.Settings.(*Settings).Options(d.PublicURL)
	// Store is nil under `config check`; Verify and the page need it later.
	o.Store, o.Logger = d.Store, d.Logger
	return New(o)
}
