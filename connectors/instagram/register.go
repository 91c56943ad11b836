package instagram

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/setting"
	"github.com/paysync/paysync/mapping"
)

func init() {
	connectors.Register(connectors.Spec{
		Name:     Name,
		Title:    "Instagram Direct",
		Settings: func() connectors.Settings { return DefaultSettings() },
		Mapping:  mapping.Profile{Record: "message", Messages: true},
		New:      newFromSettings,
		Check:    checkAccount,
	})
}

// Settings is the `connectors.instagram` section of the config file.
type Settings struct {
	// AccessToken is the account's long-lived token (Instagram Login: an
	// Instagram User token of 60 days, renewed by paysync; Facebook Login: a
	// Page token).
	AccessToken setting.Secret `yaml:"access_token" env:"PAYSYNC_INSTAGRAM_ACCESS_TOKEN, overwrite"`
	// AccountID is the professional account's id (Facebook Login: the Page's).
	AccountID string `yaml:"account_id" env:"PAYSYNC_INSTAGRAM_ACCOUNT_ID, overwrite"`
	// AppSecret signs the webhooks (X-Hub-Signature-256).
	AppSecret setting.Secret `yaml:"app_secret" env:"PAYSYNC_INSTAGRAM_APP_SECRET, overwrite"`
	// WebhookSecret is a second secret a signature is accepted with: an
	// Instagram Login app has an Instagram app secret and a Meta app
	// secret, and which one Meta signs with is not documented.
	WebhookSecret setting.Secret `yaml:"webhook_secret" env:"PAYSYNC_INSTAGRAM_WEBHOOK_SECRET, overwrite"`
	// VerifyToken is the token typed into the App Dashboard's webhook
	// settings, which Meta's verification request repeats.
	VerifyToken setting.Secret `yaml:"verify_token" env:"PAYSYNC_INSTAGRAM_VERIFY_TOKEN, overwrite"`
	// BaseURL is the Graph API host (default, and when empty,
	// https://graph.instagram.com/; https://graph.facebook.com/ for the
	// Facebook Login variant).
	BaseURL string `yaml:"base_url" env:"PAYSYNC_INSTAGRAM_BASE_URL, overwrite"`
	// APIVersion is the Graph API version in every path (v23.0).
	APIVersion string `yaml:"api_version"`
	// DefaultLanguage is the messages' language when the customer's own
	// text tells none (one of mapping/instagram.yaml's languages).
	DefaultLanguage string `yaml:"default_language"`
	// HumanAgent: the app has Meta's Human Agent feature, so a manager's
	// "Send link in Direct" may go up to 7 days after the customer's last
	// message. Automatic messages never use it.
	HumanAgent bool `yaml:"human_agent"`
	// RateLimit is how many messages paysync starts sending a second.
	RateLimit int `yaml:"rate_limit"`
	// UncertainWait is how long paysync looks for a send whose answer was
	// lost before it concludes the message did not go.
	UncertainWait setting.Duration `yaml:"uncertain_wait"`
	// Retention is how long conversations and message ids are kept.
	Retention setting.Duration `yaml:"retention"`
}

// DefaultSettings are the built-in values of the section.
func DefaultSettings() *Settings {
	return &Settings{BaseURL: DefaultBaseURL, APIVersion: DefaultAPIVersion, DefaultLanguage: DefaultLanguage, RateLimit: DefaultRate,
		UncertainWait: setting.Duration(DefaultUncertainWait), Retention: setting.Duration(DefaultRetention)}
}

// Enabled: the token and the account's id.
func (s *Settings) Enabled() bool { return s.AccessToken != "" && s.AccountID != "" }

var (
	accountID  = regexp.MustCompile(`^[0-9]{1,32}$`)
	apiVersion = regexp.MustCompile(`^v[0-9]{1,3}\.[0-9]{1,2}$`)
)

// Validate checks the values serve would refuse.
func (s *Settings) Validate(bad func(key, reason string)) {
	on := s.AccessToken != "" || s.AccountID != ""
	if on && s.AccessToken == "" {
		bad("access_token", "connectors.instagram.account_id is set but not the token: set PAYSYNC_INSTAGRAM_ACCESS_TOKEN to the account's long-lived token (docs/instagram.md)")
	}
	if on && s.AccountID == "" {
		bad("account_id", "an Instagram token is set but not the account: set PAYSYNC_INSTAGRAM_ACCOUNT_ID to the professional account's id (`paysync connectors check` prints it)")
	}
	if s.AccountID != "" && !accountID.MatchString(s.AccountID) {
		bad("account_id", "connectors.instagram.account_id is the account's numeric id, such as 17841400000000000")
	}
	if on && s.AppSecret == "" {
		bad("app_secret", "the Instagram connector is on but the app secret is not set: without it paysync cannot verify Instagram's webhooks, "+
			"hears no customer and sends nothing; set PAYSYNC_INSTAGRAM_APP_SECRET (App Dashboard > App settings > Basic)")
	}
	if on && s.VerifyToken == "" {
		bad("verify_token", "the Instagram connector is on but the verify token is not set: set PAYSYNC_INSTAGRAM_VERIFY_TOKEN to the one typed into the App Dashboard's webhook settings")
	}
	if u, err := url.Parse(s.BaseURL); s.BaseURL != "" && (err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "") {
		bad("base_url", "connectors.instagram.base_url must be the Graph API host, https://graph.instagram.com/ (or https://graph.facebook.com/)")
	}
	if !apiVersion.MatchString(s.APIVersion) {
		bad("api_version", "connectors.instagram.api_version is a Graph API version such as "+DefaultAPIVersion)
	}
	if len(s.DefaultLanguage) != 2 {
		bad("default_language", "connectors.instagram.default_language is a two-letter language of mapping/instagram.yaml, such as hy, ru or en")
	}
	if s.RateLimit < 1 || s.RateLimit > 300 {
		bad("rate_limit", "connectors.instagram.rate_limit must be 1 to 300: Instagram takes 300 text messages a second per account")
	}
	if d := s.UncertainWait.D(); d < time.Second || d > time.Hour {
		bad("uncertain_wait", "connectors.instagram.uncertain_wait must be 1s to 1h")
	}
	if s.Retention.D() < 48*time.Hour {
		bad("retention", "connectors.instagram.retention must be at least 2d: a conversation must outlive its 24-hour window")
	}
}

// refreshable reports whether the token is an Instagram Login one, which
// paysync renews; a Page token (graph.facebook.com) is not renewed this way.
func (s *Settings) refreshable() bool {
	u, err := url.Parse(s.BaseURL)
	return err == nil && !strings.HasSuffix(u.Hostname(), "facebook.com")
}

// build makes the client and the token source of the settings.
func build(d connectors.Deps) (*Client, *tokenSource, error) {
	s := d.Settings.(*Settings)
	var client *Client
	var tokens Tokens = fixedToken(s.AccessToken)
	var ts *tokenSource
	if s.refreshable() {
		var err error
		ts, err = newTokenSource(d.Store, string(s.AccessToken), d.Owner, func() *Client { return client }, time.Now, d.Meter)
		if err != nil {
			return nil, nil, err
		}
		tokens = ts
	}
	client = NewClient(ClientConfig{BaseURL: s.BaseURL, Version: s.APIVersion, AccountID: s.AccountID, Tokens: tokens,
		HTTPClient: d.HTTPClient, Meter: d.Meter, Rate: s.RateLimit,
		Secrets: []string{string(s.AccessToken), string(s.AppSecret), string(s.WebhookSecret), string(s.VerifyToken)}})
	return client, ts, nil
}

func newFromSettings(_ context.Context, d connectors.Deps) (core.Connector, error) {
	s := d.Settings.(*Settings)
	client, ts, err := build(d)
	if err != nil {
		return nil, err
	}
	if d.Mappings != nil {
		if m := d.Mappings.Get(Name); m != nil && !slices.Contains(m.Languages(), s.DefaultLanguage) {
			return nil, &core.Error{Code: core.EINVALID, Field: "default_language", Message: fmt.Sprintf(
				"connectors.instagram.default_language %s is not one of the languages of %s (%s)", s.DefaultLanguage, m.File(), strings.Join(m.Languages(), ", "))}
		}
	}
	return NewConnector(Config{Client: client, Store: d.Store, Mappings: d.Mappings, DefaultLanguage: s.DefaultLanguage,
		HumanAgent: s.HumanAgent, UncertainWait: s.UncertainWait.D(), Retention: s.Retention.D(),
		AppSecrets: []string{string(s.AppSecret), string(s.WebhookSecret)}, VerifyToken: string(s.VerifyToken),
		Logger: d.Logger, tokens: ts})
}

// checkAccount prints the account behind the token, what it may do and
// when the token ends, for `paysync connectors check`.
func checkAccount(ctx context.Context, d connectors.Deps, m *mapping.Mapping, w io.Writer) ([]string, error) {
	s := d.Settings.(*Settings)
	client, ts, err := build(d)
	if err != nil {
		return nil, err
	}
	acc, err := client.Me(ctx)
	if err != nil {
		return nil, readError("reading the account behind the token", err)
	}
	id := acc.UserID
	if id == "" {
		id = acc.ID
	}
	fmt.Fprintf(w, "account: @%s (%s), id %s\n", acc.Username, acc.Name, id)
	var problems []string
	if id != s.AccountID && acc.ID != s.AccountID {
		problems = append(problems, fmt.Sprintf("PAYSYNC_INSTAGRAM_ACCOUNT_ID is %s but the token belongs to account %s (@%s): set it to %s",
			s.AccountID, id, acc.Username, id))
	}
	fmt.Fprintln(w, "scopes: instagram_business_basic (the account answered)")
	if err := client.ProbeMessaging(ctx); err != nil {
		var ae *APIError
		if errors.As(err, &ae) && (ae.Code == codePermission || ae.Code == codePermissionAlt || ae.Code == codeToken) {
			problems = append(problems, "the token may not read the account's messages ("+ae.Error()+"): "+fixPermission)
		} else {
			fmt.Fprintf(w, "scopes: the conversations API did not answer (%v); messaging not checked\n", err)
		}
	} else {
		fmt.Fprintln(w, "scopes: instagram_business_manage_messages (the conversations API answered)")
	}
	switch {
	case ts == nil:
		fmt.Fprintln(w, "token: a Page token (graph.facebook.com), which paysync does not renew")
	default:
		tok, err := ts.current(ctx)
		switch {
		case err != nil:
			fmt.Fprintf(w, "token expiry: unknown (%v)\n", err)
		case tok.Expiry.IsZero():
			fmt.Fprintln(w, "token expiry: not known yet: serve renews the token within 6 hours and records when the new one ends")
		default:
			left := time.Until(tok.Expiry)
			fmt.Fprintf(w, "token expires %s (in %d days); serve renews it once less than %d days are left\n",
				tok.Expiry.UTC().Format("2006-01-02 15:04 UTC"), int(left.Hours()/24), int(RefreshBefore.Hours()/24))
			if left <= 0 {
				problems = append(problems, "the Instagram token expired: "+fixToken)
			}
		}
	}
	if m != nil {
		fmt.Fprintf(w, "messages in %s (default %s)\n", strings.Join(m.Languages(), ", "), s.DefaultLanguage)
	}
	return problems, nil
}
