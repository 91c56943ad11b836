package instagram

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"time"

	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/oauthtoken"
)

// The long-lived token of Instagram Login lasts 60 days and is exchanged
// for a new one (ig_refresh_token) by itself, no refresh token needed: once
// at least 24 hours old and not expired. paysync stores each new token with
// its expiry in the database (connector state "instagram"/"token", through
// internal/oauthtoken: compare-and-swap, one refresh across replicas) and
// uses it instead of PAYSYNC_INSTAGRAM_ACCESS_TOKEN, until that variable
// names another token (a person logged in again).

// extraSeed marks a stored token with the configured token it descends
// from (a digest), so that a new PAYSYNC_INSTAGRAM_ACCESS_TOKEN is told
// from an old one.
const extraSeed = "seed"

func seedDigest(s string) string {
	h := sha256.Sum256([]byte("paysync instagram seed\x00" + s))
	return hex.EncodeToString(h[:12])
}

// seededStore starts from the configured token while nothing that descends
// from it is stored.
type seededStore struct {
	oauthtoken.Store
	seed string
}

func (s seededStore) Load(ctx context.Context) (oauthtoken.Token, int64, error) {
	tok, ver, err := s.Store.Load(ctx)
	if err != nil || s.seed == "" {
		return tok, ver, err
	}
	if d := seedDigest(s.seed); tok.Get(extraSeed) != d {
		return oauthtoken.Token{AccessToken: s.seed, Extra: map[string]string{extraSeed: d}}, ver, nil
	}
	return tok, ver, nil
}

// tokenSource hands out the stored token and renews it.
type tokenSource struct {
	src    *oauthtoken.Source
	client func() *Client // the client that calls refresh_access_token
	now    func() time.Time
	meter  connectors.Meter
}

func newTokenSource(store core.Store, seed, owner string, client func() *Client, now func() time.Time, meter connectors.Meter) (*tokenSource, error) {
	ts := &tokenSource{client: client, now: now, meter: meter}
	var backend oauthtoken.Store = oauthtoken.NewMemoryStore(oauthtoken.Token{})
	if store != nil {
		backend = oauthtoken.StateStore{Backend: store, Connector: Name, Key: "token"}
	}
	src, err := oauthtoken.New(oauthtoken.Config{
		Name:           Name,
		Store:          seededStore{Store: backend, seed: seed},
		Holder:         owner,
		SelfRefreshing: true,
		Refresh:        ts.exchange,
		OnRefresh:      func(err error) { connectors.Refreshed(meter, err) },
		Now:            now,
	})
	if err != nil {
		return nil, err
	}
	ts.src = src
	return ts, nil
}

// exchange is the refresh function: the current token for a new one.
func (ts *tokenSource) exchange(ctx context.Context, cur oauthtoken.Token) (oauthtoken.Token, error) {
	tok, ttl, err := ts.client().RefreshToken(ctx, cur.AccessToken)
	if err != nil {
		return oauthtoken.Token{}, err
	}
	next := oauthtoken.Token{AccessToken: tok, Extra: map[string]string{extraSeed: cur.Get(extraSeed)}}
	if ttl > 0 {
		next.Expiry = ts.now().Add(ttl).UTC().Truncate(time.Second)
	}
	return next, nil
}

func (ts *tokenSource) Access(ctx context.Context) (string, error) {
	tok, err := ts.src.Token(ctx)
	if err != nil {
		return "", tokenError(err)
	}
	if !tok.Expiry.IsZero() && !ts.now().Before(tok.Expiry) {
		return "", &core.DeliveryError{Class: core.NeedsReauth,
			Reason: "the Instagram access token expired on " + tok.Expiry.Format("2006-01-02") + " and cannot be refreshed any more: " + fixToken}
	}
	return tok.AccessToken, nil
}

// Refresh replaces stale, which Instagram just refused: with the token
// another replica stored meanwhile, else by exchanging it (which Instagram
// refuses for a token that expired: then a person must log in again).
func (ts *tokenSource) Refresh(ctx context.Context, stale string) (string, error) {
	tok, err := ts.src.Refresh(ctx, stale)
	if err != nil {
		return "", tokenError(err)
	}
	if tok.AccessToken == stale {
		return "", errTokenRefused
	}
	return tok.AccessToken, nil
}

// current is the stored token, for `connectors check`.
func (ts *tokenSource) current(ctx context.Context) (oauthtoken.Token, error) {
	return ts.src.Token(ctx)
}

// renew refreshes the token when less than RefreshBefore is left of it, or
// when its expiry is not known yet (the token from the environment). A
// token younger than 24 hours cannot be refreshed: Instagram refuses, and
// the next run tries again.
func (ts *tokenSource) renew(ctx context.Context, log *slog.Logger) error {
	tok, err := ts.src.Token(ctx)
	if err != nil {
		return tokenError(err)
	}
	if !tok.Expiry.IsZero() && tok.Expiry.Sub(ts.now()) > RefreshBefore {
		return nil
	}
	next, err := ts.src.Refresh(ctx, tok.AccessToken)
	if err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.Code != codeToken {
			// Too new to refresh, or a passing fault: the next run tries again.
			log.Info("the Instagram token was not refreshed this time; paysync tries again later", "reason", ae.Error())
			return nil
		}
		return tokenError(err)
	}
	log.Info("Instagram access token refreshed", "expires", next.Expiry.Format(time.RFC3339))
	return nil
}

// tokenError classifies a failure of the token store or of a refresh.
func tokenError(err error) error {
	var se *oauthtoken.SaveError
	var ste *oauthtoken.StoreError
	var ae *APIError
	switch {
	case errors.Is(err, oauthtoken.ErrNoToken):
		return &core.DeliveryError{Class: core.NeedsReauth, Reason: "no Instagram access token is set: " + fixToken}
	case errors.As(err, &se):
		return &core.DeliveryError{Class: core.Retryable, Reason: "could not store the refreshed Instagram token; it is kept in memory and stored before it is used"}
	case errors.As(err, &ste):
		return &core.DeliveryError{Class: core.Retryable, Reason: "could not read the stored Instagram token; will retry"}
	case errors.As(err, &ae) && ae.Code == codeToken:
		return &core.DeliveryError{Class: core.NeedsReauth, Reason: "Instagram refused to refresh the access token (" + ae.Error() + "): " + fixToken}
	}
	var de *core.DeliveryError
	if errors.As(err, &de) {
		return de
	}
	return &core.DeliveryError{Class: core.Retryable, Reason: "could not refresh the Instagram token: " + err.Error()}
}
