package sheets

import (
	"html/template"
	"net/http"
	"strings"
)

// sheetPage is what a person sees at the spreadsheet's address
// (/spreadsheets/d/ID/edit), enough for a link from the console to land on
// the rows paysync wrote. Google's #gid=…&range=A7 fragment stays in the
// browser; the page shows every tab.
var sheetPage = template.Must(template.New("sheet").Funcs(template.FuncMap{"inc": func(i int) int { return i + 1 }}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}} · Google Sheets sandbox</title></head>
<body style="font-family:system-ui,sans-serif;margin:2rem">
<p style="color:#666">Google Sheets sandbox · spreadsheet {{.ID}}</p>
<h1>{{.Title}}</h1>
{{range .Tabs}}<h2 id="gid={{.ID}}">{{.Title}} <small style="color:#666">gid {{.ID}}</small></h2>
<table border="1" cellspacing="0" cellpadding="4">
{{range $i, $row := .Rows}}<tr id="gid={{$.ID}}-row-{{inc $i}}"><th style="color:#666">{{inc $i}}</th>{{range $row}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>
{{end}}</body></html>`))

type pageTab struct {
	ID    int
	Title string
	Rows  [][]string
}

// servePage serves GET /spreadsheets/d/{id}/edit.
func (s *Spreadsheet) servePage(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/spreadsheets/d/"), "/edit")
	if r.Method != http.MethodGet || id != s.ID() {
		http.Error(w, "Sorry, the file you have requested does not exist.", http.StatusNotFound)
		return
	}
	data := struct {
		ID, Title string
		Tabs      []pageTab
	}{ID: s.ID()}
	s.mu.Lock()
	data.Title = s.title
	s.mu.Unlock()
	for _, title := range s.Tabs() {
		data.Tabs = append(data.Tabs, pageTab{ID: s.SheetID(title), Title: title, Rows: s.Rows(title)})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = sheetPage.Execute(w, data)
}
