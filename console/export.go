package console

import (
	"bytes"
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/present"
	"github.com/paysync/paysync/statement"
)

// Movements reads the journal of the orders whose money moved in a period
// (storage.DB has it), for the accountant's export.
type Movements interface {
	MoneyJournal(ctx context.Context, from, to time.Time) ([]core.OrderJournal, error)
}

func init() { present.Register(exportEN, exportRU, exportHY) }

var exportEN = map[string]string{
	"nav.export": "Export", "export.title": "Export for the accountant",
	"export.intro": "Every payment, refund and payment settled by a person in the period, one line each, with totals per provider and day. Days and times are the shop's (%s).",
	"export.from":  "From", "export.to": "To (included)", "export.format": "Format",
	"export.download": "Download", "export.cli": "The same from the command line: paysync export --from %s --to %s --format xlsx --out file.xlsx",
}

var exportRU = map[string]string{
	"nav.export": "Выгрузка", "export.title": "Выгрузка для бухгалтера",
	"export.intro": "Все оплаты, возвраты и оплаты, подтверждённые вручную, за период, по строке на каждую, с итогами по платёжной системе и дню. Дни и время — магазина (%s).",
	"export.from":  "С", "export.to": "По (включительно)", "export.format": "Формат",
	"export.download": "Скачать", "export.cli": "То же из командной строки: paysync export --from %s --to %s --format xlsx --out file.xlsx",
}

var exportHY = map[string]string{
	"nav.export": "Արտահանում", "export.title": "Արտահանում հաշվապահի համար",
	"export.intro": "Ժամանակահատվածի բոլոր վճարումները, վերադարձները և ձեռքով հաստատված վճարումները՝ յուրաքանչյուրը մեկ տողով, վճարային համակարգի և օրվա հանրագումարներով։ Օրերը և ժամերը խանութինն են (%s)։",
	"export.from":  "Սկսած", "export.to": "Մինչև (ներառյալ)", "export.format": "Ձևաչափ",
	"export.download": "Ներբեռնել", "export.cli": "Նույնը հրամանի տողից՝ paysync export --from %s --to %s --format xlsx --out file.xlsx",
}

type exportData struct {
	From, To, Format, Zone, Error string
	Formats                       []string
}

// exportPage is the form: two days in the shop's zone and a format; it
// defaults to the month so far.
func (c *Console) exportPage(w http.ResponseWriter, r *http.Request, s *session) {
	p := c.printer(r)
	today := c.opt.Now().In(c.opt.Zone)
	d := exportData{From: today.AddDate(0, 0, 1-today.Day()).Format(time.DateOnly), To: today.Format(time.DateOnly),
		Format: "xlsx", Zone: c.opt.Zone.String(), Formats: statement.Formats}
	c.render(w, http.StatusOK, "export", c.view(r, s, "export", p.T("export.title"), d))
}

// exportDownload answers the form with the file (GET, so that the browser
// downloads it; it changes nothing).
func (c *Console) exportDownload(w http.ResponseWriter, r *http.Request, s *session) {
	if c.opt.Movements == nil {
		c.fail(w, r, http.StatusNotFound, "error.not_found")
		return
	}
	q := r.URL.Query()
	d := exportData{From: q.Get("from"), To: q.Get("to"), Format: q.Get("format"), Zone: c.opt.Zone.String(), Formats: statement.Formats}
	period, err := statement.ParsePeriod(d.From, d.To, c.opt.Zone)
	if err == nil && !slices.Contains(statement.Formats, d.Format) {
		err = core.Errorf(core.EINVALID, "format %q: choose csv or xlsx", d.Format)
	}
	if err != nil {
		d.Error = c.scrub.Replace(core.ErrorMessage(err))
		c.render(w, http.StatusBadRequest, "export", c.view(r, s, "export", c.printer(r).T("export.title"), d))
		return
	}
	orders, err := c.opt.Movements.MoneyJournal(r.Context(), period.Start, period.End)
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	st := statement.Build(period, orders)
	var buf bytes.Buffer
	contentType := "text/csv; charset=utf-8"
	if d.Format == "xlsx" {
		contentType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
		err = st.WriteXLSX(&buf)
	} else {
		err = st.WriteCSV(&buf)
	}
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	c.log.Info("accountant's export downloaded", "from", d.From, "to", d.To, "format", d.Format, "movements", len(st.Lines), "user", s.Name)
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Disposition", `attachment; filename="`+st.FileName(d.Format)+`"`)
	h.Set("Cache-Control", "no-store")
	w.Write(buf.Bytes())
}
