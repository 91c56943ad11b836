package amocrm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"time"

	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/oauthtoken"
)

// OAuthConfig is an OAuth integration. amoCRM's refresh tokens are
// single-use and live 3 months: each refresh spends the old one, so the new
// pair is stored (with compare-and-swap) before it is used, and refreshes
// are serialised within the process and across replicas (internal/oauthtoken).
type OAuthConfig struct {
	ClientID     string
	ClientSecret string
	RedirectURI  string
	// RefreshToken is where the integration starts: the refresh token of
	// the first code exchange (PAYSYNC_AMOCRM_REFRESH_TOKEN). Once it is
	// used, the rotated pair lives in Store; a different RefreshToken (a
	// person re-authorised) replaces the stored pair.
	RefreshToken string
	// Store keeps the rotated pair; required. StateTokenStore keeps it in
	// paysync's database.
	Store oauthtoken.Store
	// Leases serialise refreshes across replicas; default Store when it has
	// them (StateTokenStore does).
	Leases oauthtoken.Leases
	// Holder names this process in the refresh lease (default host:pid:random).
	Holder string
}

// StateTokenStore keeps the amoCRM token pair in core.Store's connector
// state, as JSON under ("amocrm", "oauth_token"), with the store's leases.
func StateTokenStore(b oauthtoken.Backend) oauthtoken.StateStore {
	return oauthtoken.StateStore{Backend: b, Connector: Name, Key: "oauth_token"}
}

// extraSeed marks a stored pair with the refresh token it descends from (a
// hash), so that a new PAYSYNC_AMOCRM_REFRESH_TOKEN is told from an old one.
const extraSeed = "seed"

func seedHash(s string) string {
	h := sha256.Sum256([]byte("paysync amocrm seed\x00" + s))
	return hex.EncodeToString(h[:12])
}

// seededStore starts from the configured refresh token while nothing that
// descends from it is stored.
type seededStore struct {
	oauthtoken.Store
	seed string
}

func (s seededStore) Load(ctx context.Context) (oauthtoken.Token, int64, error) {
	tok, ver, err := s.Store.Load(ctx)
	if err != nil || s.seed == "" {
		return tok, ver, err
	}
	if h := seedHash(s.seed); tok.Get(extraSeed) != h {
		// Nothing stored yet, or a person re-authorised: start from the
		// configured refresh token, replacing what is stored (version ver).
		return oauthtoken.Token{RefreshToken: s.seed, Extra: map[string]string{extraSeed: h}}, ver, nil
	}
	return tok, ver, nil
}

// oauthTokens hands out an OAuth integration's access token.
type oauthTokens struct {
	c   *Client
	src *oauthtoken.Source
}

func (c *Client) newOAuthTokens(o OAuthConfig) (Tokens, error) {
	if o.ClientID == "" || o.ClientSecret == "" || o.RedirectURI == "" || o.Store == nil {
		return nil, core.Errorf(core.EINVALID, "amocrm: an OAuth integration needs its client id, client secret, redirect URI and a token store")
	}
	c.secrets.Add(o.ClientSecret, o.RefreshToken)
	leases := o.Leases
	if leases == nil {
		leases, _ = o.Store.(oauthtoken.Leases)
	}
	src, err := oauthtoken.New(oauthtoken.Config{
		Name:      Name,
		Store:     seededStore{Store: o.Store, seed: o.RefreshToken},
		Leases:    leases,
		Holder:    o.Holder,
		Refresh:   c.refreshFunc(o),
		OnRefresh: func(err error) { connectors.Refreshed(c.meter, err) },
		InvalidGrant: func(err error) bool {
			var ae *APIError
			return errors.As(err, &ae) && (ae.Status == http.StatusBadRequest || ae.Status == http.StatusUnauthorized)
		},
		Now: c.now,
	})
	if err != nil {
		return nil, err
	}
	return &oauthTokens{c: c, src: src}, nil
}

func (t *oauthTokens) LongLived() bool { return false }

// Access returns the access token; one past its expiry is refreshed first,
// which saves amoCRM a request answered 401.
func (t *oauthTokens) Access(ctx context.Context) (string, error) {
	tok, err := t.src.Token(ctx)
	if err != nil {
		return "", t.c.tokenError(err)
	}
	t.c.secrets.Add(tok.AccessToken, tok.RefreshToken)
	if !tok.Expiry.IsZero() && !t.c.now().Before(tok.Expiry.Add(-time.Minute)) {
		return t.Refresh(ctx, tok.AccessToken)
	}
	return tok.AccessToken, nil
}

// Refresh replaces stale; however many requests and replicas find it
// expired at once, amoCRM is asked once.
func (t *oauthTokens) Refresh(ctx context.Context, stale string) (string, error) {
	tok, err := t.src.Refresh(ctx, stale)
	if err != nil {
		return "", t.c.tokenError(err)
	}
	t.c.secrets.Add(tok.AccessToken, tok.RefreshToken)
	return tok.AccessToken, nil
}

// refreshFunc exchanges the current refresh token for a new pair at
// POST /oauth2/access_token, through the client's limiter.
func (c *Client) refreshFunc(o OAuthConfig) oauthtoken.RefreshFunc {
	return func(ctx context.Context, cur oauthtoken.Token) (oauthtoken.Token, error) {
		c.secrets.Add(cur.RefreshToken)
		r := request{method: http.MethodPost, path: "/oauth2/access_token"}
		body, _ := json.Marshal(map[string]string{"client_id": o.ClientID, "client_secret": o.ClientSecret,
			"grant_type": "refresh_token", "refresh_token": cur.RefreshToken, "redirect_uri": o.RedirectURI})
		status, answer, hdr, err := c.send(ctx, r, body, "")
		if err != nil {
			return oauthtoken.Token{}, err
		}
		if status != http.StatusOK {
			return oauthtoken.Token{}, c.apiError(r.op(), status, hdr, answer)
		}
		var out struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
			ExpiresIn    int64  `json:"expires_in"`
		}
		if json.Unmarshal(answer, &out) != nil || out.AccessToken == "" || out.RefreshToken == "" {
			return oauthtoken.Token{}, &core.DeliveryError{Class: core.Retryable,
				Reason: "amoCRM's token answer holds no token pair; will retry (the refresh token may be spent: if it keeps failing, " + fixReauth + ")"}
		}
		c.secrets.Add(out.AccessToken, out.RefreshToken)
		tok := oauthtoken.Token{AccessToken: out.AccessToken, RefreshToken: out.RefreshToken, Extra: maps.Clone(cur.Extra)}
		if out.ExpiresIn > 0 {
			tok.Expiry = c.now().Add(time.Duration(out.ExpiresIn) * time.Second).UTC()
		}
		return tok, nil
	}
}

// tokenError turns an oauthtoken failure into a classified delivery error.
func (c *Client) tokenError(err error) error {
	var se *oauthtoken.SaveError
	var ste *oauthtoken.StoreError
	switch {
	case errors.Is(err, oauthtoken.ErrNoToken):
		return &core.DeliveryError{Class: core.NeedsReauth,
			Reason: "no amoCRM OAuth token is stored and PAYSYNC_AMOCRM_REFRESH_TOKEN is empty: " + fixReauth}
	case errors.Is(err, oauthtoken.ErrNoRefreshToken):
		return &core.DeliveryError{Class: core.NeedsReauth, Reason: "the stored amoCRM token has no refresh token: " + fixReauth}
	case errors.As(err, &se):
		return &core.DeliveryError{Class: core.Retryable,
			Reason: "could not store the rotated amoCRM token pair; it is kept in memory and stored before it is used, on the next attempt",
			Err:    errors.New(c.secrets.String(se.Err.Error()))}
	case errors.As(err, &ste):
		return &core.DeliveryError{Class: core.Retryable, Reason: "could not read the stored amoCRM token; will retry",
			Err: errors.New(c.secrets.String(err.Error()))}
	}
	return Classify(err)
}
