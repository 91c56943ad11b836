package all

import (
	"github.com/paysync/paysync/sandbox"
	"github.com/paysync/paysync/sandbox/idram"
)

func init() {
	sandbox.Register(sandbox.Spec{Name: "idram", Title: "Idram", New: func(o sandbox.DoubleOptions) sandbox.Double {
		opts := idram.Options{PublicURL: o.PublicURL, Logger: o.Logger}
		if o.PaysyncURL != "" {
			opts.ResultURL = o.PaysyncURL + "/webhooks/idram"
			opts.PaysyncURL = o.PaysyncURL
		}
		return IdramDouble{Double: idram.New(opts)}
	}})
}

// IdramDouble is the Idram double as `paysync sandbox` serves it.
type IdramDouble struct {
	*idram.Double
}

// Env points paysync's checkout form at the double, with its merchant's
// account and key.
func (d IdramDouble) Env() map[string]string {
	return map[string]string{
		"PAYSYNC_IDRAM_ACCOUNT":     d.Account(),
		"PAYSYNC_IDRAM_SECRET_KEY":  d.SecretKey(),
		"PAYSYNC_IDRAM_PAYMENT_URL": d.PaymentURL(),
	}
}

var _ sandbox.Checkout = IdramDouble{}
