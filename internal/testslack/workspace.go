// Package testslack is a Slack workspace for tests: slack-go's slacktest
// server, with the Web API methods alertmedic uses that slacktest lacks
// (chat.update, usergroups.users.list) added through its Binder hook, and
// chat.postMessage and chat.postEphemeral recorded so tests can read what
// users would see. It can fail calls as Slack does (429 with Retry-After,
// 5xx), and signs interaction requests exactly as Slack signs them.
package testslack

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slacktest"
)

// Token is the bot token the workspace accepts.
const Token = "xoxb-test-alertmedic"

// Message is a message as it stands in a channel.
type Message struct {
	Channel, TS, Text string
	Blocks            json.RawMessage
	Updates           int // chat.update calls on it
}

// Write is one successful chat.postMessage or chat.update, as sent.
type Write struct {
	Method, Channel, TS, Text string
	Blocks                    json.RawMessage
}

// Ephemeral is a message only one user saw.
type Ephemeral struct{ Channel, User, Text string }

// Failure is an answer given instead of the real one.
type Failure struct {
	Status     int // HTTP status: 429, 500, 503...
	RetryAfter int // seconds, with 429
	Error      string
}

// Workspace is a running fake Slack workspace.
type Workspace struct {
	*slacktest.Server

	mu         sync.Mutex
	seq        int
	messages   map[string]*Message // channel/ts -> message
	order      []string
	writes     []Write
	ephemerals []Ephemeral
	groups     map[string][]string
	calls      map[string]int
	failures   map[string][]Failure
	socketURL  string
}

// Start runs a workspace until the test ends.
func Start(t testing.TB) *Workspace {
	w := &Workspace{messages: map[string]*Message{}, groups: map[string][]string{}, calls: map[string]int{}, failures: map[string][]Failure{}}
	bind := func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", w.handler("chat.postMessage", w.postMessage))
		c.Handle("/chat.update", w.handler("chat.update", w.update))
		c.Handle("/chat.postEphemeral", w.handler("chat.postEphemeral", w.postEphemeral))
		c.Handle("/usergroups.users.list", w.handler("usergroups.users.list", w.groupMembers))
		c.Handle("/apps.connections.open", w.handler("apps.connections.open", w.connectionsOpen))
	}
	w.Server = slacktest.NewTestServer(bind)
	w.Start()
	t.Cleanup(w.Stop)
	return w
}

// Client is a Web API client of this workspace with the bot token.
func (w *Workspace) Client(opts ...slack.Option) *slack.Client {
	return slack.New(Token, append([]slack.Option{slack.OptionAPIURL(w.GetAPIURL())}, opts...)...)
}

// SetGroup sets a user group's members.
func (w *Workspace) SetGroup(id string, members ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.groups[id] = members
}

// Fail makes the next calls of method answer with the failures, in order.
func (w *Workspace) Fail(method string, f ...Failure) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.failures[method] = append(w.failures[method], f...)
}

// SetSocketURL is what apps.connections.open answers (Socket Mode).
func (w *Workspace) SetSocketURL(u string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.socketURL = u
}

// Calls is how many times method was called, failures included.
func (w *Workspace) Calls(method string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.calls[method]
}

// Messages are the messages posted, oldest first, as they stand now.
func (w *Workspace) Messages() []Message {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]Message, 0, len(w.order))
	for _, k := range w.order {
		out = append(out, *w.messages[k])
	}
	return out
}

// Writes are the messages posted and updated, in the order Slack took them.
func (w *Workspace) Writes() []Write {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Write(nil), w.writes...)
}

// Ephemerals are the messages shown to single users, oldest first.
func (w *Workspace) Ephemerals() []Ephemeral {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Ephemeral(nil), w.ephemerals...)
}

type apiFunc func(form url.Values) (any, string)

// handler checks the token, counts the call, fails it if asked to, and
// otherwise answers with f's result (or f's Slack error).
func (w *Workspace) handler(method string, f apiFunc) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		w.mu.Lock()
		w.calls[method]++
		var fail *Failure
		if q := w.failures[method]; len(q) > 0 {
			fail, w.failures[method] = &q[0], q[1:]
		}
		w.mu.Unlock()
		if fail != nil {
			if fail.RetryAfter > 0 {
				rw.Header().Set("Retry-After", strconv.Itoa(fail.RetryAfter))
			}
			if fail.Status != 0 {
				http.Error(rw, http.StatusText(fail.Status), fail.Status)
				return
			}
			writeJSON(rw, map[string]any{"ok": false, "error": fail.Error})
			return
		}
		token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if token == "" {
			token = r.Form.Get("token")
		}
		if token != Token && method != "apps.connections.open" {
			writeJSON(rw, map[string]any{"ok": false, "error": "invalid_auth"})
			return
		}
		res, slackErr := f(r.Form)
		if slackErr != "" {
			writeJSON(rw, map[string]any{"ok": false, "error": slackErr})
			return
		}
		writeJSON(rw, res)
	}
}

// readable re-encodes JSON without escaping <, > and &, so that tests can
// look for Slack's mentions (<@U…>) as written.
func readable(s string) json.RawMessage {
	var v any
	if json.Unmarshal([]byte(s), &v) != nil {
		return json.RawMessage(s)
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return json.RawMessage(strings.TrimSpace(b.String()))
}

func writeJSON(rw http.ResponseWriter, v any) {
	rw.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(rw).Encode(v)
}

func (w *Workspace) postMessage(f url.Values) (any, string) {
	ch := f.Get("channel")
	if ch == "" {
		return nil, "channel_not_found"
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seq++
	ts := fmt.Sprintf("%d.%06d", time.Now().Unix(), w.seq)
	w.messages[ch+"/"+ts] = &Message{Channel: ch, TS: ts, Text: f.Get("text"), Blocks: readable(f.Get("blocks"))}
	w.order = append(w.order, ch+"/"+ts)
	m := w.messages[ch+"/"+ts]
	w.writes = append(w.writes, Write{Method: "chat.postMessage", Channel: ch, TS: ts, Text: m.Text, Blocks: m.Blocks})
	return map[string]any{"ok": true, "channel": ch, "ts": ts}, ""
}

func (w *Workspace) update(f url.Values) (any, string) {
	ch, ts := f.Get("channel"), f.Get("ts")
	w.mu.Lock()
	defer w.mu.Unlock()
	m, ok := w.messages[ch+"/"+ts]
	if !ok {
		return nil, "message_not_found"
	}
	m.Text, m.Blocks = f.Get("text"), readable(f.Get("blocks"))
	m.Updates++
	w.writes = append(w.writes, Write{Method: "chat.update", Channel: ch, TS: ts, Text: m.Text, Blocks: m.Blocks})
	return map[string]any{"ok": true, "channel": ch, "ts": ts, "text": m.Text}, ""
}

func (w *Workspace) postEphemeral(f url.Values) (any, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ephemerals = append(w.ephemerals, Ephemeral{Channel: f.Get("channel"), User: f.Get("user"), Text: f.Get("text")})
	w.seq++
	return map[string]any{"ok": true, "message_ts": fmt.Sprintf("%d.%06d", time.Now().Unix(), w.seq)}, ""
}

func (w *Workspace) groupMembers(f url.Values) (any, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	members, ok := w.groups[f.Get("usergroup")]
	if !ok {
		return nil, "no_such_subteam"
	}
	return map[string]any{"ok": true, "users": members}, ""
}

func (w *Workspace) connectionsOpen(url.Values) (any, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return map[string]any{"ok": true, "url": w.socketURL}, ""
}

// Click is one user clicking a button of a message.
type Click struct {
	User, UserName string
	Channel, TS    string // the message clicked
	ActionID       string
	Value          string
}

// Payload is the block_actions interaction Slack sends for c.
func (c Click) Payload() []byte {
	p := map[string]any{
		"type":         "block_actions",
		"user":         map[string]any{"id": c.User, "username": c.UserName, "name": c.UserName, "team_id": "T0TEST"},
		"api_app_id":   "A0ALERTMEDIC",
		"team":         map[string]any{"id": "T0TEST", "domain": "test"},
		"container":    map[string]any{"type": "message", "message_ts": c.TS, "channel_id": c.Channel, "is_ephemeral": false},
		"channel":      map[string]any{"id": c.Channel, "name": "ops"},
		"message":      map[string]any{"type": "message", "ts": c.TS},
		"response_url": "https://hooks.slack.invalid/actions/T0TEST/1/x",
		"trigger_id":   "1.2.3",
		"actions": []map[string]any{{
			"type": "button", "action_id": c.ActionID, "block_id": "alertmedic.decision",
			"value": c.Value, "action_ts": fmt.Sprintf("%d.000100", time.Now().Unix()),
			"text": map[string]any{"type": "plain_text", "text": c.ActionID},
		}},
	}
	b, _ := json.Marshal(p)
	return b
}

// Body is the form-encoded request body Slack posts for c.
func (c Click) Body() string {
	return url.Values{"payload": {string(c.Payload())}}.Encode()
}

// Sign returns the X-Slack-Signature of body sent at ts with secret:
// "v0=" and the hex HMAC-SHA256 of "v0:<ts>:<body>".
func Sign(secret string, ts time.Time, body string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%d:%s", ts.Unix(), body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// Request is the HTTP request Slack sends to an interactivity URL for body,
// signed with secret at ts.
func Request(t testing.TB, target, secret string, ts time.Time, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set("X-Slack-Signature", Sign(secret, ts, body))
	return req
}
