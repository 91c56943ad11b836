package all

import (
	"github.com/paysync/paysync/sandbox"
	"github.com/paysync/paysync/sandbox/vpos"
)

func init() {
	sandbox.Register(sandbox.Spec{Name: "vpos", Title: "VPOS.am", New: func(o sandbox.DoubleOptions) sandbox.Double {
		vo := vpos.Options{PublicURL: o.PublicURL, Logger: o.Logger}
		if o.PaysyncURL != "" {
			vo.WebhookURL = o.PaysyncURL + "/webhooks/vpos"
		}
		return VPOSDouble{Server: vpos.New(vo), base: o.PublicURL}
	}})
}

// VPOSDouble is the VPOS.am double as `paysync sandbox` serves it.
type VPOSDouble struct {
	*vpos.Server
	base string
}

func (d VPOSDouble) Env() map[string]string {
	return map[string]string{
		"PAYSYNC_VPOS_BASE_URL":       d.base,
		"PAYSYNC_VPOS_API_TOKEN":      d.Token(),
		"PAYSYNC_VPOS_WEBHOOK_SECRET": d.WebhookSecret(),
	}
}
