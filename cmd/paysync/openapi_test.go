package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/httpapi"
	"github.com/paysync/paysync/internal/standardwebhooks"
	"github.com/paysync/paysync/internal/testutil"
	"github.com/paysync/paysync/payments"
	"github.com/paysync/paysync/sandbox"
	sandboxall "github.com/paysync/paysync/sandbox/all"
	arcasandbox "github.com/paysync/paysync/sandbox/arca"
	igsandbox "github.com/paysync/paysync/sandbox/instagram"
)

// apiCheck sends requests to a running paysync and checks each answer
// against the operation openapi.json documents for it: a documented
// status, the documented media type and required headers, and a body
// valid under the documented schema (closed objects, so that a renamed or
// added field fails). It remembers which operations it exercised.
type apiCheck struct {
	t         *testing.T
	base      string
	token     string
	doc       map[string]any
	compiler  *jsonschema.Compiler
	schemas   map[string]*jsonschema.Schema
	exercised map[string]bool // "post /v1/orders"
}

const openapiURL = "paysync:openapi.json"

func newAPICheck(t *testing.T, base, token string, raw []byte) *apiCheck {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(openapiURL, doc); err != nil {
		t.Fatal(err)
	}
	var plain map[string]any
	json.Unmarshal(raw, &plain)
	if plain["openapi"] != "3.1.0" {
		t.Fatalf("openapi.json says openapi %v, want 3.1.0", plain["openapi"])
	}
	return &apiCheck{t: t, base: base, token: token, doc: plain, compiler: c, schemas: map[string]*jsonschema.Schema{}, exercised: map[string]bool{}}
}

// schema compiles the schema at a JSON pointer of the document.
func (a *apiCheck) schema(ptr string) *jsonschema.Schema {
	a.t.Helper()
	if s, ok := a.schemas[ptr]; ok {
		return s
	}
	s, err := a.compiler.Compile(openapiURL + "#" + ptr)
	if err != nil {
		a.t.Fatalf("openapi.json %s: %v", ptr, err)
	}
	a.schemas[ptr] = s
	return s
}

func escPtr(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1") }

// operation is the documented operation of a path template and method.
func (a *apiCheck) operation(tmpl, method string) map[string]any {
	paths, _ := a.doc["paths"].(map[string]any)
	item, _ := paths[tmpl].(map[string]any)
	op, _ := item[strings.ToLower(method)].(map[string]any)
	return op
}

// req is one request: the path template, its values, and what to send.
type req struct {
	method, tmpl string
	vars         map[string]string
	query        url.Values
	body         any // []byte as is, else JSON
	header       http.Header
	noAuth       bool
	want         int // the status the scenario expects
}

// answer is what came back.
type answer struct {
	status int
	header http.Header
	body   []byte
	json   map[string]any
}

// do sends r, checks the answer against the document and returns it.
func (a *apiCheck) do(r req) answer {
	a.t.Helper()
	path := r.tmpl
	for k, v := range r.vars {
		path = strings.ReplaceAll(path, "{"+k+"}", url.PathEscape(v))
	}
	u := a.base + path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var rd io.Reader
	switch b := r.body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	hr, _ := http.NewRequest(r.method, u, rd)
	for k, vs := range r.header {
		hr.Header[k] = vs
	}
	if !r.noAuth && hr.Header.Get("Authorization") == "" {
		hr.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		a.t.Fatalf("%s %s: %v", r.method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	ans := answer{status: resp.StatusCode, header: resp.Header, body: body}
	json.Unmarshal(body, &ans.json)
	what := fmt.Sprintf("%s %s", r.method, path)
	if r.want != 0 && resp.StatusCode != r.want {
		a.t.Fatalf("%s answered %d, the scenario expects %d: %s", what, resp.StatusCode, r.want, body)
	}
	op := a.operation(r.tmpl, r.method)
	if op == nil {
		a.t.Fatalf("%s: openapi.json documents no %s %s", what, strings.ToLower(r.method), r.tmpl)
	}
	a.exercised[strings.ToLower(r.method)+" "+r.tmpl] = true
	code := strconv.Itoa(resp.StatusCode)
	ptr := "/paths/" + escPtr(r.tmpl) + "/" + strings.ToLower(r.method) + "/responses/" + code
	resps, _ := op["responses"].(map[string]any)
	rsp, ok := resps[code].(map[string]any)
	if !ok {
		a.t.Fatalf("%s answered %d, which openapi.json does not document for it: %s", what, resp.StatusCode, body)
	}
	if ref, ok := rsp["$ref"].(string); ok {
		ptr = strings.TrimPrefix(ref, "#")
		rsp = a.lookup(ptr)
	}
	a.checkResponse(what, ptr, rsp, ans)
	return ans
}

// lookup follows a JSON pointer into the document.
func (a *apiCheck) lookup(ptr string) map[string]any {
	var cur any = a.doc
	for _, p := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		p = strings.ReplaceAll(strings.ReplaceAll(p, "~1", "/"), "~0", "~")
		m, _ := cur.(map[string]any)
		cur = m[p]
	}
	m, _ := cur.(map[string]any)
	if m == nil {
		a.t.Fatalf("openapi.json has nothing at %s", ptr)
	}
	return m
}

// checkResponse checks an answer against a documented response object at ptr.
func (a *apiCheck) checkResponse(what, ptr string, rsp map[string]any, ans answer) {
	a.t.Helper()
	if hs, ok := rsp["headers"].(map[string]any); ok {
		for name, h := range hs {
			if req, _ := h.(map[string]any)["required"].(bool); req && ans.header.Get(name) == "" {
				a.t.Errorf("%s: the %s header openapi.json requires is missing", what, name)
			}
		}
	}
	content, _ := rsp["content"].(map[string]any)
	if len(content) == 0 {
		return
	}
	ct := ans.header.Get("Content-Type")
	mt := strings.TrimSpace(strings.Split(ct, ";")[0])
	if _, ok := content[mt]; !ok {
		a.t.Fatalf("%s answered %d with Content-Type %q; openapi.json documents %v", what, ans.status, ct, keys(content))
	}
	if mt != "application/json" {
		return
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(ans.body))
	if err != nil {
		a.t.Fatalf("%s: the answer is not JSON: %v\n%s", what, err, ans.body)
	}
	if err := a.schema(ptr + "/content/application~1json/schema").Validate(v); err != nil {
		a.t.Errorf("%s answered %d with a body openapi.json does not describe:\n%s\n%v", what, ans.status, ans.body, err)
	}
}

// checkComponent checks an answer against components/responses/name.
func (a *apiCheck) checkComponent(what, name string, ans answer) {
	a.t.Helper()
	ptr := "/components/responses/" + name
	a.checkResponse(what, ptr, a.lookup(ptr), ans)
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// raw sends a request the document does not describe (an unknown path, a
// method a path does not take) and returns the answer unchecked.
func (a *apiCheck) raw(method, path string) answer {
	a.t.Helper()
	hr, _ := http.NewRequest(method, a.base+path, nil)
	hr.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: body}
}

// startWithSandbox runs serve with every provider and CRM pointed at a
// sandbox, the generic webhook secret set, on SQLite.
func startWithSandbox(t *testing.T) (base string, sb *sandbox.Sandbox, a *app) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base = "http://" + ln.Addr().String()
	sbLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sb, sbSrv := serveSandbox(sbLn, sandbox.Options{PaysyncURL: base, Dir: t.TempDir(), Logger: testutil.Logger(t)})
	t.Cleanup(func() { sbSrv.Close(); sb.Close() })
	for k, v := range sb.Env() {
		t.Setenv(k, v)
	}
	t.Setenv("PAYSYNC_DATA_DIR", t.TempDir())
	t.Setenv("PAYSYNC_MAPPING_DIR", "../../mapping")
	t.Setenv("PAYSYNC_ADMIN_TOKEN", "openapi-token")
	t.Setenv("PAYSYNC_GENERIC_WEBHOOK_SECRET", e2eSecret)
	t.Setenv("PAYSYNC_PUBLIC_URL", base)
	t.Setenv("PAYSYNC_DATABASE_URL", "")
	ctx, cancel := context.WithCancel(context.Background())
	var errb bytes.Buffer
	a, err = openApp(ctx, &cmdEnv{stdout: io.Discard, stderr: &errb})
	if err != nil {
		t.Fatal(err, errb.String())
	}
	d, err := startDaemon(ctx, a, ln)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); d.shutdown(); a.Close() })
	return base, sb, a
}

// TestOpenAPI checks GET /openapi.json against the real daemon: every
// operation it documents is called, with data, and every answer (successes
// and errors, 404 and 405 included) must have a documented status, media
// type, required headers and a body its schema accepts; every route the
// daemon serves must be documented, with the methods its 405 answers allow.
func TestOpenAPI(t *testing.T) {
	base, sb, pa := startWithSandbox(t)
	resp, err := http.Get(base + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(served, httpapi.OpenAPI) {
		t.Fatalf("GET /openapi.json without a token: %d, %d bytes (embedded: %d)", resp.StatusCode, len(served), len(httpapi.OpenAPI))
	}
	a := newAPICheck(t, base, "openapi-token", served)
	a.do(req{method: "GET", tmpl: "/openapi.json", noAuth: true, want: 200})
	a.do(req{method: "GET", tmpl: "/healthz", noAuth: true, want: 200})
	a.do(req{method: "GET", tmpl: "/readyz", noAuth: true, want: 200})
	a.do(req{method: "GET", tmpl: "/metrics", noAuth: true, want: 200})
	a.do(req{method: "GET", tmpl: "/ui/", noAuth: true, want: 200})

	// Orders, as a chatbot creates them.
	order := func(id, provider string, amount int64, extra map[string]any) map[string]any {
		o := map[string]any{"order_id": id, "amount_minor": amount, "currency": "AMD", "provider": provider,
			"customer": map[string]any{"handle": "anna.knits", "id": "1784", "name": "Anna Petrosyan", "phone": "+37491000101", "email": "anna@example.am"},
			"items":    []map[string]any{{"sku": "SCARF", "name": "Silk scarf", "quantity": 1, "price_minor": amount}},
			"delivery": map[string]any{"method": "courier", "address": "Abovyan St 12, Yerevan"}}
		for k, v := range extra {
			o[k] = v
		}
		return o
	}
	created := a.do(req{method: "POST", tmpl: "/v1/orders", body: order("API-1", "vpos", 1500000, map[string]any{"expires_in": "24h"}), want: 201})
	if created.json["payment_url"] == nil || created.json["expires_at"] == nil {
		t.Fatalf("a created order lacks payment_url or expires_at: %s", created.body)
	}
	a.do(req{method: "POST", tmpl: "/v1/orders", body: order("API-1", "vpos", 1500000, map[string]any{"expires_in": "24h"}), want: 200})
	a.do(req{method: "POST", tmpl: "/v1/orders", body: order("API-1", "vpos", 1600000, nil), want: 409})
	a.do(req{method: "POST", tmpl: "/v1/orders", body: order("API-2", "arca", 990000, nil), want: 201})
	a.do(req{method: "POST", tmpl: "/v1/orders", body: map[string]any{"order_id": "API-3", "amount_minor": 500000, "currency": "amd"}, want: 201})
	a.do(req{method: "POST", tmpl: "/v1/orders", body: order("API-4", "", 700000, map[string]any{"expires_in": "forever"}), want: 400})
	a.do(req{method: "POST", tmpl: "/v1/orders", body: order("API-4", "", 700000, map[string]any{"colour": "red"}), want: 400})
	a.do(req{method: "POST", tmpl: "/v1/orders", body: order("API-4", "", 700000, nil), noAuth: true, want: 401})
	a.do(req{method: "POST", tmpl: "/v1/orders", body: bytes.Repeat([]byte(" "), httpapi.MaxBodyBytes+1), want: 413})
	sb.Doubles["vpos"].(sandboxall.VPOSDouble).FailNext(20, http.StatusServiceUnavailable)
	a.do(req{method: "POST", tmpl: "/v1/orders", body: order("API-5", "vpos", 800000, nil), want: 503})
	sb.Doubles["vpos"].(sandboxall.VPOSDouble).FailNext(0, 0)

	// Webhooks: a short generic payment puts API-3 in review; a forged one is refused.
	generic := func(id string, body []byte, secret string) http.Header {
		ts := time.Now().Unix()
		sig, _ := standardwebhooks.Sign(secret, id, ts, body)
		return http.Header{"Webhook-Id": {id}, "Webhook-Timestamp": {strconv.FormatInt(ts, 10)}, "Webhook-Signature": {sig}}
	}
	short := []byte(`{"event_id":"evt_short","order_id":"API-3","status":"paid","amount_minor":400000,"currency":"AMD","provider_ref":"tr_1","occurred_at":"` + time.Now().UTC().Format(time.RFC3339) + `"}`)
	a.do(req{method: "POST", tmpl: "/webhooks/generic", body: short, header: generic("evt_short", short, e2eSecret), noAuth: true, want: 200})
	a.do(req{method: "POST", tmpl: "/webhooks/generic", body: short, header: generic("evt_short", short, "whsec_"+strings.Repeat("A", 32)), noAuth: true, want: 401})
	a.do(req{method: "POST", tmpl: "/webhooks/generic", body: []byte(`{"event_id":`), header: generic("evt_bad", []byte(`{"event_id":`), e2eSecret), noAuth: true, want: 400})
	big := bytes.Repeat([]byte("x"), payments.MaxWebhookBytes+1)
	a.do(req{method: "POST", tmpl: "/webhooks/generic", body: big, header: generic("evt_big", big, e2eSecret), noAuth: true, want: 413})

	sess, ok := sb.Doubles["vpos"].(sandboxall.VPOSDouble).Session("API-1")
	if !ok {
		t.Fatal("the sandbox VPOS.am has no session for API-1")
	}
	vposBody, _ := json.Marshal(map[string]any{"id": "evt_vpos_1", "type": "payment.succeeded", "createdAt": time.Now().UTC(), "data": sess})
	a.do(req{method: "POST", tmpl: "/webhooks/vpos", body: vposBody, header: generic("evt_vpos_1", vposBody, sb.Doubles["vpos"].(sandboxall.VPOSDouble).WebhookSecret()), noAuth: true, want: 200})
	a.do(req{method: "POST", tmpl: "/webhooks/vpos", body: vposBody, header: generic("evt_vpos_2", vposBody, "whsec_"+strings.Repeat("B", 32)), noAuth: true, want: 401})

	ao, ok := sb.Doubles["arca"].(sandboxall.ArCaDouble).Order("API-2")
	if !ok {
		t.Fatal("the sandbox ArCa has no order API-2")
	}
	cb := url.Values{"mdOrder": {ao.MdOrder}, "orderNumber": {"API-2"}, "operation": {"deposited"}, "status": {"1"}}
	cb.Set("checksum", arcasandbox.Checksum(cb, arcasandbox.DefaultCallbackKey))
	a.do(req{method: "GET", tmpl: "/webhooks/arca", query: cb, noAuth: true, want: 200})
	a.do(req{method: "POST", tmpl: "/webhooks/arca", body: []byte(cb.Encode()), header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, noAuth: true, want: 200})
	forged := url.Values{"mdOrder": {ao.MdOrder}, "orderNumber": {"API-2"}, "operation": {"deposited"}, "status": {"1"}, "checksum": {strings.Repeat("0", 64)}}
	a.do(req{method: "GET", tmpl: "/webhooks/arca", query: forged, noAuth: true, want: 401})
	// Idram: paysync's own payment page, and Idram's form-encoded calls,
	// always answered 200 (OK, or REFUSED so that Idram blocks the payment).
	idramOrder := a.do(req{method: "POST", tmpl: "/v1/orders", body: order("API-6", "idram", 190000, nil), want: 201})
	if idramOrder.json["payment_url"] != base+"/pay/API-6" {
		t.Fatalf("an Idram order's payment_url: %s", idramOrder.body)
	}
	a.do(req{method: "POST", tmpl: "/v1/orders", body: map[string]any{"order_id": "API-7", "amount_minor": 1000, "currency": "USD", "provider": "idram"}, want: 400})
	a.do(req{method: "GET", tmpl: "/pay/{order_id}", vars: map[string]string{"order_id": "API-6"}, header: http.Header{"Accept-Language": {"hy-AM"}}, noAuth: true, want: 200})
	a.do(req{method: "GET", tmpl: "/pay/{order_id}", vars: map[string]string{"order_id": "NOPE"}, noAuth: true, want: 404})
	account := sb.Env()["PAYSYNC_IDRAM_ACCOUNT"]
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	precheck := url.Values{"EDP_PRECHECK": {"YES"}, "EDP_BILL_NO": {"API-6"}, "EDP_REC_ACCOUNT": {account}, "EDP_AMOUNT": {"1900.00"}}
	if ans := a.do(req{method: "POST", tmpl: "/webhooks/idram", body: []byte(precheck.Encode()), header: form, noAuth: true, want: 200}); string(ans.body) != "OK" {
		t.Fatalf("Idram precheck of API-6 answered %q", ans.body)
	}
	precheck.Set("EDP_AMOUNT", "1800.00")
	if ans := a.do(req{method: "POST", tmpl: "/webhooks/idram", body: []byte(precheck.Encode()), header: form, noAuth: true, want: 200}); !strings.HasPrefix(string(ans.body), "REFUSED: ") {
		t.Fatalf("Idram precheck at another amount answered %q", ans.body)
	}
	// Instagram: Meta's handshake, a customer's signed message, a forgery.
	ig := sb.Doubles["instagram"].(sandboxall.InstagramDouble)
	verify := sb.Env()["PAYSYNC_INSTAGRAM_VERIFY_TOKEN"]
	if ans := a.do(req{method: "GET", tmpl: "/webhooks/instagram", query: url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {verify}, "hub.challenge": {"4242"}}, noAuth: true, want: 200}); string(ans.body) != "4242" {
		t.Fatalf("the handshake answered %q", ans.body)
	}
	a.do(req{method: "GET", tmpl: "/webhooks/instagram", query: url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {"guess"}, "hub.challenge": {"4242"}}, noAuth: true, want: 403})
	igBody := []byte(`{"object":"instagram","entry":[{"id":"` + ig.AccountID() + `","time":1767225600000,"messaging":[{"sender":{"id":"5551"},"recipient":{"id":"` +
		ig.AccountID() + `"},"timestamp":1767225600000,"message":{"mid":"mid.openapi.1","text":"Barev!"}}]}]}`)
	a.do(req{method: "POST", tmpl: "/webhooks/instagram", body: igBody, header: http.Header{"X-Hub-Signature-256": {igsandbox.Sign(ig.AppSecret(), igBody)}}, noAuth: true, want: 200})
	a.do(req{method: "POST", tmpl: "/webhooks/instagram", body: igBody, header: http.Header{"X-Hub-Signature-256": {igsandbox.Sign("forged", igBody)}}, noAuth: true, want: 401})
	a.do(req{method: "POST", tmpl: "/webhooks/instagram", body: []byte(`{"object":`), header: http.Header{"X-Hub-Signature-256": {igsandbox.Sign(ig.AppSecret(), []byte(`{"object":`))}}, noAuth: true, want: 400})
	if ans := a.do(req{method: "GET", tmpl: "/v1/conversations", query: url.Values{"limit": {"10"}}, want: 200}); !strings.Contains(string(ans.body), `"igsid": "5551"`) {
		t.Fatalf("GET /v1/conversations: %s", ans.body)
	}
	a.do(req{method: "GET", tmpl: "/v1/conversations", noAuth: true, want: 401})
	a.do(req{method: "GET", tmpl: "/webhooks/{provider}/return", vars: map[string]string{"provider": "vpos"}, query: url.Values{"order_id": {"API-1"}}, noAuth: true, want: 200})
	a.do(req{method: "GET", tmpl: "/webhooks/{provider}/return", vars: map[string]string{"provider": "paypal"}, query: url.Values{"order_id": {"API-1"}}, noAuth: true, want: 404})

	// Reading orders.
	a.do(req{method: "GET", tmpl: "/v1/orders", query: url.Values{"q": {"anna"}}, want: 200})
	a.do(req{method: "GET", tmpl: "/v1/orders", query: url.Values{"status": {"manual_review"}, "limit": {"5"}}, want: 200})
	a.do(req{method: "GET", tmpl: "/v1/orders", query: url.Values{"status": {"lost"}}, want: 400})
	a.do(req{method: "GET", tmpl: "/v1/orders", noAuth: true, want: 401})
	testutil.Eventually(t, "API-1 delivered to every CRM", func() bool {
		ans := a.do(req{method: "GET", tmpl: "/v1/orders/{order_id}", vars: map[string]string{"order_id": "API-1"}, want: 200})
		ds, _ := ans.json["deliveries"].([]any)
		if len(ds) != len(pa.cfg.EnabledConnectors()) {
			return false
		}
		for _, d := range ds {
			if d.(map[string]any)["state"] != "delivered" {
				return false
			}
		}
		return true
	})
	a.do(req{method: "GET", tmpl: "/v1/orders/{order_id}", vars: map[string]string{"order_id": "API-3"}, want: 200})
	a.do(req{method: "GET", tmpl: "/v1/orders/{order_id}", vars: map[string]string{"order_id": "NOPE"}, want: 404})

	// Review.
	review := map[string]string{"order_id": "API-3"}
	a.do(req{method: "POST", tmpl: "/v1/orders/{order_id}/review", vars: review, body: map[string]any{"decision": "refunded", "note": "x"}, want: 400})
	a.do(req{method: "POST", tmpl: "/v1/orders/{order_id}/review", vars: review, body: map[string]any{"decision": "paid", "note": "the rest came in cash"}, want: 200})
	a.do(req{method: "POST", tmpl: "/v1/orders/{order_id}/review", vars: review, body: map[string]any{"decision": "paid", "note": "again"}, want: 409})
	a.do(req{method: "POST", tmpl: "/v1/orders/{order_id}/review", vars: map[string]string{"order_id": "NOPE"}, body: map[string]any{"decision": "paid", "note": "x"}, want: 404})

	// People's tokens: a manager's orders:create token creates orders and
	// reads nothing else; settling a review needs admin (403 otherwise).
	if _, _, err := pa.people.AddAccount(context.Background(), "Mane", core.RoleManager, true); err != nil {
		t.Fatal(err)
	}
	bot, _, err := pa.people.AddToken(context.Background(), "Mane", []core.Scope{core.ScopeOrdersCreate})
	if err != nil {
		t.Fatal(err)
	}
	reader, _, err := pa.people.AddToken(context.Background(), "Mane", []core.Scope{core.ScopeOrdersRead})
	if err != nil {
		t.Fatal(err)
	}
	asBot := http.Header{"Authorization": {"Bearer " + bot}}
	asReader := http.Header{"Authorization": {"Bearer " + reader}}
	a.do(req{method: "POST", tmpl: "/v1/orders", body: order("API-8", "idram", 300000, nil), header: asBot, want: 201})
	a.do(req{method: "GET", tmpl: "/v1/orders/{order_id}", vars: map[string]string{"order_id": "API-8"}, header: asBot, want: 403})
	a.do(req{method: "POST", tmpl: "/v1/orders/{order_id}/review", vars: review, body: map[string]any{"decision": "failed", "note": "x"}, header: asBot, want: 403})
	a.do(req{method: "POST", tmpl: "/v1/orders/{order_id}/review", vars: review, body: map[string]any{"decision": "failed", "note": "x"}, header: asReader, want: 403})
	a.do(req{method: "GET", tmpl: "/v1/conversations", header: asReader, want: 200})
	png := a.do(req{method: "GET", tmpl: "/v1/orders/{order_id}/qr.png", vars: map[string]string{"order_id": "API-8"}, header: asReader, want: 200})
	if !bytes.HasPrefix(png.body, []byte("\x89PNG")) {
		t.Fatalf("qr.png is not a PNG: %q", png.body[:min(len(png.body), 16)])
	}
	a.do(req{method: "GET", tmpl: "/v1/orders/{order_id}/qr.png", vars: map[string]string{"order_id": "API-3"}, header: asReader, want: 404})
	a.do(req{method: "GET", tmpl: "/v1/orders/{order_id}/qr.png", vars: map[string]string{"order_id": "API-8"}, header: asBot, want: 403})
	a.do(req{method: "GET", tmpl: "/v1/orders/{order_id}/qr.png", vars: map[string]string{"order_id": "API-8"}, noAuth: true, want: 401})

	// The outbox: a delivery Bitrix24 refuses for good (a currency the
	// portal lacks) goes dead, and is requeued.
	a.do(req{method: "POST", tmpl: "/v1/orders", body: map[string]any{"order_id": "API-GBP", "amount_minor": 1000, "currency": "GBP"}, want: 201})
	var deadID float64
	testutil.Eventually(t, "API-GBP's delivery to Bitrix24 dead", func() bool {
		ans := a.do(req{method: "GET", tmpl: "/v1/outbox", query: url.Values{"state": {"dead"}}, want: 200})
		recs, _ := ans.json["records"].([]any)
		for _, r := range recs {
			if r := r.(map[string]any); r["order_id"] == "API-GBP" {
				deadID = r["id"].(float64)
				return true
			}
		}
		return false
	})
	a.do(req{method: "GET", tmpl: "/v1/outbox/stats", want: 200})
	a.do(req{method: "POST", tmpl: "/v1/outbox/{id}/retry", vars: map[string]string{"id": strconv.Itoa(int(deadID))}, want: 202})
	a.do(req{method: "POST", tmpl: "/v1/outbox/{id}/retry", vars: map[string]string{"id": "seven"}, want: 400})
	a.do(req{method: "POST", tmpl: "/v1/outbox/{id}/retry", vars: map[string]string{"id": "999999"}, want: 404})
	a.do(req{method: "POST", tmpl: "/v1/outbox/retry-dead", query: url.Values{"connector": {"bitrix24"}}, want: 202})
	a.do(req{method: "POST", tmpl: "/v1/orders/{order_id}/resync", vars: map[string]string{"order_id": "API-1"}, want: 202})
	a.do(req{method: "POST", tmpl: "/v1/orders/{order_id}/resync", vars: map[string]string{"order_id": "API-1"}, query: url.Values{"connector": {"salesforce"}}, want: 400})
	a.do(req{method: "POST", tmpl: "/v1/orders/{order_id}/resync", vars: map[string]string{"order_id": "NOPE"}, want: 404})
	a.do(req{method: "GET", tmpl: "/v1/refusals", want: 200})
	if ans := a.do(req{method: "GET", tmpl: "/v1/refusals", want: 200}); len(ans.json["refusals"].([]any)) == 0 {
		t.Error("the forged webhooks left no refusal")
	}

	// Every documented operation was called.
	var missing []string
	for path, item := range a.doc["paths"].(map[string]any) {
		for method := range item.(map[string]any) {
			if !a.exercised[method+" "+path] {
				missing = append(missing, method+" "+path)
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("documented but not exercised: %v", missing)
	}

	// Unknown paths and methods answer the documented JSON errors.
	for _, p := range []string{"/v1/nope", "/v1/orders/API-1/cancel", "/webhooks/vpos/extra/path", "/"} {
		ans := a.raw("GET", p)
		if ans.status != 404 {
			t.Errorf("GET %s answered %d, want 404: %s", p, ans.status, ans.body)
		}
		a.checkComponent("GET "+p, "NotFound", ans)
	}
	// Each documented path takes exactly its documented methods: the 405
	// of another method says which, in Allow.
	for tmpl, item := range a.doc["paths"].(map[string]any) {
		if tmpl == "/ui/" {
			continue // the console's own pages answer browsers
		}
		var want []string
		for m := range item.(map[string]any) {
			want = append(want, strings.ToUpper(m))
		}
		path := strings.NewReplacer("{order_id}", "API-1", "{id}", "1", "{provider}", "vpos").Replace(tmpl)
		ans := a.raw("PATCH", path)
		if tmpl == "/webhooks/idram" {
			// Idram reads any non-2xx as "the payment stands": every answer
			// to its webhook is 200, a refusal says why, and Allow says POST.
			if ans.status != 200 || string(ans.body) == "OK" || ans.header.Get("Allow") != "POST" {
				t.Errorf("PATCH %s answered %d %q, Allow %q; want 200 REFUSED, Allow POST", path, ans.status, ans.body, ans.header.Get("Allow"))
			}
			continue
		}
		if ans.status != 405 {
			t.Errorf("PATCH %s answered %d, want 405: %s", path, ans.status, ans.body)
			continue
		}
		a.checkComponent("PATCH "+path, "MethodNotAllowed", ans)
		// HEAD comes with GET where http.ServeMux routes; it is not an operation.
		got := slices.DeleteFunc(strings.Split(ans.header.Get("Allow"), ", "), func(m string) bool { return m == "HEAD" })
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s takes %v; openapi.json documents %v", tmpl, got, want)
		}
	}

	// Every route the daemon serves is documented.
	api := &httpapi.Server{Registry: prometheus.NewRegistry(), Webhooks: http.NotFoundHandler(), Console: http.NotFoundHandler()}
	provs, ps := buildProviders(context.Background(), pa.cfg, pa.store, nil, nil)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	svc, err := payments.New(payments.Options{Ledger: pa.ledger, Store: pa.store, Providers: provs})
	if err != nil {
		t.Fatal(err)
	}
	routes := api.Routes()
	routes = append(routes, svc.Webhooks().(*httpapi.Router).Patterns()...)
	for pattern := range svc.Pages() {
		routes = append(routes, pattern) // the providers' own pages (Idram's /pay/{order_id})
	}
	p, ps := build(context.Background(), pa.cfg, pa.store, nil, nil)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	for _, c := range p.connectors {
		if rc, ok := c.(connectors.Receiver); ok {
			for pattern := range rc.Routes(connectors.Inbound{}) {
				routes = append(routes, pattern) // Instagram's /webhooks/instagram
			}
		}
	}
	if !slices.Contains(routes, "/webhooks/instagram") {
		t.Errorf("the daemon serves no Instagram webhook: %v", routes)
	}
	if !slices.Contains(routes, "GET /pay/{order_id}") {
		t.Errorf("the daemon serves no Idram payment page: %v", routes)
	}
	paths := a.doc["paths"].(map[string]any)
	for _, r := range routes {
		method, path, ok := strings.Cut(r, " ")
		if !ok {
			method, path = "", r
		}
		switch path {
		case "/webhooks/":
			continue // mounted: the patterns of payments follow
		case "/webhooks/{provider}":
			for _, p := range []string{"vpos", "arca", "generic", "idram"} {
				if paths["/webhooks/"+p] == nil {
					t.Errorf("route %s: /webhooks/%s is not documented", r, p)
				}
			}
			continue
		}
		item, _ := paths[path].(map[string]any)
		if item == nil || method != "" && item[strings.ToLower(method)] == nil {
			t.Errorf("route %q is not documented in openapi.json", r)
		}
	}
	if len(routes) < 15 {
		t.Errorf("only %d routes found: %v", len(routes), routes)
	}
}
