package bitrix24

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/paysync/paysync/core"
)

// DefaultTokenURL is Bitrix24's OAuth server.
const DefaultTokenURL = "https://oauth.bitrix.info/oauth/token/"

// Token is a Bitrix24 OAuth token pair. Every refresh rotates RefreshToken:
// the old one is spent, so the new pair must be stored before it is used.
type Token struct {
	AccessToken    string    `json:"access_token"`
	RefreshToken   string    `json:"refresh_token"`
	Expiry         time.Time `json:"expiry"`
	ClientEndpoint string    `json:"client_endpoint,omitempty"` // https://portal/rest/
	Domain         string    `json:"domain,omitempty"`
	MemberID       string    `json:"member_id,omitempty"`
}

// TokenStore persists the token pair. Load returns the stored token and its
// version (0 and a zero Token when none is stored). Save stores tok only if
// the stored version is still expectedVersion, and the stored version then
// becomes expectedVersion+1; on a mismatch it fails with a core.ESTALE error.
// core.Store's GetState/PutState have exactly these semantics.
type TokenStore interface {
	Load(ctx context.Context) (Token, int64, error)
	Save(ctx context.Context, tok Token, expectedVersion int64) error
}

// MemoryTokenStore keeps the token in memory, for tests and one-off runs.
type MemoryTokenStore struct {
	mu    sync.Mutex
	tok   Token
	ver   int64
	saves int
}

// NewMemoryTokenStore returns a store holding tok at version 1.
func NewMemoryTokenStore(tok Token) *MemoryTokenStore {
	return &MemoryTokenStore{tok: tok, ver: 1}
}

func (s *MemoryTokenStore) Load(context.Context) (Token, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tok, s.ver, nil
}

func (s *MemoryTokenStore) Save(_ context.Context, tok Token, expectedVersion int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if expectedVersion != s.ver {
		return core.Errorf(core.ESTALE, "token changed since it was read")
	}
	s.tok, s.ver = tok, s.ver+1
	s.saves++
	return nil
}

// Saves counts successful saves.
func (s *MemoryTokenStore) Saves() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saves
}

// StateTokenStore keeps the token in core.Store's connector state, as JSON
// under ("bitrix24", "oauth_token").
type StateTokenStore struct {
	Store interface {
		GetState(ctx context.Context, connector, key string) (string, int64, error)
		PutState(ctx context.Context, connector, key, value string, expectedVersion int64) error
	}
}

func (s StateTokenStore) Load(ctx context.Context) (Token, int64, error) {
	v, ver, err := s.Store.GetState(ctx, Name, "oauth_token")
	if core.ErrorCode(err) == core.ENOTFOUND {
		return Token{}, 0, nil
	}
	if err != nil {
		return Token{}, 0, err
	}
	var tok Token
	if v != "" {
		if err := json.Unmarshal([]byte(v), &tok); err != nil {
			return Token{}, 0, err
		}
	}
	return tok, ver, nil
}

func (s StateTokenStore) Save(ctx context.Context, tok Token, expectedVersion int64) error {
	b, err := json.Marshal(tok)
	if err != nil {
		return err
	}
	return s.Store.PutState(ctx, Name, "oauth_token", string(b), expectedVersion)
}

// ensureToken loads the stored token on first use. Caller holds c.mu.
func (c *Client) ensureToken(ctx context.Context) error {
	if c.loaded {
		return nil
	}
	tok, ver, err := c.oauth.Store.Load(ctx)
	if err != nil {
		return &core.DeliveryError{Class: core.Retryable, Reason: "could not read the stored Bitrix24 token; will retry", Err: errors.New(c.redact(err.Error()))}
	}
	c.tok, c.ver, c.loaded = tok, ver, true
	c.addSecret(tok.AccessToken, tok.RefreshToken)
	return nil
}

// oauthCredentials returns the REST endpoint and access token to use.
func (c *Client) oauthCredentials(ctx context.Context) (endpoint, access string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.ensureToken(ctx); err != nil {
		return "", "", err
	}
	if c.tok.AccessToken == "" && c.tok.RefreshToken == "" && c.unsaved == nil {
		return "", "", &core.DeliveryError{Class: core.NeedsReauth,
			Reason: "no Bitrix24 OAuth token is stored: install the paysync app in Bitrix24 to authorise it"}
	}
	if c.tok.AccessToken == "" || c.unsaved != nil {
		if err := c.refreshLocked(ctx, c.tok.AccessToken); err != nil {
			return "", "", err
		}
	}
	endpoint = c.oauth.PortalURL
	if endpoint == "" {
		endpoint = c.tok.ClientEndpoint
	}
	if endpoint == "" {
		return "", "", &core.DeliveryError{Class: core.NeedsReauth,
			Reason: "the Bitrix24 portal address is unknown: set the portal URL (https://your-portal.bitrix24.com/rest/) in the bitrix24 OAuth settings"}
	}
	if !strings.HasSuffix(endpoint, "/") {
		endpoint += "/"
	}
	return endpoint, c.tok.AccessToken, nil
}

// refresh replaces the access token that the portal called expired. Refreshes
// are serialized: callers that lost the race find a newer token and return.
func (c *Client) refresh(ctx context.Context, stale string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refreshLocked(ctx, stale)
}

func (c *Client) refreshLocked(ctx context.Context, stale string) error {
	if c.unsaved != nil {
		// A rotated token that could not be stored earlier: store it before
		// anything else, since the refresh token it replaced is spent.
		return c.saveLocked(ctx, *c.unsaved)
	}
	if c.tok.AccessToken != stale {
		return nil // another caller refreshed already
	}
	// Another process sharing the store may have refreshed.
	if tok, ver, err := c.oauth.Store.Load(ctx); err == nil && ver != c.ver {
		c.tok, c.ver = tok, ver
		c.addSecret(tok.AccessToken, tok.RefreshToken)
		if tok.AccessToken != stale && tok.AccessToken != "" {
			return nil
		}
	}
	if c.tok.RefreshToken == "" {
		return &core.DeliveryError{Class: core.NeedsReauth, Reason: fixGrant}
	}
	tok, err := c.requestToken(ctx, c.tok.RefreshToken)
	if err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.Code == "invalid_grant" {
			// Maybe another process used our refresh token and stored the result.
			if stored, ver, lerr := c.oauth.Store.Load(ctx); lerr == nil && stored.RefreshToken != c.tok.RefreshToken && stored.RefreshToken != "" {
				c.tok, c.ver = stored, ver
				c.addSecret(stored.AccessToken, stored.RefreshToken)
				return nil
			}
		}
		return Classify(err)
	}
	return c.saveLocked(ctx, tok)
}

// saveLocked stores a rotated token and only then starts using it.
func (c *Client) saveLocked(ctx context.Context, tok Token) error {
	err := c.oauth.Store.Save(ctx, tok, c.ver)
	if core.ErrorCode(err) == core.ESTALE {
		// Someone stored a newer pair meanwhile; theirs wins.
		stored, ver, lerr := c.oauth.Store.Load(ctx)
		if lerr == nil {
			c.tok, c.ver, c.unsaved = stored, ver, nil
			c.addSecret(stored.AccessToken, stored.RefreshToken)
			return nil
		}
		err = lerr
	}
	if err != nil {
		c.unsaved = &tok
		return &core.DeliveryError{Class: core.Retryable,
			Reason: "could not store the rotated Bitrix24 token; it is kept in memory and stored before use on the next attempt",
			Err:    errors.New(c.redact(err.Error()))}
	}
	c.tok, c.ver, c.unsaved = tok, c.ver+1, nil
	return nil
}

// requestToken asks the OAuth server for a new pair.
func (c *Client) requestToken(ctx context.Context, refreshToken string) (Token, error) {
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
			"refresh_token": refreshToken,
		}).
		Get(tokenURL)
	if err != nil {
		return Token{}, c.transportError("oauth", err)
	}
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
		return Token{}, &APIError{Method: "oauth", Status: resp.StatusCode(), Code: codeUnreadable(resp.StatusCode()), OAuth: true}
	}
	if out.Error != "" || resp.StatusCode() != http.StatusOK || out.AccessToken == "" || out.RefreshToken == "" {
		code := out.Error
		if code == "" && resp.StatusCode() == http.StatusOK {
			code = "ERROR_UNEXPECTED_ANSWER"
		}
		return Token{}, &APIError{Method: "oauth", Status: resp.StatusCode(), Code: code, Description: c.redact(out.Description), OAuth: true}
	}
	tok := Token{AccessToken: out.AccessToken, RefreshToken: out.RefreshToken,
		ClientEndpoint: out.ClientEndpoint, Domain: out.Domain, MemberID: out.MemberID}
	if n, err := out.Expires.Int64(); err == nil && n > 0 {
		tok.Expiry = time.Unix(n, 0).UTC()
	} else if n, err := out.ExpiresIn.Int64(); err == nil && n > 0 {
		tok.Expiry = c.now().Add(time.Duration(n) * time.Second).UTC()
	}
	c.addSecret(tok.AccessToken, tok.RefreshToken)
	return tok, nil
}

func codeUnreadable(status int) string {
	if status >= 500 {
		return ""
	}
	return "ERROR_UNEXPECTED_ANSWER"
}
