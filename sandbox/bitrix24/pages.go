package bitrix24

import (
	"html/template"
	"net/http"
	"strconv"
	"strings"
)

// dealPage is what a person sees at a deal's address on the portal
// (/crm/deal/details/ID/), enough for a link from the console to land on
// the deal paysync made.
var dealPage = template.Must(template.New("deal").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Deal #{{.ID}} · Bitrix24 sandbox</title></head>
<body style="font-family:system-ui,sans-serif;margin:2rem;max-width:50rem">
<p style="color:#666">Bitrix24 sandbox portal · CRM · Deals</p>
<h1 id="deal-title">{{.Title}}</h1>
<table>
<tr><th align="left">Deal</th><td id="deal-id">#{{.ID}}</td></tr>
<tr><th align="left">Stage</th><td id="deal-stage">{{.StageID}}</td></tr>
<tr><th align="left">Amount</th><td id="deal-amount">{{.Opportunity}} {{.CurrencyID}}</td></tr>
<tr><th align="left">Source</th><td>{{.OriginatorID}} {{.OriginID}}</td></tr>
</table>
{{if .Comments}}<h2>Comments</h2><p>{{.Comments}}</p>{{end}}
</body></html>`))

// servePage serves GET /crm/deal/details/{id}/.
func (p *Portal) servePage(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(strings.Trim(strings.TrimPrefix(r.URL.Path, "/crm/deal/details/"), "/"))
	d, ok := p.Deal(id)
	if err != nil || !ok || r.Method != http.MethodGet {
		http.Error(w, "Deal not found", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	dealPage.Execute(w, d)
}
