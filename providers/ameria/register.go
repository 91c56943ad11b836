package ameria

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/setting"
	"github.com/paysync/paysync/providers"
)

func init() {
	providers.Register(providers.Spec{
		Name:     Name,
		Title:    Title,
		Settings: func() providers.Settings { return DefaultSettings() },
		New:      newFromSettings,
		Check:    check,
		Enable:   "PAYSYNC_AMERIA_CLIENT_ID, PAYSYNC_AMERIA_USERNAME, PAYSYNC_AMERIA_PASSWORD and PAYSYNC_AMERIA_ORDER_IDS",
	})
}

// Settings is the `providers.ameria` section of the config file.
type Settings struct {
	BaseURL  string         `yaml:"base_url" env:"PAYSYNC_AMERIA_BASE_URL, overwrite"`
	ClientID string         `yaml:"client_id" env:"PAYSYNC_AMERIA_CLIENT_ID, overwrite"`
	Username string         `yaml:"username" env:"PAYSYNC_AMERIA_USERNAME, overwrite"`
	Password setting.Secret `yaml:"password" env:"PAYSYNC_AMERIA_PASSWORD, overwrite"`
	// OrderIDs is the bank's order-number range, FROM-TO.
	OrderIDs string `yaml:"order_ids" env:"PAYSYNC_AMERIA_ORDER_IDS, overwrite"`
	// ReportingURL is the SOAP reporting service the daily reconciliation
	// reads GetTransactionList from (default: the bank's own, live or test
	// after base_url).
	ReportingURL   string           `yaml:"reporting_url" env:"PAYSYNC_AMERIA_REPORTING_URL, overwrite"`
	Language       string           `yaml:"language"`
	SessionTimeout setting.Duration `yaml:"session_timeout"`
}

// DefaultSettings are the built-in values of the section.
func DefaultSettings() *Settings {
	return &Settings{BaseURL: LiveBaseURL, Language: "en", SessionTimeout: setting.Duration(DefaultSessionTimeout)}
}

// Enabled: the three vPOS API credentials.
func (s *Settings) Enabled() bool { return s.ClientID != "" && s.Username != "" && s.Password != "" }

// Validate checks what can be checked without building the adapter.
func (s *Settings) Validate(bad func(key, reason string)) {
	if s.BaseURL != "" {
		if u, err := url.Parse(s.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("base_url", fmt.Sprintf("providers.ameria.base_url %q is not an http(s) URL (live: %s, test: %s)", s.BaseURL, LiveBaseURL, TestBaseURL))
		}
	}
	const rangeHelp = "the order-number range the bank assigned to you, as FROM-TO (e.g. " + ExampleRange + "): Ameriabank's OrderID is a number unique per merchant, and in test mode the bank takes only numbers of its range"
	switch {
	case s.OrderIDs != "":
		if _, err := ParseRange(s.OrderIDs); err != nil {
			bad("order_ids", "providers.ameria.order_ids "+err.Error()+"; set "+rangeHelp)
		}
	case s.Enabled():
		bad("order_ids", "Ameriabank vPOS needs PAYSYNC_AMERIA_ORDER_IDS (providers.ameria.order_ids), "+rangeHelp)
	}
	switch s.Language {
	case "", "am", "ru", "en":
	default:
		bad("language", fmt.Sprintf("providers.ameria.language %q must be am, ru or en (lower case)", s.Language))
	}
	if d := time.Duration(s.SessionTimeout); d != 0 && (d < time.Minute || d > DefaultSessionTimeout) {
		bad("session_timeout", fmt.Sprintf("providers.ameria.session_timeout %s must be between 1m and 20m (the bank's limit)", d))
	}
}

// Options are the adapter's options for these settings; publicURL is where
// the bank sends the buyer back.
func (s *Settings) Options(publicURL string) (Options, error) {
	r, err := ParseRange(s.OrderIDs)
	if err != nil {
		return Options{}, core.FieldErrorf("order_ids", "providers.ameria.order_ids %v (e.g. %s, the range the bank assigned)", err, ExampleRange)
	}
	return Options{
		BaseURL: s.BaseURL, ReportingURL: s.ReportingURL, ClientID: s.ClientID, Username: s.Username, Password: string(s.Password),
		OrderIDs: r, Language: s.Language, SessionTimeout: time.Duration(s.SessionTimeout),
		// No query string: the bank appends its own, and how it would join
		// two is not known.
		BackURL: publicURL + "/webhooks/" + Name + "/return",
	}, nil
}

func newFromSettings(_ context.Context, d providers.Deps) (core.Provider, error) {
	return build(d)
}

func build(d providers.Deps) (*Provider, error) {
	o, err := d.Settings.(*Settings).Options(d.PublicURL)
	if err != nil {
		return nil, err
	}
	o.HTTPClient, o.Store = d.HTTPClient, d.Store
	return New(o)
}

// check asks GetPaymentId about an order number outside the range, which
// nobody has used: any answer but 20 proves the credentials work.
func check(ctx context.Context, d providers.Deps, w io.Writer) ([]string, error) {
	p, err := build(d)
	if err != nil {
		return []string{core.ErrorMessage(err)}, nil
	}
	num := p.o.OrderIDs.From - 1
	if num <= 0 {
		num = p.o.OrderIDs.To + 1
	}
	a, err := p.getPaymentID(ctx, num, "check the credentials")
	if err != nil {
		return nil, err
	}
	if a.ResponseCode == codeBadLogin {
		return []string{core.ErrorMessage(p.refused(codeBadLogin, a.ResponseMessage, "check the credentials"))}, nil
	}
	fmt.Fprintf(w, "%s at %s: the credentials work (GetPaymentId of unused order number %d answered %s %s); order numbers come from %s\n",
		Title, p.base, num, a.ResponseCode, p.clean(a.ResponseMessage), p.o.OrderIDs)
	return nil, nil
}
