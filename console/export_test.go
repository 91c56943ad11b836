package console_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/paysync/paysync/console"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/statement"
	"github.com/paysync/paysync/storage/testdb"
)

// download fetches a file as the browser would, without following redirects.
func (b *browser) download(path string) (*http.Response, []byte) {
	b.t.Helper()
	req, _ := http.NewRequest("GET", b.r.srv.URL+path, nil)
	req.Header.Set("Accept", "text/html")
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func TestExportPageAndFile(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		t.Parallel()
		r := newRig(t, dialect, func(o *console.Options) { o.Movements = o.Store.(console.Movements) })
		r.order(core.Order{ID: "IG-EX1", AmountMinor: 1250050, Currency: "AMD", Customer: core.Customer{Name: "Ani Export"}})
		r.pay("IG-EX1", 1250050, "ev-ex1")
		today := time.Now().In(mustYerevan()).Format(time.DateOnly)

		anon := r.browser()
		if resp, body := anon.download("/ui/export/download?from=" + today + "&to=" + today + "&format=csv"); resp.StatusCode != http.StatusSeeOther || bytes.Contains(body, []byte("IG-EX1")) {
			t.Fatalf("without a session: %d %q, want a redirect to the login and no file", resp.StatusCode, body)
		}
		// The money of the shop is the owner's: a manager gets no file and no menu entry.
		mgr := r.browser()
		mgr.loginAs("Mane", core.RoleManager)
		if resp, body := mgr.download("/ui/export/download?from=" + today + "&to=" + today + "&format=csv"); resp.StatusCode != http.StatusForbidden || bytes.Contains(body, []byte("IG-EX1")) {
			t.Fatalf("a manager: %d %q, want 403 and no file", resp.StatusCode, body)
		}
		if _, page := mgr.get("/ui/orders"); strings.Contains(page, `id="nav-export"`) {
			t.Fatal("a manager's menu offers the export")
		}

		b := r.browser()
		b.login("Owner")
		code, page := b.get("/ui/export")
		if code != 200 || !strings.Contains(page, `action="/ui/export/download"`) || !strings.Contains(page, `id="nav-export"`) || !strings.Contains(page, "Asia/Yerevan") {
			t.Fatalf("export page: %d\n%s", code, page)
		}
		resp, body := b.download("/ui/export/download?from=" + today + "&to=" + today + "&format=csv")
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") ||
			resp.Header.Get("Content-Disposition") != `attachment; filename="paysync-`+today+`-`+today+`.csv"` {
			t.Fatalf("csv download: %d %v\n%s", resp.StatusCode, resp.Header, body)
		}
		if !bytes.Contains(body, []byte(",payment,IG-EX1,Ani Export,vpos,,12500.50,AMD\r\n")) {
			t.Fatalf("the CSV lacks the payment:\n%s", body)
		}
		resp, body = b.download("/ui/export/download?from=" + today + "&to=" + today + "&format=xlsx")
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Disposition"), ".xlsx") {
			t.Fatalf("xlsx download: %d %v", resp.StatusCode, resp.Header)
		}
		f, err := excelize.OpenReader(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("the workbook does not open: %v", err)
		}
		defer f.Close()
		if v, _ := f.GetCellValue(statement.SheetName, "H2"); v != "12500.50" {
			t.Fatalf("H2 = %q, want 12500.50", v)
		}
		code, page = b.get("/ui/export/download?from=" + today + "&to=2001-01-01&format=csv")
		if code != http.StatusBadRequest || !strings.Contains(page, `id="form-error"`) || !strings.Contains(page, "before") {
			t.Fatalf("a period that ends before it starts: %d\n%s", code, page)
		}
	})
}

func mustYerevan() *time.Location {
	z, err := time.LoadLocation("Asia/Yerevan")
	if err != nil {
		panic(err)
	}
	return z
}
