package vpos

import (
	"bytes"
	"context"
	"net/http"

	"github.com/paysync/paysync/sandbox/internal/outbound"
)

// Delivery is one attempt to deliver a webhook.
type Delivery = outbound.Delivery

// webhookRequest builds a webhook POST of body, signed afresh for each
// attempt.
func (s *Server) webhookRequest(id string, body []byte) outbound.RequestFunc {
	return func(ctx context.Context, u string) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header = s.signHeaders(id, s.now().Unix(), body)
		req.Header.Set("Content-Type", "application/json")
		return req, nil
	}
}
