package bitrix24

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/oauthtoken"
)

// DefaultTokenURL is Bitrix24's OAuth server.
const DefaultTokenURL = "https://oauth.bitrix.info/oauth/token/"

// Extras of a Bitrix24 token (oauthtoken.Token.Extra).
const (
	ExtraClientEndpoint = "client_endpoint" // https://portal/rest/
	ExtraDomain         = "domain"
	ExtraMemberID       = "member_id"
)

// StateTokenStore keeps the Bitrix24 token pair in core.Store's connector
// state, as JSON under ("bitrix24", "oauth_token"), and serialises refreshes
// across replicas through the store's leases.
type StateTokenStore struct {
	Store oauthtoken.Backend
}

func (s StateTokenStore) state() oauthtoken.StateStore {
	return oauthtoken.StateStore{Backend: s.Store, Connector: Name, Key: "oauth_token"}
}

func (s StateTokenStore) Load(ctx context.Context) (oauthtoken.Token, int64, error) {
	return s.state().Load(ctx)
}

func (s StateTokenStore) Save(ctx context.Context, tok oauthtoken.Token, expectedVersion int64) error {
	return s.state().Save(ctx, tok, expectedVersion)
}

func (s StateTokenStore) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (bool, error) {
	return s.Store.AcquireLease(ctx, name, holder, ttl, now)
}

func (s StateTokenStore) ReleaseLease(ctx context.Context, name, holder string) error {
	return s.Store.ReleaseLease(ctx, name, holder)
}

// newTokenSource wires the client's OAuth refresh (a GET to the OAuth
// server) into an oauthtoken.Source.
func (c *Client) newTokenSource(o *OAuthConfig) (*oauthtoken.Source, error) {
	return oauthtoken.New(oauthtoken.Config{
		Name:      Name,
		Store:     o.Store,
		Leases:    o.Leases,
		Refresh:   c.requestToken,
		OnRefresh: func(err error) { connectors.Refreshed(c.meter, err) },
		InvalidGrant: func(err error) bool {
			var ae *APIError
			return errors.As(err, &ae) && ae.Code == "invalid_grant"
		},
		Now: c.now,
	})
}

// tokenError turns an oauthtoken failure into a classified delivery error.
func (c *Client) tokenError(err error) error {
	var se *oauthtoken.SaveError
	var ste *oauthtoken.StoreError
	switch {
	case errors.Is(err, oauthtoken.ErrNoToken):
		return &core.DeliveryError{Class: core.NeedsReauth,
			Reason: "no Bitrix24 OAuth token is stored: install the paysync app in Bitrix24 to authorise it"}
	case errors.Is(err, oauthtoken.ErrNoRefreshToken):
		return &core.DeliveryError{Class: core.NeedsReauth, Reason: fixGrant}
	case errors.As(err, &se):
		return &core.DeliveryError{Class: core.Retryable,
			Reason: "could not store the rotated Bitrix24 token; it is kept in memory and stored before use on the next attempt",
			Err:    errors.New(c.secrets.String(se.Err.Error()))}
	case errors.As(err, &ste):
		return &core.DeliveryError{Class: core.Retryable, Reason: "could not read the stored Bitrix24 token; will retry",
			Err: errors.New(c.secrets.String(err.Error()))}
	}
	return Classify(err)
}

// oauthCredentials returns the REST endpoint and access token to use.
func (c *Client) oauthCredentials(ctx context.Context) (endpoint, access string, err error) {
	tok, err := c.tokens.Token(ctx)
	if err != nil {
		return "", "", c.tokenError(err)
	}
	c.secrets.Add(tok.AccessToken, tok.RefreshToken)
	endpoint = c.oauth.PortalURL
	if endpoint == "" {
		endpoint = tok.Get(ExtraClientEndpoint)
	}
	if endpoint == "" {
		return "", "", &core.DeliveryError{Class: core.NeedsReauth,
			Reason: "the Bitrix24 portal address is unknown: set the portal URL (https://your-portal.bitrix24.com/rest/) in the bitrix24 OAuth settings"}
	}
	if !strings.HasSuffix(endpoint, "/") {
		endpoint += "/"
	}
	return endpoint, tok.AccessToken, nil
}

// refresh replaces the access token that the portal called expired. However
// many requests find it expired at once, in this process or in others
// sharing the store, the OAuth server is asked once.
func (c *Client) refresh(ctx context.Context, stale string) error {
	tok, err := c.tokens.Refresh(ctx, stale)
	if err != nil {
		return c.tokenError(err)
	}
	c.secrets.Add(tok.AccessToken, tok.RefreshToken)
	return nil
}

// requestToken asks the OAuth server for a new pair (an oauthtoken.RefreshFunc).
func (c *Client) requestToken(ctx context.Context, cur oauthtoken.Token) (oauthtoken.Token, error) {
	tokenURL := c.oauth.TokenURL
	if tokenURL == "" {
		tokenURL = DefaultTokenURL
	}
	resp, err := c.http.R().SetContext(ctx).
		SetHeader("Accept", "application/json").
		SetQueryParams(map[string]string{
			"grant_type":    "refresh_token",
			"client_id":     c.oauth.ClientID,
			"client_secret": c.oauth.ClientSecret,
			"refresh_token": cur.RefreshToken,
		}).
		Get(tokenURL)
	if err != nil {
		core.ObserveRequest(ctx, core.RequestFailed)
		return oauthtoken.Token{}, c.transportError("oauth", err)
	}
	connectors.ObserveStatus(ctx, resp.StatusCode())
	var out struct {
		AccessToken    string      `json:"access_token"`
		RefreshToken   string      `json:"refresh_token"`
		Expires        json.Number `json:"expires"`
		ExpiresIn      json.Number `json:"expires_in"`
		ClientEndpoint string      `json:"client_endpoint"`
		Domain         string      `json:"domain"`
		MemberID       string      `json:"member_id"`
		Error          string      `json:"error"`
		Description    string      `json:"error_description"`
	}
	if err := json.Unmarshal(resp.Body(), &out); err != nil {
		return oauthtoken.Token{}, &APIError{Method: "oauth", Status: resp.StatusCode(), Code: codeUnreadable(resp.StatusCode()), OAuth: true}
	}
	if out.Error != "" || resp.StatusCode() != http.StatusOK || out.AccessToken == "" || out.RefreshToken == "" {
		code := out.Error
		if code == "" && resp.StatusCode() == http.StatusOK {
			code = "ERROR_UNEXPECTED_ANSWER"
		}
		return oauthtoken.Token{}, &APIError{Method: "oauth", Status: resp.StatusCode(), Code: code, Description: c.secrets.String(out.Description), OAuth: true}
	}
	tok := oauthtoken.Token{AccessToken: out.AccessToken, RefreshToken: out.RefreshToken, Extra: map[string]string{}}
	// The answer normally names the portal again; keep what we knew if not.
	for k, v := range map[string]string{ExtraClientEndpoint: out.ClientEndpoint, ExtraDomain: out.Domain, ExtraMemberID: out.MemberID} {
		if v == "" {
			v = cur.Get(k)
		}
		if v != "" {
			tok.Extra[k] = v
		}
	}
	if n, err := out.Expires.Int64(); err == nil && n > 0 {
		tok.Expiry = time.Unix(n, 0).UTC()
	} else if n, err := out.ExpiresIn.Int64(); err == nil && n > 0 {
		tok.Expiry = c.now().Add(time.Duration(n) * time.Second).UTC()
	}
	c.secrets.Add(tok.AccessToken, tok.RefreshToken)
	return tok, nil
}

func codeUnreadable(status int) string {
	if status >= 500 {
		return ""
	}
	return "ERROR_UNEXPECTED_ANSWER"
}
