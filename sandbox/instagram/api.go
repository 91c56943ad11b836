package instagram

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/paysync/paysync/sandbox/chaos"
)

// The Graph API as the double serves it (after the sandbox's /instagram
// prefix):
//
//	POST /{version}/{account-id}/messages            the Send API
//	GET  /{version}/{account-id}/conversations       ?platform=instagram[&user_id=IGSID]
//	GET  /{version}/{conversation-id}?fields=messages
//	GET  /{version}/{message-id}?fields=id,created_time,from,to,message
//	GET  /{version}/{IGSID}?fields=name,username     the profile API
//	GET  /{version}/me?fields=user_id,username,name
//	GET  /refresh_access_token?grant_type=ig_refresh_token&access_token=…
//	POST /_sandbox/customers/{igsid}/messages        {"text","username","name"}: a customer writes
//	GET  /_sandbox/threads/{igsid}                   the thread, as JSON
//
// The token goes in Authorization: Bearer, or in access_token.

var versionPath = regexp.MustCompile(`^/v[0-9]+\.[0-9]+/(.+)$`)

func (a *Account) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch {
	case strings.HasPrefix(path, "/_sandbox/"):
		a.control(w, r)
		return
	case path == "/refresh_access_token" && r.Method == http.MethodGet:
		a.refresh(w, r)
		return
	}
	m := versionPath.FindStringSubmatch(path)
	if m == nil {
		graphError(w, http.StatusBadRequest, 2500, 0, "Unknown path components: "+path)
		return
	}
	parts := strings.Split(m[1], "/")
	if !a.authorized(r) {
		graphError(w, http.StatusBadRequest, 190, 0, "Invalid OAuth access token - Cannot parse access token")
		return
	}
	if a.fault(w, r) {
		return
	}
	switch {
	case len(parts) == 2 && parts[0] == a.o.AccountID && parts[1] == "messages" && r.Method == http.MethodPost:
		a.send(w, r)
	case len(parts) == 2 && parts[0] == a.o.AccountID && parts[1] == "conversations" && r.Method == http.MethodGet:
		a.conversations(w, r)
	case len(parts) == 1 && r.Method == http.MethodGet:
		a.node(w, r, parts[0])
	default:
		graphError(w, http.StatusBadRequest, 100, 33, "Unsupported "+r.Method+" request. Object with ID '"+parts[0]+"' does not exist, cannot be loaded due to missing permissions, or does not support this operation.")
	}
}

func (a *Account) authorized(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		tok = r.URL.Query().Get("access_token")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return tok != "" && tok == a.token
}

// fault answers an injected failure or the chaos profile's draw; true when
// it answered.
func (a *Account) fault(w http.ResponseWriter, r *http.Request) bool {
	a.mu.Lock()
	if len(a.failNext) > 0 {
		status := a.failNext[0]
		a.failNext = a.failNext[1:]
		a.mu.Unlock()
		unexpected(w, status)
		return true
	}
	a.mu.Unlock()
	switch a.dice.Draw(a.o.Now()) {
	case chaos.ServerError:
		unexpected(w, http.StatusInternalServerError)
		return true
	case chaos.Timeout:
		chaos.Hang(r, a.closed)
		return true
	case chaos.RateLimited:
		a.mu.Lock()
		a.stats.RateLimited++
		a.mu.Unlock()
		rateLimited(w)
		return true
	}
	return false
}

// unexpected is Meta's answer to its own trouble: code 2, transient.
func unexpected(w http.ResponseWriter, status int) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": "An unexpected error has occurred. Please retry your request later.",
		"type": "OAuthException", "is_transient": true, "code": 2, "fbtrace_id": "AsandboxTrace"}})
}

func rateLimited(w http.ResponseWriter) {
	writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{"message": "Calls to this api have exceeded the rate limit.",
		"type": "OAuthException", "code": 613, "error_subcode": 2534054, "fbtrace_id": "AsandboxTrace"}})
}

func graphError(w http.ResponseWriter, status, code, subcode int, msg string) {
	e := map[string]any{"message": msg, "type": "OAuthException", "code": code, "fbtrace_id": "AsandboxTrace"}
	if subcode != 0 {
		e["error_subcode"] = subcode
	}
	if code == 190 {
		e["type"] = "OAuthException"
	}
	writeJSON(w, status, map[string]any{"error": e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// send is the Send API: the rules are checked in Meta's order, then the
// message is stored, its echo posted, and its id answered (or the answer
// lost, on request).
func (a *Account) send(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Recipient struct {
			ID string `json:"id"`
		} `json:"recipient"`
		Message struct {
			Text string `json:"text"`
		} `json:"message"`
		MessagingType string `json:"messaging_type"`
		Tag           string `json:"tag"`
	}
	data, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err := json.Unmarshal(data, &body); err != nil {
		graphError(w, http.StatusBadRequest, 100, 0, "(#100) The parameter recipient is required")
		return
	}
	now := a.o.Now()
	a.mu.Lock()
	a.stats.Sends++
	if !a.takeRate(now) {
		a.stats.RateLimited++
		a.mu.Unlock()
		rateLimited(w)
		return
	}
	igsid, text := body.Recipient.ID, body.Message.Text
	c := a.customers[igsid]
	last, wrote := a.lastFrom[igsid]
	refuse := func(status, code, subcode int, msg string) {
		a.stats.Refused++
		a.mu.Unlock()
		graphError(w, status, code, subcode, msg)
	}
	switch {
	case igsid == "":
		refuse(http.StatusBadRequest, 100, 0, "(#100) The parameter recipient is required")
		return
	case text == "":
		refuse(http.StatusBadRequest, 100, 0, "(#100) Param message must be non-empty")
		return
	case !utf8.ValidString(text):
		refuse(http.StatusBadRequest, 100, 0, "(#100) Param message[text] must be valid UTF-8")
		return
	case len(text) > 1000:
		refuse(http.StatusBadRequest, 100, 0, "(#100) Length of param message[text] must be less than or equal to 1000")
		return
	case c == nil:
		refuse(http.StatusBadRequest, 100, 2534014, "No matching user found")
		return
	case c.Blocked:
		refuse(http.StatusBadRequest, 551, 1545041, "This person isn't available right now.")
		return
	}
	tagged := body.MessagingType == "MESSAGE_TAG" && body.Tag == "HUMAN_AGENT"
	limit := Window
	if tagged {
		if !a.o.HumanAgent {
			refuse(http.StatusBadRequest, 10, 2534067, "(#10) Application does not have the capability to make this API call: the Human Agent feature is not approved")
			return
		}
		limit = HumanAgentWindow
	}
	if !wrote || now.Sub(last) > limit {
		refuse(http.StatusBadRequest, 10, 2534022, "(#10) This message is sent outside of allowed window.")
		return
	}
	m := Message{ID: a.nextID("aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlE"), From: a.o.AccountID, To: igsid, Text: text, At: now, FromShop: true}
	if tagged {
		m.Tag = "HUMAN_AGENT"
	}
	a.threads[igsid] = append(a.threads[igsid], m)
	a.stats.Sent++
	lose, mode := a.loseNext > 0, a.loseMode
	if lose {
		a.loseNext--
		a.stats.LostAnswers++
	}
	onSend := a.onSend
	a.mu.Unlock()
	if onSend != nil {
		onSend(m)
	}
	a.post(m, true) // Meta echoes every message the account sends
	if lose {
		chaos.Lose(w, r, mode, a.closed, func(w http.ResponseWriter) { unexpected(w, http.StatusInternalServerError) })
		return
	}
	if l := a.dice.DrawLoss(); l != chaos.Kept {
		chaos.Lose(w, r, l, a.closed, func(w http.ResponseWriter) { unexpected(w, http.StatusInternalServerError) })
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"recipient_id": igsid, "message_id": m.ID})
}

// takeRate spends one send of the current second's budget. Caller holds mu.
func (a *Account) takeRate(now time.Time) bool {
	if a.exhausted {
		return false
	}
	if sec := now.Unix(); sec != a.rateSec {
		a.rateSec, a.rateCount = sec, 0
	}
	if a.rateCount >= a.o.Rate {
		return false
	}
	a.rateCount++
	return true
}

func graphTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05-0700") }

// conversations lists the account's conversations, or the one with user_id.
func (a *Account) conversations(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("platform") != "instagram" {
		graphError(w, http.StatusBadRequest, 100, 0, "(#100) The parameter platform is required")
		return
	}
	user := r.URL.Query().Get("user_id")
	a.mu.Lock()
	a.stats.Reads++
	if a.noReading {
		a.mu.Unlock()
		graphError(w, http.StatusForbidden, 10, 0, "(#10) Application does not have permission for this action")
		return
	}
	type conv struct {
		ID          string `json:"id"`
		UpdatedTime string `json:"updated_time"`
	}
	out := []conv{}
	for igsid, t := range a.threads {
		if (user == "" || user == igsid) && len(t) > 0 {
			out = append(out, conv{ID: "conv_" + igsid, UpdatedTime: graphTime(t[len(t)-1].At)})
		}
	}
	a.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].UpdatedTime > out[j].UpdatedTime })
	if n, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && n > 0 && n < len(out) {
		out = out[:n]
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out})
}

// node reads one object: a conversation's messages (the latest 20), a
// message, a customer's profile, or the account itself.
func (a *Account) node(w http.ResponseWriter, r *http.Request, id string) {
	fields := r.URL.Query().Get("fields")
	a.mu.Lock()
	a.stats.Reads++
	if id == "me" {
		a.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]string{"id": a.o.AccountID, "user_id": a.o.AccountID, "username": a.o.Username, "name": "Yerevan Boutique (sandbox)"})
		return
	}
	if igsid, ok := strings.CutPrefix(id, "conv_"); ok && a.threads[igsid] != nil {
		t := a.threads[igsid]
		type ref struct {
			ID          string `json:"id"`
			CreatedTime string `json:"created_time"`
		}
		refs := []ref{}
		for i := len(t) - 1; i >= 0 && len(refs) < 20; i-- { // newest first; Meta gives details of the latest 20 only
			refs = append(refs, ref{ID: t[i].ID, CreatedTime: graphTime(t[i].At)})
		}
		a.mu.Unlock()
		if !strings.Contains(fields, "messages") {
			writeJSON(w, http.StatusOK, map[string]string{"id": id})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": id, "messages": map[string]any{"data": refs}})
		return
	}
	for _, t := range a.threads {
		for _, m := range t {
			if m.ID != id {
				continue
			}
			from := map[string]string{"id": m.From, "username": a.usernameOf(m.From)}
			to := map[string]any{"data": []map[string]string{{"id": m.To, "username": a.usernameOf(m.To)}}}
			a.mu.Unlock()
			writeJSON(w, http.StatusOK, map[string]any{"id": m.ID, "created_time": graphTime(m.At), "from": from, "to": to, "message": m.Text})
			return
		}
	}
	c := a.customers[id]
	_, wrote := a.lastFrom[id]
	a.mu.Unlock()
	switch {
	case c == nil:
		graphError(w, http.StatusBadRequest, 100, 33, "Unsupported get request. Object with ID '"+id+"' does not exist, cannot be loaded due to missing permissions, or does not support this operation.")
	case c.Blocked || !wrote:
		graphError(w, http.StatusBadRequest, 230, 2534066, "User consent is required to access user profile")
	default:
		writeJSON(w, http.StatusOK, map[string]string{"id": c.IGSID, "username": c.Username, "name": c.Name})
	}
}

// usernameOf names an id in a message. Caller holds mu.
func (a *Account) usernameOf(id string) string {
	if id == a.o.AccountID {
		return a.o.Username
	}
	if c := a.customers[id]; c != nil {
		return c.Username
	}
	return ""
}

// refresh is GET /refresh_access_token: a token at least 24 hours old and
// not expired is exchanged for a new one of 60 days.
func (a *Account) refresh(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	now := a.o.Now()
	a.mu.Lock()
	switch {
	case q.Get("grant_type") != "ig_refresh_token":
		a.mu.Unlock()
		graphError(w, http.StatusBadRequest, 100, 0, "grant_type must be ig_refresh_token")
		return
	case q.Get("access_token") != a.token || now.After(a.issued.Add(TokenLifetime)):
		a.mu.Unlock()
		graphError(w, http.StatusBadRequest, 190, 0, "Error validating access token: Session has expired")
		return
	case now.Sub(a.issued) < 24*time.Hour:
		a.mu.Unlock()
		graphError(w, http.StatusBadRequest, 100, 0, "The access token is not old enough to be refreshed: try again once it is 24 hours old")
		return
	}
	a.oldTokens[a.token] = true
	a.token = "IGAAsandbox-long-lived-" + a.nextID("")
	a.issued = now
	a.stats.Refreshes++
	tok := a.token
	a.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "bearer", "expires_in": int64(TokenLifetime / time.Second)})
}

// control is the sandbox's own routes: a customer writes, a thread is read.
func (a *Account) control(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/_sandbox/")
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 3 && parts[0] == "customers" && parts[2] == "messages" && r.Method == http.MethodPost:
		var in struct {
			Text     string `json:"text"`
			Username string `json:"username"`
			Name     string `json:"name"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&in); err != nil || in.Text == "" {
			http.Error(w, `the body is {"text":"…","username":"…","name":"…"}`, http.StatusBadRequest)
			return
		}
		mid := a.CustomerWrites(Customer{IGSID: parts[1], Username: in.Username, Name: in.Name}, in.Text, time.Time{})
		writeJSON(w, http.StatusOK, map[string]string{"mid": mid})
	case len(parts) == 2 && parts[0] == "threads" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{"igsid": parts[1], "messages": a.Thread(parts[1])})
	default:
		http.Error(w, "the sandbox Instagram serves POST /_sandbox/customers/{igsid}/messages and GET /_sandbox/threads/{igsid}", http.StatusNotFound)
	}
}
