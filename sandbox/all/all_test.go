package all_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paysync/paysync/sandbox"
	_ "github.com/paysync/paysync/sandbox/all"
	idramdouble "github.com/paysync/paysync/sandbox/idram"
	sheetsdouble "github.com/paysync/paysync/sandbox/sheets"
)

// double builds the registered double of name, served at base.
func double(t *testing.T, name string, o sandbox.DoubleOptions) sandbox.Double {
	t.Helper()
	for _, spec := range sandbox.All() {
		if spec.Name == name {
			d := spec.New(o)
			t.Cleanup(d.Close)
			return d
		}
	}
	t.Fatalf("no double %q is registered", name)
	return nil
}

// TestEveryDoubleIsRegistered: the sandbox has a double for every provider
// and CRM of this release, each a Checkout or a CRM.
func TestEveryDoubleIsRegistered(t *testing.T) {
	t.Parallel()
	sb := sandbox.New(sandbox.Options{BaseURL: "http://127.0.0.1:8090", Dir: t.TempDir()})
	defer sb.Close()
	for _, name := range []string{"vpos", "arca", "idram", "ameria"} {
		if _, ok := sb.Checkout(name); !ok {
			t.Errorf("no %s checkout", name)
		}
	}
	for _, name := range []string{"bitrix24", "amocrm", "sheets"} {
		if _, ok := sb.CRMs[name]; !ok {
			t.Errorf("no %s CRM double", name)
		}
	}
}

// TestIdramDouble: paysync's form is pointed at the double, whose
// merchant is the one the env names, and the double calls paysync back.
func TestIdramDouble(t *testing.T) {
	t.Parallel()
	var calls []string
	paysync := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		calls = append(calls, r.URL.Path+" "+r.PostForm.Get("EDP_PRECHECK")+" "+r.PostForm.Get("EDP_REC_ACCOUNT"))
		io.WriteString(w, "OK")
	}))
	defer paysync.Close()
	var d sandbox.Double
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { d.ServeHTTP(w, r) }))
	defer srv.Close()
	d = double(t, "idram", sandbox.DoubleOptions{PublicURL: srv.URL, PaysyncURL: paysync.URL})
	env := d.Env()
	if env["PAYSYNC_IDRAM_PAYMENT_URL"] != srv.URL+"/Payment/GetPayment" || env["PAYSYNC_IDRAM_ACCOUNT"] != idramdouble.DefaultAccount ||
		env["PAYSYNC_IDRAM_SECRET_KEY"] != idramdouble.DefaultSecretKey {
		t.Fatalf("env %v", env)
	}
	form := url.Values{"EDP_LANGUAGE": {"EN"}, "EDP_REC_ACCOUNT": {env["PAYSYNC_IDRAM_ACCOUNT"]}, "EDP_DESCRIPTION": {"Order IG-1"},
		"EDP_AMOUNT": {"1900.00"}, "EDP_BILL_NO": {"IG-1"}}
	resp, err := http.PostForm(env["PAYSYNC_IDRAM_PAYMENT_URL"], form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := d.(sandbox.Checkout).Pay("IG-1"); err != nil {
		t.Fatal(err)
	}
	if want := "/webhooks/idram YES " + idramdouble.DefaultAccount + ",/webhooks/idram  " + idramdouble.DefaultAccount; strings.Join(calls, ",") != want {
		t.Fatalf("calls to paysync %q, want %q", calls, want)
	}
	if err := d.(sandbox.Checkout).Refund("IG-1", 0); err == nil {
		t.Fatal("Idram refunded through an API it does not have")
	}
}

func TestAmoCRMDouble(t *testing.T) {
	t.Parallel()
	// The double answers on the address and token its Env gives.
	d := double(t, "amocrm", sandbox.DoubleOptions{PublicURL: "http://sandbox.invalid/amocrm"})
	env := d.Env()
	if env["PAYSYNC_AMOCRM_BASE_URL"] != "http://sandbox.invalid/amocrm" || env["PAYSYNC_AMOCRM_ACCESS_TOKEN"] == "" {
		t.Fatalf("env %v", env)
	}
	req, _ := http.NewRequest("GET", "/api/v4/account", nil)
	req.Header.Set("Authorization", "Bearer "+env["PAYSYNC_AMOCRM_ACCESS_TOKEN"])
	rec := httptest.NewRecorder()
	d.ServeHTTP(rec, req)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"currency":"AMD"`) {
		t.Fatalf("double: %d %s", rec.Code, rec.Body.String())
	}
}

func TestSheetsDouble(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dbl := double(t, "sheets", sandbox.DoubleOptions{PublicURL: "http://127.0.0.1:8090/sheets", Dir: dir}).(sandbox.CRM)
	env := dbl.Env()
	key, err := os.ReadFile(env["PAYSYNC_SHEETS_CREDENTIALS_FILE"])
	if err != nil || filepath.Dir(env["PAYSYNC_SHEETS_CREDENTIALS_FILE"]) != dir {
		t.Fatalf("key file %q: %v", env["PAYSYNC_SHEETS_CREDENTIALS_FILE"], err)
	}
	if !strings.Contains(string(key), `"token_uri": "http://127.0.0.1:8090/sheets/token"`) || env["PAYSYNC_SHEETS_ENDPOINT"] != "http://127.0.0.1:8090/sheets/" ||
		env["PAYSYNC_SHEETS_SPREADSHEET_ID"] != sheetsdouble.DefaultSpreadsheetID {
		t.Fatalf("env %v, key %s", env, key)
	}
	if fi, _ := os.Stat(env["PAYSYNC_SHEETS_CREDENTIALS_FILE"]); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", fi.Mode())
	}
	if dbl.Describe("IG-1") != "" {
		t.Fatal("an empty double describes an order")
	}
	dbl.(interface {
		Rebuild(string, [][]string)
	}).Rebuild("Orders", [][]string{{"Order ID", "Status"}, {"IG-1", "Paid"}})
	if got := dbl.Describe("IG-1"); got != "row 2: Paid" {
		t.Fatalf("Describe = %q", got)
	}
}

// TestAmeriaDouble: the environment points paysync at the double (the
// base ends in / as the bank's /VPOS/ does), and the double takes those
// credentials and numbers from that range.
func TestAmeriaDouble(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	d := double(t, "ameria", sandbox.DoubleOptions{PublicURL: base + "/ameria"})
	srv.Config.Handler = http.StripPrefix("/ameria", d)
	srv.Start()
	defer srv.Close()
	env := d.Env()
	if env["PAYSYNC_AMERIA_BASE_URL"] != base+"/ameria/" || env["PAYSYNC_AMERIA_ORDER_IDS"] != "2350301-2359999" ||
		env["PAYSYNC_AMERIA_CLIENT_ID"] == "" || env["PAYSYNC_AMERIA_USERNAME"] == "" || env["PAYSYNC_AMERIA_PASSWORD"] == "" {
		t.Fatalf("env %v", env)
	}
	body := `{"ClientID":"` + env["PAYSYNC_AMERIA_CLIENT_ID"] + `","Amount":15000.00,"OrderID":2359999,"BackURL":"http://127.0.0.1:1/r",` +
		`"Username":"` + env["PAYSYNC_AMERIA_USERNAME"] + `","Password":"` + env["PAYSYNC_AMERIA_PASSWORD"] + `","Description":"Order D-1","Currency":"051","Opaque":"D-1","Timeout":1200}`
	resp, err := http.Post(env["PAYSYNC_AMERIA_BASE_URL"]+"api/VPOS/InitPayment", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a struct {
		PaymentID    string
		ResponseCode int
	}
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil || a.ResponseCode != 1 || a.PaymentID == "" {
		t.Fatalf("InitPayment through the sandbox env: %+v %v", a, err)
	}
	if _, ok := d.(sandbox.Checkout); !ok {
		t.Fatal("the Ameriabank double is not a Checkout")
	}
}
