package all

import (
	"github.com/paysync/paysync/sandbox"
	"github.com/paysync/paysync/sandbox/ameria"
)

// AmeriaOrderFrom and AmeriaOrderTo are the sandbox merchant's OrderID
// range: wider than a real test range (a hundred numbers), so that
// demos and benchmarks on one database do not use it up.
const (
	AmeriaOrderFrom = ameria.DefaultOrderFrom
	AmeriaOrderTo   = 2359999
)

func init() {
	sandbox.Register(sandbox.Spec{Name: "ameria", Title: "Ameriabank vPOS", New: func(o sandbox.DoubleOptions) sandbox.Double {
		return AmeriaDouble{Bank: ameria.New(ameria.Options{PublicURL: o.PublicURL, Logger: o.Logger,
			OrderFrom: AmeriaOrderFrom, OrderTo: AmeriaOrderTo}), base: o.PublicURL}
	}})
}

// AmeriaDouble is the Ameriabank vPOS double as `paysync sandbox` serves
// it. The bank calls nobody: Pay and Fail send the buyer's browser back to
// paysync's return page, and a Refund is found by paysync's next lookup
// (the reconcile job).
type AmeriaDouble struct {
	*ameria.Bank
	base string
}

var _ sandbox.Checkout = AmeriaDouble{}

func (d AmeriaDouble) Env() map[string]string {
	return map[string]string{
		"PAYSYNC_AMERIA_BASE_URL":  d.base + "/", // the bank's base ends in /VPOS/
		"PAYSYNC_AMERIA_CLIENT_ID": d.ClientID(),
		"PAYSYNC_AMERIA_USERNAME":  d.Username(),
		"PAYSYNC_AMERIA_PASSWORD":  d.Password(),
		"PAYSYNC_AMERIA_ORDER_IDS": d.OrderRange(),
	}
}
