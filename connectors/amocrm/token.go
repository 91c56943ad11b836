package amocrm

import "github.com/paysync/paysync/core"

// OAuthConfig is an OAuth integration whose refresh tokens are single-use.
type OAuthConfig struct {
	ClientID     string
	ClientSecret string
	RedirectURI  string
	RefreshToken string
}

func (c *Client) newOAuthTokens(OAuthConfig) (Tokens, error) {
	return nil, core.Errorf(core.EINVALID, "amoCRM OAuth integrations are not in this build yet: use a private integration's "+
		"long-lived token (PAYSYNC_AMOCRM_ACCESS_TOKEN, docs/amocrm.md)")
}
