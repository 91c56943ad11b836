package vpos

import (
	"context"
	"fmt"
	"io"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/providers"
)

// checkAccount asks VPOS.am for a payment session that cannot exist: a 404
// proves that the API answers and takes the token; 401 or 403 says which
// setting to fix.
func checkAccount(ctx context.Context, d providers.Deps, w io.Writer) ([]string, error) {
	s := d.Settings.(*Settings)
	if s.APIToken == "" {
		fmt.Fprintln(w, "  webhooks only (no API token): payment links and status lookups are off")
		return nil, nil
	}
	o := s.Options(d.PublicURL)
	o.HTTPClient = d.HTTPClient
	p, err := New(o)
	if err != nil {
		return []string{core.ErrorMessage(err)}, nil
	}
	_, err = p.Lookup(ctx, core.Order{ID: "paysync-check", ProviderRef: "paysync-credentials-check"})
	switch core.ErrorCode(err) {
	case core.ENOTFOUND:
		fmt.Fprintf(w, "  API %s answers and takes the token\n", s.BaseURL)
		if s.WebhookSecret == "" {
			return []string{"VPOS.am: no webhook secret is set, so its webhooks are refused: set PAYSYNC_VPOS_WEBHOOK_SECRET to the secret of the webhook in the VPOS.am dashboard"}, nil
		}
		return nil, nil
	case core.EUNAUTHORIZED:
		return []string{core.ErrorMessage(err)}, nil
	case "":
		// A session by that id: the lookup path does not name sessions.
		return []string{fmt.Sprintf("VPOS.am answered a lookup of a session that cannot exist: check providers.vpos.lookup_path (%s)", s.LookupPath)}, nil
	}
	return nil, err
}
