// Package oauthtoken keeps a connector's OAuth token pair when the
// provider rotates refresh tokens (Bitrix24: the old one is spent on every
// refresh; amoCRM: refresh tokens are single-use), or a token that is
// exchanged for a new one by itself (Instagram's long-lived tokens:
// Config.SelfRefreshing). A rotated pair that is lost
// loses the integration, so the pair is stored with a compare-and-swap before
// it is used, and refreshes are serialised within the process and, through a
// lease in the database, across replicas.
//
// Store persists the pair (MemoryStore, or StateStore over core.Store's
// connector state); Source hands out the current access token and refreshes
// it through the connector's own refresh function.
package oauthtoken

import (
	"encoding/json"
	"maps"
	"time"
)

// Token is an OAuth token pair. Extra holds what a provider answers besides
// the pair and must keep (Bitrix24: client_endpoint, domain, member_id).
type Token struct {
	AccessToken  string
	RefreshToken string
	Expiry       time.Time // zero when unknown
	Extra        map[string]string
}

// Get returns an extra value, "" when absent.
func (t Token) Get(key string) string { return t.Extra[key] }

// IsZero reports whether t holds neither an access nor a refresh token.
func (t Token) IsZero() bool { return t.AccessToken == "" && t.RefreshToken == "" }

func (t Token) clone() Token {
	t.Extra = maps.Clone(t.Extra)
	return t
}

// Reserved JSON keys; extras with these names are dropped.
const (
	keyAccess  = "access_token"
	keyRefresh = "refresh_token"
	keyExpiry  = "expiry"
)

// MarshalJSON writes one flat object: access_token, refresh_token, expiry and
// each extra under its own key, the shape Bitrix24 tokens were stored in
// before this package existed.
func (t Token) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(t.Extra)+3)
	for k, v := range t.Extra {
		m[k] = v
	}
	m[keyAccess], m[keyRefresh], m[keyExpiry] = t.AccessToken, t.RefreshToken, t.Expiry
	return json.Marshal(m)
}

// UnmarshalJSON reads the flat object; every other string value is an extra.
func (t *Token) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*t = Token{}
	for k, raw := range m {
		var err error
		switch k {
		case keyAccess:
			err = json.Unmarshal(raw, &t.AccessToken)
		case keyRefresh:
			err = json.Unmarshal(raw, &t.RefreshToken)
		case keyExpiry:
			err = json.Unmarshal(raw, &t.Expiry)
		default:
			var s string
			if json.Unmarshal(raw, &s) != nil {
				continue // not a string: not something this package wrote
			}
			if t.Extra == nil {
				t.Extra = map[string]string{}
			}
			t.Extra[k] = s
		}
		if err != nil {
			return err
		}
	}
	return nil
}
