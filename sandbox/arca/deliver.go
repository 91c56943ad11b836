package arca

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/paysync/paysync/sandbox/internal/outbound"
)

// Delivery is one attempt to deliver a callback.
type Delivery = outbound.Delivery

// callbackRequest builds a callback: parameters in the query for GET, in a
// form body for POST, as RBS gateways do.
func callbackRequest(method string, params url.Values) outbound.RequestFunc {
	return func(ctx context.Context, u string) (*http.Request, error) {
		if method == http.MethodPost {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(params.Encode()))
			if err != nil {
				return nil, err
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return req, nil
		}
		pu, err := url.Parse(u)
		if err != nil {
			return nil, err
		}
		q := pu.Query()
		for k, vs := range params {
			q[k] = vs
		}
		pu.RawQuery = q.Encode()
		return http.NewRequestWithContext(ctx, http.MethodGet, pu.String(), nil)
	}
}
