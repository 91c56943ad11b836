package arca

import (
	"context"
	"fmt"
	"io"
	"net/url"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/providers"
)

// checkAccount asks getOrderStatusExtended.do about an order number that
// was never registered: "no such order" (errorCode 6) proves that the
// gateway answers and takes the API user; errorCode 5 says it does not.
func checkAccount(ctx context.Context, d providers.Deps, w io.Writer) ([]string, error) {
	s := d.Settings.(*Settings)
	o := s.Options(d.PublicURL)
	o.HTTPClient = d.HTTPClient
	p, err := New(o)
	if err != nil {
		return []string{core.ErrorMessage(err)}, nil
	}
	_, err = p.status(ctx, url.Values{"orderNumber": {"paysync-credentials-check"}}, "paysync-credentials-check")
	switch core.ErrorCode(err) {
	case core.ENOTFOUND:
		fmt.Fprintf(w, "  gateway %s answers and takes the API user %s\n", s.BaseURL, s.Username)
		switch {
		case s.CallbackKey == "" && s.CallbackPublicKey == "":
			fmt.Fprintln(w, "  no callback key or certificate: callbacks are taken unsigned, as a prompt to look the order up (ask the bank to enable checksums)")
		case s.CallbackPublicKey != "":
			fmt.Fprintln(w, "  RSA-signed callbacks are checked with the gateway's certificate in callback_public_key")
		}
		return nil, nil
	case core.EUNAUTHORIZED:
		return []string{core.ErrorMessage(err)}, nil
	}
	return nil, err
}
