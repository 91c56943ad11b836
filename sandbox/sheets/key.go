package sheets

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// The double is its own Google OAuth server for one service account: the
// key file it hands out names its token endpoint in token_uri, and the
// endpoint accepts only JWT bearer assertions signed with that key.

const (
	jwtBearer      = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	sheetsScope    = "https://www.googleapis.com/auth/spreadsheets"
	AccessTokenTTL = time.Hour
)

var (
	sharedKeyOnce sync.Once
	sharedKey     *rsa.PrivateKey
)

// processKey is one RSA key per process: generating a 2048-bit key takes
// long enough under -race to slow every test that builds a double.
func processKey() *rsa.PrivateKey {
	sharedKeyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic("sandbox/sheets: " + err.Error())
		}
		sharedKey = k
	})
	return sharedKey
}

// KeyFile is a service-account key as Google's console downloads it.
type KeyFile struct {
	Type           string `json:"type"`
	ProjectID      string `json:"project_id"`
	PrivateKeyID   string `json:"private_key_id"`
	PrivateKey     string `json:"private_key"`
	ClientEmail    string `json:"client_email"`
	ClientID       string `json:"client_id"`
	AuthURI        string `json:"auth_uri"`
	TokenURI       string `json:"token_uri"`
	AuthCertURL    string `json:"auth_provider_x509_cert_url"`
	ClientCertURL  string `json:"client_x509_cert_url"`
	UniverseDomain string `json:"universe_domain"`
}

// KeyJSON is the service-account key file of the double's account; its
// token_uri is base + "/token" (base as clients reach the double).
func (s *Spreadsheet) KeyJSON(base string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return keyJSON(s.key, s.keyID, s.email, strings.TrimRight(base, "/")+"/token")
}

func keyJSON(k *rsa.PrivateKey, keyID, email, tokenURI string) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic("sandbox/sheets: " + err.Error())
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	b, _ := json.MarshalIndent(KeyFile{
		Type: "service_account", ProjectID: "paysync-sandbox", PrivateKeyID: keyID, PrivateKey: string(pemKey),
		ClientEmail: email, ClientID: "100000000000000000001",
		AuthURI: "https://accounts.google.com/o/oauth2/auth", TokenURI: tokenURI,
		AuthCertURL:    "https://www.googleapis.com/oauth2/v1/certs",
		ClientCertURL:  "https://www.googleapis.com/robot/v1/metadata/x509/" + strings.ReplaceAll(email, "@", "%40"),
		UniverseDomain: "googleapis.com",
	}, "", "  ")
	return b
}

// ForeignKeyJSON is a key file for the same account and key id but signed
// by another RSA key, as a stale or tampered file would be: the token
// endpoint refuses its assertions.
func (s *Spreadsheet) ForeignKeyJSON(base string, other *rsa.PrivateKey) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return keyJSON(other, s.keyID, s.email, strings.TrimRight(base, "/")+"/token")
}

// WriteKeyFile writes KeyJSON(base) to dir/sheets-service-account.json,
// readable by its owner only, and returns the path.
func (s *Spreadsheet) WriteKeyFile(dir, base string) (string, error) {
	p := filepath.Join(dir, "sheets-service-account.json")
	return p, os.WriteFile(p, s.KeyJSON(base), 0o600)
}

// RevokeKey deletes the account's key, as in the console: the token
// endpoint refuses it and access tokens issued with it stop working.
func (s *Spreadsheet) RevokeKey() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keyRevoked = true
	s.access = map[string]accessToken{}
}

type accessToken struct {
	expires time.Time
	scopes  []string
}

func (t accessToken) has(scope string) bool { return slices.Contains(t.scopes, scope) }

// oauthError is the token endpoint's error shape.
func oauthError(w http.ResponseWriter, status int, code, descr string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": descr})
}

func (s *Spreadsheet) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "POST the token request")
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "Bad Request")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != jwtBearer {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type: "+gt)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.TokenRequests++
	claims, descr := s.verifyAssertion(r.PostForm.Get("assertion"), "http://"+r.Host+r.URL.Path)
	if descr != "" {
		oauthError(w, http.StatusBadRequest, "invalid_grant", descr)
		return
	}
	tok := "ya29.sandbox-" + randomHex(24)
	s.access[tok] = accessToken{expires: s.now().Add(AccessTokenTTL), scopes: strings.Fields(claims.Scope)}
	s.stats.TokensIssued++
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "expires_in": int(AccessTokenTTL.Seconds()) - 1, "token_type": "Bearer"})
}

type jwtClaims struct {
	Iss   string `json:"iss"`
	Scope string `json:"scope"`
	Aud   string `json:"aud"`
	Iat   int64  `json:"iat"`
	Exp   int64  `json:"exp"`
	Sub   string `json:"sub"`
}

// verifyAssertion checks an RS256 JWT the way Google does for a service
// account: the key id, the signature against the account's public key, the
// issuer, the audience and a lifetime of at most an hour around now. It
// returns Google's error_description on failure. Caller holds mu.
func (s *Spreadsheet) verifyAssertion(assertion, selfURL string) (jwtClaims, string) {
	var c jwtClaims
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return c, "Invalid JWT Signature."
	}
	var hdr struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if raw, err := base64.RawURLEncoding.DecodeString(parts[0]); err != nil || json.Unmarshal(raw, &hdr) != nil {
		return c, "Invalid JWT Signature."
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || json.Unmarshal(raw, &c) != nil {
		return c, "Invalid JWT Signature."
	}
	if c.Iss != s.email {
		return c, "Invalid grant: account not found"
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || hdr.Alg != "RS256" || s.keyRevoked || (hdr.Kid != "" && hdr.Kid != s.keyID) {
		return c, "Invalid JWT Signature."
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(&s.key.PublicKey, crypto.SHA256, sum[:], sig) != nil {
		return c, "Invalid JWT Signature."
	}
	if want := s.tokenURL(selfURL); c.Aud != want {
		return c, "Invalid JWT: Failed audience check. The right audience is " + want
	}
	now := s.now().Unix()
	if c.Exp <= c.Iat || c.Exp-c.Iat > 3600 || now < c.Iat-300 || now >= c.Exp {
		return c, "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim."
	}
	return c, ""
}

// tokenURL is the audience assertions must name: the token_uri of the key
// file the double hands out.
func (s *Spreadsheet) tokenURL(selfURL string) string {
	if s.opts.PublicURL != "" {
		return strings.TrimRight(s.opts.PublicURL, "/") + "/token"
	}
	return selfURL
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
