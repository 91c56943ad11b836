// Package sandbox serves every local double on one address, each under its
// own prefix: /vpos (VPOS.am), /arca (ArCa/RBS, REST at /arca/payment/rest)
// and /bitrix24 (a Bitrix24 portal). `paysync sandbox` and `paysync demo`
// run it; tests use the doubles one by one.
package sandbox

import (
	"net/http"
	"strings"

	arcasandbox "github.com/paysync/paysync/sandbox/arca"
	bitrix24sandbox "github.com/paysync/paysync/sandbox/bitrix24"
	vpossandbox "github.com/paysync/paysync/sandbox/vpos"
)

// Options says where the sandbox is reached and where it sends webhooks.
type Options struct {
	// BaseURL is how clients reach this sandbox, e.g. http://127.0.0.1:8090.
	BaseURL string
	// PaysyncURL is the paysync that receives webhooks and callbacks, e.g.
	// http://127.0.0.1:8080; empty drops them.
	PaysyncURL string
}

// Sandbox is the composed doubles.
type Sandbox struct {
	VPOS    *vpossandbox.Server
	ArCa    *arcasandbox.Gateway
	Bitrix  *bitrix24sandbox.Portal
	mux     *http.ServeMux
	baseURL string
}

// New builds the doubles with their default credentials.
func New(o Options) *Sandbox {
	base := strings.TrimSuffix(o.BaseURL, "/")
	s := &Sandbox{baseURL: base, mux: http.NewServeMux()}
	vo := vpossandbox.Options{PublicURL: base + "/vpos"}
	ao := arcasandbox.Options{PublicURL: base + "/arca"}
	if o.PaysyncURL != "" {
		p := strings.TrimSuffix(o.PaysyncURL, "/")
		vo.WebhookURL = p + "/webhooks/vpos"
		ao.CallbackURL = p + "/webhooks/arca"
	}
	s.VPOS = vpossandbox.New(vo)
	s.ArCa = arcasandbox.New(ao)
	s.Bitrix = bitrix24sandbox.New(bitrix24sandbox.Options{PublicURL: base + "/bitrix24"})
	s.mux.Handle("/vpos/", http.StripPrefix("/vpos", s.VPOS))
	s.mux.Handle("/arca/", http.StripPrefix("/arca", s.ArCa))
	s.mux.Handle("/bitrix24/", http.StripPrefix("/bitrix24", s.Bitrix))
	s.mux.HandleFunc("GET /{$}", s.index)
	return s
}

func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Close stops the doubles' background senders.
func (s *Sandbox) Close() {
	s.VPOS.Close()
	s.ArCa.Close()
	s.Bitrix.Close()
}

// Env is the paysync environment that points every provider and connector at this sandbox.
func (s *Sandbox) Env() map[string]string {
	return map[string]string{
		"PAYSYNC_VPOS_BASE_URL":        s.baseURL + "/vpos",
		"PAYSYNC_VPOS_API_TOKEN":       s.VPOS.Token(),
		"PAYSYNC_VPOS_WEBHOOK_SECRET":  s.VPOS.WebhookSecret(),
		"PAYSYNC_ARCA_BASE_URL":        s.baseURL + "/arca/payment/rest",
		"PAYSYNC_ARCA_USERNAME":        arcasandbox.DefaultUsername,
		"PAYSYNC_ARCA_PASSWORD":        arcasandbox.DefaultPassword,
		"PAYSYNC_ARCA_CALLBACK_KEY":    arcasandbox.DefaultCallbackKey,
		"PAYSYNC_BITRIX24_WEBHOOK_URL": s.Bitrix.WebhookURL(s.baseURL + "/bitrix24"),
	}
}

func (s *Sandbox) index(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("paysync sandbox: local doubles of VPOS.am (/vpos), ArCa (/arca/payment/rest) and Bitrix24 (/bitrix24/rest/…).\n" +
		"Point paysync at them with the environment printed by `paysync sandbox`.\n"))
}
