package bitrix24

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
	"time"
)

// The portal doubles as oauth.bitrix.info for its one application: GET or
// POST /oauth/token/?grant_type=refresh_token&client_id=…&client_secret=…&refresh_token=…
// Every refresh rotates the refresh token; the old one is spent.

// IssueTokens creates a fresh access/refresh token pair, as installing the app would.
func (p *Portal) IssueTokens() (access, refresh string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.issueTokens()
}

func (p *Portal) issueTokens() (access, refresh string) {
	access, refresh = randomToken("a"), randomToken("r")
	p.access[access] = p.now().Add(AccessTokenTTL)
	p.refresh[refresh] = true
	return access, refresh
}

func randomToken(prefix string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// ExpireAccessTokens makes every issued access token expired.
func (p *Portal) ExpireAccessTokens() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for t := range p.access {
		p.access[t] = p.now().Add(-time.Second)
	}
}

// RevokeRefreshTokens spends every refresh token, as when the app is
// uninstalled or the token is older than 180 days.
func (p *Portal) RevokeRefreshTokens() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for t := range p.refresh {
		p.refresh[t] = false
	}
}

func (p *Portal) serveToken(w http.ResponseWriter, r *http.Request) {
	params, err := readParams(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, (&apiError{code: "invalid_request", descr: err.Error()}).body())
		return
	}
	get := func(k string) string { v, _ := params.Get(k); return str(v) }
	p.mu.Lock()
	defer p.mu.Unlock()
	if f := p.oauthFail; f != nil {
		status := f.status
		if status == 0 {
			status = http.StatusBadRequest
		}
		writeJSON(w, status, (&apiError{code: f.code, descr: f.descr}).body())
		return
	}
	if get("client_id") != p.opts.ClientID || get("client_secret") != p.opts.ClientSecret {
		writeJSON(w, http.StatusUnauthorized, (&apiError{code: "invalid_client", descr: "Invalid client credentials"}).body())
		return
	}
	if get("grant_type") != "refresh_token" {
		writeJSON(w, http.StatusBadRequest, (&apiError{code: "unsupported_grant_type", descr: "Unsupported grant type"}).body())
		return
	}
	old := get("refresh_token")
	if !p.refresh[old] {
		writeJSON(w, http.StatusBadRequest, (&apiError{code: "invalid_grant", descr: "Invalid refresh token"}).body())
		return
	}
	p.refresh[old] = false
	access, refresh := p.issueTokens()
	p.stats.Refreshes++
	base := p.opts.PublicURL
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	host := strings.TrimPrefix(strings.TrimPrefix(base, "https://"), "http://")
	out := newOmap()
	out.Set("access_token", access)
	out.Set("expires", p.access[access].Unix())
	out.Set("expires_in", int(AccessTokenTTL.Seconds()))
	out.Set("scope", strings.Join(p.scopes, ","))
	out.Set("domain", strings.TrimRight(host, "/"))
	out.Set("server_endpoint", strings.TrimRight(base, "/")+"/rest/")
	out.Set("status", "L")
	out.Set("client_endpoint", strings.TrimRight(base, "/")+"/rest/")
	out.Set("member_id", "sandbox0member0id")
	out.Set("user_id", 1)
	out.Set("refresh_token", refresh)
	writeJSON(w, http.StatusOK, out)
}
