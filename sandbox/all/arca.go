package all

import (
	"github.com/paysync/paysync/sandbox"
	"github.com/paysync/paysync/sandbox/arca"
)

func init() {
	sandbox.Register(sandbox.Spec{Name: "arca", Title: "ArCa", New: func(o sandbox.DoubleOptions) sandbox.Double {
		ao := arca.Options{PublicURL: o.PublicURL, Logger: o.Logger}
		if o.PaysyncURL != "" {
			ao.CallbackURL = o.PaysyncURL + "/webhooks/arca"
		}
		return ArCaDouble{Gateway: arca.New(ao), base: o.PublicURL}
	}})
}

// ArCaDouble is the ArCa gateway double as `paysync sandbox` serves it.
type ArCaDouble struct {
	*arca.Gateway
	base string
}

func (d ArCaDouble) Env() map[string]string {
	return map[string]string{
		"PAYSYNC_ARCA_BASE_URL":     d.base + arca.RESTPath,
		"PAYSYNC_ARCA_USERNAME":     arca.DefaultUsername,
		"PAYSYNC_ARCA_PASSWORD":     arca.DefaultPassword,
		"PAYSYNC_ARCA_CALLBACK_KEY": arca.DefaultCallbackKey,
	}
}
