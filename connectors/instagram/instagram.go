// Package instagram connects paysync to Instagram Direct, the thread the
// customer is waiting in. Inbound, it serves Meta's webhooks
// (GET|POST /webhooks/instagram): the verification handshake, and the
// customers' messages, verified by X-Hub-Signature-256 over the bytes
// received, which keep each conversation's 24-hour messaging window. Outbound,
// it is a connector like the CRMs: for each order change it sends the
// customer the message mapping/instagram.yaml gives the order's status, in
// the customer's language, at most once, and nothing outside the window
// (a skip the order's journal explains, never a retry). The Send API has no
// idempotency key, so a send is recorded before it goes out, and a send
// whose answer was lost is looked for in the thread (the shop's own echoes,
// then the Conversations API) before it is sent again.
//
// It speaks the "Instagram API with Instagram Login" (graph.instagram.com,
// an Instagram User token, refreshed before its 60 days end) and the older
// "Messenger API for Instagram" (graph.facebook.com with a Page token and
// the Page's id as the account): the paths it uses are the same on both.
package instagram

import "time"

// Name is the connector's name in config, mapping files, the outbox and links.
const Name = "instagram"

// Defaults of the connectors.instagram section.
const (
	DefaultBaseURL    = "https://graph.instagram.com/"
	DefaultAPIVersion = "v23.0"
	DefaultLanguage   = "hy"
	// DefaultRate is how many sends paysync starts a second: Meta allows
	// 300 text sends a second per account; paysync keeps well below.
	DefaultRate = 50
	// DefaultUncertainWait is how long, after a send whose answer was lost,
	// paysync keeps looking for it in the thread before it concludes the
	// message did not go and sends it again: an echo usually arrives
	// within seconds.
	DefaultUncertainWait = 30 * time.Second
	// DefaultRetention is how long conversations and message ids are kept.
	DefaultRetention = 90 * 24 * time.Hour
	// RefreshBefore: the long-lived token (60 days) is refreshed once less
	// than this is left of it, or its expiry is not known yet.
	RefreshBefore = 30 * 24 * time.Hour
	// MaxText is the Send API's limit on a message's text, in bytes.
	MaxText = 1000
)
