package amocrm

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"
)

// The account doubles as its own OAuth server for one integration:
// POST /oauth2/access_token with a JSON body (client_id, client_secret,
// grant_type, code or refresh_token, redirect_uri). Refresh tokens are
// single-use: the exchange spends the one presented, and presenting it again
// answers "Token has been revoked".

// IssueTokens creates a fresh access/refresh pair, as exchanging an
// authorization code would.
func (a *Account) IssueTokens() (access, refresh string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.issueTokens()
}

func (a *Account) issueTokens() (access, refresh string) {
	access, refresh = randomToken("at"), randomToken("rt")
	a.access[access] = a.now().Add(AccessTokenTTL)
	a.refresh[refresh] = &refreshState{expires: a.now().Add(RefreshTokenTTL)}
	return access, refresh
}

// IssueCode returns an authorization code, as the integration's page in
// amoCRM shows one, for the authorization_code grant.
func (a *Account) IssueCode() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := randomToken("code")
	a.codes[c] = true
	return c
}

func randomToken(prefix string) string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// ExpireAccessTokens makes every OAuth access token expired.
func (a *Account) ExpireAccessTokens() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for t := range a.access {
		a.access[t] = a.now().Add(-time.Second)
	}
}

// RevokeRefreshTokens spends every refresh token, as disconnecting the
// integration does.
func (a *Account) RevokeRefreshTokens() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, s := range a.refresh {
		s.used = true
	}
}

// SetAccessToken replaces the long-lived token ("" revokes it): the old one
// answers 401 from now on.
func (a *Account) SetAccessToken(token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.longLived = map[string]bool{}
	if token != "" {
		a.longLived[token] = true
	}
}

// authenticate checks the bearer token of an API request. Caller holds mu.
func (a *Account) authenticate(header string) *problem {
	tok, ok := strings.CutPrefix(header, "Bearer ")
	if !ok || tok == "" {
		return newProblem(http.StatusUnauthorized, "Authorization header is missing")
	}
	if a.longLived[tok] {
		return nil
	}
	exp, ok := a.access[tok]
	if !ok || !a.now().Before(exp) {
		return newProblem(http.StatusUnauthorized, "Unauthorized")
	}
	return nil
}

// oauthProblem is the OAuth server's error answer.
func oauthProblem(status int, hint string) *problem {
	p := newProblem(status, "В запросе отсутствует ряд параметров или параметры невалидны")
	p.Title, p.Type, p.Hint = "Некорректный запрос", "https://developers.amocrm.ru/v3/errors/OAuthProblemJson", hint
	return p
}

// serveToken exchanges a code or a refresh token. Caller holds mu.
func (a *Account) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeProblem(w, newProblem(http.StatusMethodNotAllowed, "Method not allowed"))
		return
	}
	var in struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
		GrantType    string `json:"grant_type"`
		Code         string `json:"code"`
		RefreshToken string `json:"refresh_token"`
		RedirectURI  string `json:"redirect_uri"`
	}
	b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err := json.Unmarshal(b, &in); err != nil {
		writeProblem(w, oauthProblem(http.StatusBadRequest, "The request body is not JSON"))
		return
	}
	switch {
	case in.ClientID != a.opts.ClientID || in.ClientSecret != a.opts.ClientSecret:
		writeProblem(w, oauthProblem(http.StatusUnauthorized, "Client authentication failed"))
		return
	case in.RedirectURI != a.opts.RedirectURI:
		writeProblem(w, oauthProblem(http.StatusBadRequest, "Redirect URI does not match the integration's"))
		return
	}
	switch in.GrantType {
	case "authorization_code":
		if !a.codes[in.Code] {
			writeProblem(w, oauthProblem(http.StatusBadRequest, "Authorization code has been revoked"))
			return
		}
		delete(a.codes, in.Code)
	case "refresh_token":
		s := a.refresh[in.RefreshToken]
		switch {
		case s == nil || s.used:
			writeProblem(w, oauthProblem(http.StatusUnauthorized, "Token has been revoked"))
			return
		case !a.now().Before(s.expires):
			writeProblem(w, oauthProblem(http.StatusUnauthorized, "Token has expired"))
			return
		}
		s.used = true
	default:
		writeProblem(w, oauthProblem(http.StatusBadRequest, "Check the `grant_type` parameter"))
		return
	}
	access, refresh := a.issueTokens()
	a.stats.Refreshes++
	a.stats.Served++
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type": "Bearer", "expires_in": int(AccessTokenTTL.Seconds()),
		"access_token": access, "refresh_token": refresh,
	})
}
