package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"

	"github.com/alertmedic/alertmedic/internal/testlog"
)

// recordingSink records what the handler hands over.
type recordingSink struct {
	mu       sync.Mutex
	calls    int
	accepted []*Message
	err      error // returned by Accept when set
}

func (s *recordingSink) Accept(_ context.Context, msg *Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.err != nil {
		return s.err
	}
	s.accepted = append(s.accepted, msg)
	return nil
}

func (s *recordingSink) snapshot() (int, []*Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls, append([]*Message(nil), s.accepted...)
}

type testServer struct {
	e    *echo.Echo
	sink *recordingSink
	reg  *prometheus.Registry
	logs *testlog.Buffer
}

// newTestServer builds a server with a recording sink, a fresh registry and
// captured logs; opts may set anything else.
func newTestServer(t testing.TB, opts Options) *testServer {
	t.Helper()
	ts := &testServer{sink: &recordingSink{}, reg: prometheus.NewRegistry(), logs: &testlog.Buffer{}}
	if opts.Sink == nil {
		opts.Sink = ts.sink
	}
	opts.Registerer = ts.reg
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(ts.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	e, err := NewServer(opts)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	ts.e = e
	return ts
}

// request describes one call to the server.
type request struct {
	method  string // default POST
	path    string // default /webhook
	body    string
	header  map[string]string // Content-Type defaults to application/json
	chunked bool              // send without Content-Length
}

func (ts *testServer) do(t testing.TB, rq request) *httptest.ResponseRecorder {
	t.Helper()
	method, path := rq.method, rq.path
	if method == "" {
		method = http.MethodPost
	}
	if path == "" {
		path = "/webhook"
	}
	var body io.Reader = strings.NewReader(rq.body)
	if rq.chunked {
		body = io.MultiReader(body) // hides the length
	}
	r := httptest.NewRequest(method, path, body)
	if rq.chunked {
		r.ContentLength = -1
		r.TransferEncoding = []string{"chunked"}
	}
	if method == http.MethodPost {
		r.Header.Set("Content-Type", "application/json")
	}
	for k, v := range rq.header {
		if v == "" {
			r.Header.Del(k)
			continue
		}
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	ts.e.ServeHTTP(w, r)
	return w
}

// errorText returns the "error" of a JSON error answer, failing the test
// when the answer is not that shape.
func errorText(t testing.TB, w *httptest.ResponseRecorder) string {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("error answer has Content-Type %q, want application/json; body %q", ct, w.Body.String())
	}
	var e struct {
		Error *string `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(w.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || e.Error == nil {
		t.Fatalf("error answer %q is not {\"error\": \"...\"}: %v", w.Body.String(), err)
	}
	return *e.Error
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// testMessage is a valid notification of two firing alerts without
// fingerprints.
func testMessage() *Message {
	return &Message{
		Version:  "4",
		GroupKey: `{}:{alertname="KubePodCrashLooping"}`,
		Data: &template.Data{
			Receiver: "alertmedic",
			Status:   "firing",
			Alerts: template.Alerts{
				{Status: "firing", StartsAt: t0, Labels: template.KV{
					"alertname": "KubePodCrashLooping", "namespace": "shop", "deployment": "checkout",
				}},
				{Status: "firing", StartsAt: t0.Add(time.Minute), Labels: template.KV{
					"alertname": "KubePodCrashLooping", "namespace": "payments", "deployment": "ledger",
				}},
			},
			GroupLabels: template.KV{"alertname": "KubePodCrashLooping"},
		},
	}
}

// body marshals testMessage after applying edit.
func body(t testing.TB, edit func(m *Message)) string {
	t.Helper()
	m := testMessage()
	if edit != nil {
		edit(m)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWebhookRejects(t *testing.T) {
	valid := body(t, nil)
	manyAlerts := func(m *Message) {
		m.Alerts = make(template.Alerts, 12)
		for i := range m.Alerts {
			m.Alerts[i] = template.Alert{Status: "firing", Labels: template.KV{"alertname": "A", "i": strconv.Itoa(i)}}
		}
	}
	tests := []struct {
		name     string
		rq       request
		max      int64
		wantCode int
		wantErr  string
	}{
		{
			name:     "empty body",
			rq:       request{body: ""},
			wantCode: 400,
			wantErr:  `request body is empty: expected a JSON object, Alertmanager's webhook payload version "4"`,
		},
		{
			name:     "cut short",
			rq:       request{body: `{"version":"4",`},
			wantCode: 400,
			wantErr:  `invalid JSON: the body ends after 15 bytes, before the JSON object is complete (was it cut short?)`,
		},
		{
			name:     "malformed",
			rq:       request{body: `{"version":"4" "status":"firing"}`},
			wantCode: 400,
			wantErr:  `invalid JSON at byte offset 16: invalid character '"' after object key:value pair (near: {"version":"4" "status":"firing")`,
		},
		{
			name:     "trailing garbage",
			rq:       request{body: valid + "x"},
			wantCode: 400,
			wantErr: fmt.Sprintf(`invalid JSON at byte offset %d: unexpected data after the JSON object (near: %s); send one notification per request`,
				len(valid)+1, valid[len(valid)-15:]+"x"),
		},
		{
			name:     "two notifications in one body",
			rq:       request{body: valid + "\n" + valid},
			wantCode: 400,
			wantErr: fmt.Sprintf(`invalid JSON at byte offset %d: unexpected data after the JSON object (near: %s); send one notification per request`,
				len(valid)+2, valid[len(valid)-14:]+"."+valid[:17]),
		},
		{
			name:     "not an object",
			rq:       request{body: `[{"version":"4"}]`},
			wantCode: 400,
			wantErr:  `invalid payload at byte offset 1: expected a JSON object, got array`,
		},
		{
			name:     "version is a number",
			rq:       request{body: `{"version":4}`},
			wantCode: 400,
			wantErr:  `invalid payload at byte offset 12: version must be a string, got number`,
		},
		{
			name:     "labels are a list",
			rq:       request{body: `{"version":"4","alerts":[{"labels":["a"]}]}`},
			wantCode: 400,
			wantErr:  `invalid payload at byte offset 36: alerts[0].labels must be an object, got array`,
		},
		{
			name:     "a label is a number",
			rq:       request{body: `{"version":"4","alerts":[{"labels":{"a":"b"}},{"status":"firing","labels":{"alertname":"A","severity":3}}]}`},
			wantCode: 400,
			wantErr:  `invalid payload at byte offset 103: alerts[1].labels.severity must be a string, got number`,
		},
		{
			name:     "an annotation is an object, alerts key in another case",
			rq:       request{body: `{"Alerts":[{},{},{"annotations":{"runbook":{"url":"x"}}}],"version":"4"}`},
			wantCode: 400,
			wantErr:  `invalid payload at byte offset 44: Alerts[2].annotations.runbook must be a string, got object`,
		},
		{
			name:     "a common label is a boolean",
			rq:       request{body: `{"version":"4","alerts":[{"labels":{"a":"b"}}],"commonLabels":{"a":true}}`},
			wantCode: 400,
			wantErr:  `invalid payload at byte offset 71: commonLabels.a must be a string, got bool`,
		},
		{
			name:     "startsAt is not a timestamp",
			rq:       request{body: strings.Replace(valid, `"startsAt":"2026-01-02T03:05:05Z"`, `"startsAt":"yesterday"`, 1)},
			wantCode: 400,
			wantErr:  `invalid payload: alerts[1].startsAt: parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": cannot parse "yesterday" as "2006"; timestamps must be RFC 3339 strings such as "2026-01-02T15:04:05Z"`,
		},
		{
			name:     "wrong version",
			rq:       request{body: body(t, func(m *Message) { m.Version = "3" })},
			wantCode: 400,
			wantErr:  `unsupported payload version "3": alertmedic accepts Alertmanager's webhook payload version "4"`,
		},
		{
			name:     "missing version",
			rq:       request{body: body(t, func(m *Message) { m.Version = "" })},
			wantCode: 400,
			wantErr:  `missing payload version: alertmedic accepts Alertmanager's webhook payload version "4"; send from an Alertmanager webhook_configs receiver`,
		},
		{
			name:     "only a version",
			rq:       request{body: `{"version":"4"}`},
			wantCode: 400,
			wantErr:  `invalid notification: status: required, must be "firing" or "resolved"; alerts: required, the notification carries no alerts`,
		},
		{
			name:     "missing status",
			rq:       request{body: body(t, func(m *Message) { m.Status = "" })},
			wantCode: 400,
			wantErr:  `invalid notification: status: required, must be "firing" or "resolved"`,
		},
		{
			name:     "unknown status",
			rq:       request{body: body(t, func(m *Message) { m.Status = "pending" })},
			wantCode: 400,
			wantErr:  `invalid notification: status: must be "firing" or "resolved", got "pending"`,
		},
		{
			name:     "no alerts",
			rq:       request{body: body(t, func(m *Message) { m.Alerts = template.Alerts{} })},
			wantCode: 400,
			wantErr:  `invalid notification: alerts: must not be empty`,
		},
		{
			name:     "alerts null",
			rq:       request{body: body(t, func(m *Message) { m.Alerts = nil })},
			wantCode: 400,
			wantErr:  `invalid notification: alerts: must not be empty`,
		},
		{
			name:     "alert without status",
			rq:       request{body: body(t, func(m *Message) { m.Alerts[1].Status = "" })},
			wantCode: 400,
			wantErr:  `invalid notification: alerts[1].status: required, must be "firing" or "resolved"`,
		},
		{
			name:     "alert with unknown status",
			rq:       request{body: body(t, func(m *Message) { m.Alerts[0].Status = "suppressed" })},
			wantCode: 400,
			wantErr:  `invalid notification: alerts[0].status: must be "firing" or "resolved", got "suppressed"`,
		},
		{
			name:     "alert without labels",
			rq:       request{body: body(t, func(m *Message) { m.Alerts[1].Labels = nil })},
			wantCode: 400,
			wantErr:  `invalid notification: alerts[1].labels: required, an alert is identified by its labels`,
		},
		{
			name:     "alert with empty labels",
			rq:       request{body: body(t, func(m *Message) { m.Alerts[0].Labels = template.KV{} })},
			wantCode: 400,
			wantErr:  `invalid notification: alerts[0].labels: required, an alert is identified by its labels`,
		},
		{
			name:     "alert without startsAt",
			rq:       request{body: strings.Replace(valid, `"startsAt":"2026-01-02T03:05:05Z",`, ``, 1)},
			wantCode: 400,
			wantErr:  `invalid notification: alerts[1].startsAt: required`,
		},
		{
			name:     "alert with zero startsAt",
			rq:       request{body: body(t, func(m *Message) { m.Alerts[0].StartsAt = time.Time{} })},
			wantCode: 400,
			wantErr:  `invalid notification: alerts[0].startsAt: required`,
		},
		{
			name:     "malformed fingerprint",
			rq:       request{body: body(t, func(m *Message) { m.Alerts[1].Fingerprint = "../../etc" })},
			wantCode: 400,
			wantErr:  `invalid notification: alerts[1].fingerprint: must be 16 lower-case hex digits as Alertmanager writes it, or absent, got "../../etc"`,
		},
		{
			name: "several problems",
			rq: request{body: body(t, func(m *Message) {
				m.Status = "bad"
				m.Alerts[0].Labels = nil
				m.Alerts[1].StartsAt = time.Time{}
			})},
			wantCode: 400,
			wantErr:  `invalid notification: status: must be "firing" or "resolved", got "bad"; alerts[0].labels: required, an alert is identified by its labels; alerts[1].startsAt: required`,
		},
		{
			name:     "problems beyond the tenth are counted",
			rq:       request{body: body(t, manyAlerts)},
			wantCode: 400,
			wantErr: "invalid notification: alerts[0].startsAt: required; alerts[1].startsAt: required; " +
				"alerts[2].startsAt: required; alerts[3].startsAt: required; alerts[4].startsAt: required; " +
				"alerts[5].startsAt: required; alerts[6].startsAt: required; alerts[7].startsAt: required; " +
				"alerts[8].startsAt: required; alerts[9].startsAt: required; and 2 more problems",
		},
		{
			name:     "text/plain",
			rq:       request{body: valid, header: map[string]string{"Content-Type": "text/plain"}},
			wantCode: 415,
			wantErr:  `unsupported Content-Type "text/plain": send application/json, as Alertmanager's webhook_configs does`,
		},
		{
			name:     "form",
			rq:       request{body: valid, header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}},
			wantCode: 415,
			wantErr:  `unsupported Content-Type "application/x-www-form-urlencoded": send application/json, as Alertmanager's webhook_configs does`,
		},
		{
			name:     "no content type",
			rq:       request{body: valid, header: map[string]string{"Content-Type": ""}},
			wantCode: 415,
			wantErr:  `missing Content-Type: send application/json, as Alertmanager's webhook_configs does`,
		},
		{
			name:     "gzip",
			rq:       request{body: valid, header: map[string]string{"Content-Encoding": "gzip"}},
			wantCode: 415,
			wantErr:  `unsupported Content-Encoding "gzip": send the payload uncompressed`,
		},
		{
			name:     "too large by Content-Length",
			rq:       request{body: valid},
			max:      100,
			wantCode: 413,
			wantErr: fmt.Sprintf(`request body is %d bytes, more than alertmedic's limit of 100 bytes: lower max_alerts in the Alertmanager webhook_configs receiver, or raise alertmedic's body limit`,
				len(valid)),
		},
		{
			name:     "too large chunked",
			rq:       request{body: valid, chunked: true},
			max:      100,
			wantCode: 413,
			wantErr:  `request body is more than alertmedic's limit of 100 bytes: lower max_alerts in the Alertmanager webhook_configs receiver, or raise alertmedic's body limit`,
		},
		{
			name:     "GET",
			rq:       request{method: http.MethodGet},
			wantCode: 405,
			wantErr:  `method GET is not allowed on /webhook: Alertmanager sends notifications with POST`,
		},
		{
			name:     "unknown path",
			rq:       request{path: "/api/v2/alerts", body: valid},
			wantCode: 404,
			wantErr:  `no route for POST /api/v2/alerts: alertmedic serves POST /webhook, GET /healthz, GET /readyz and GET /metrics`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, Options{MaxBodyBytes: tt.max})
			w := ts.do(t, tt.rq)
			if w.Code != tt.wantCode {
				t.Errorf("code = %d, want %d; body %s", w.Code, tt.wantCode, w.Body)
			}
			if got := errorText(t, w); got != tt.wantErr {
				t.Errorf("error =\n  %s\nwant\n  %s", got, tt.wantErr)
			}
			if calls, _ := ts.sink.snapshot(); calls != 0 {
				t.Errorf("sink called %d times for a rejected request, want 0", calls)
			}
		})
	}
}

func TestWebhookAccepts(t *testing.T) {
	tests := []struct {
		name    string
		rq      request
		max     int64
		wantFPs []string // fingerprints the sink sees
	}{
		{
			name: "fingerprints filled from labels as Alertmanager computes them",
			rq:   request{body: body(t, nil)},
		},
		{
			name: "fingerprints kept",
			rq: request{body: body(t, func(m *Message) {
				m.Alerts[0].Fingerprint = "0123456789abcdef"
				m.Alerts[1].Fingerprint = "fedcba9876543210"
			})},
			wantFPs: []string{"0123456789abcdef", "fedcba9876543210"},
		},
		{
			name: "charset parameter",
			rq:   request{body: body(t, nil), header: map[string]string{"Content-Type": "Application/JSON; charset=utf-8"}},
		},
		{
			name: "chunked within the limit",
			rq:   request{body: body(t, nil), chunked: true},
		},
		{
			name: "unknown fields are ignored",
			rq:   request{body: strings.Replace(body(t, nil), `{`, `{"futureField":{"x":[1,2]},`, 1)},
		},
		{
			name: "body exactly at the limit",
			rq:   request{body: body(t, nil)},
			max:  int64(len(body(t, nil))),
		},
	}
	want := testMessage()
	defaultFPs := []string{
		model.LabelSet{"alertname": "KubePodCrashLooping", "namespace": "shop", "deployment": "checkout"}.Fingerprint().String(),
		model.LabelSet{"alertname": "KubePodCrashLooping", "namespace": "payments", "deployment": "ledger"}.Fingerprint().String(),
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.wantFPs == nil {
				tt.wantFPs = defaultFPs
			}
			ts := newTestServer(t, Options{MaxBodyBytes: tt.max})
			w := ts.do(t, tt.rq)
			if w.Code != http.StatusOK || w.Body.String() != `{"status":"accepted","alerts":2}`+"\n" {
				t.Fatalf("answer = %d %q, want 200 {\"status\":\"accepted\",\"alerts\":2}", w.Code, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			calls, got := ts.sink.snapshot()
			if calls != 1 || len(got) != 1 {
				t.Fatalf("sink calls = %d, accepted = %d, want 1 and 1", calls, len(got))
			}
			msg := got[0]
			if msg.GroupKey != want.GroupKey || msg.Receiver != want.Receiver || msg.Status != want.Status {
				t.Errorf("sink got groupKey %q receiver %q status %q, want %q %q %q",
					msg.GroupKey, msg.Receiver, msg.Status, want.GroupKey, want.Receiver, want.Status)
			}
			for i, a := range msg.Alerts {
				if !equalKV(a.Labels, want.Alerts[i].Labels) || !a.StartsAt.Equal(want.Alerts[i].StartsAt) || a.Status != want.Alerts[i].Status {
					t.Errorf("alerts[%d] = %+v, want %+v", i, a, want.Alerts[i])
				}
				if a.Fingerprint != tt.wantFPs[i] {
					t.Errorf("alerts[%d].fingerprint = %q, want %q", i, a.Fingerprint, tt.wantFPs[i])
				}
			}
		})
	}
}

func equalKV(a, b template.KV) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

func TestWebhookAuth(t *testing.T) {
	const token = "s3cr3t-t0ken"
	basic := func(user, pass string) string {
		r, _ := http.NewRequest(http.MethodPost, "/", nil)
		r.SetBasicAuth(user, pass)
		return r.Header.Get("Authorization")
	}
	bearerOnly := Options{BearerToken: token}
	basicOnly := Options{BasicAuthUser: "am", BasicAuthPassword: "pa55"}
	both := Options{BearerToken: token, BasicAuthUser: "am", BasicAuthPassword: "pa55"}
	const (
		howToBearer = "set http_config.authorization.credentials (type Bearer) in the Alertmanager webhook_configs receiver to alertmedic's token"
		howToBasic  = "set http_config.basic_auth in the Alertmanager webhook_configs receiver to alertmedic's username and password"
		howToBoth   = "set http_config.authorization (type Bearer) or http_config.basic_auth in the Alertmanager webhook_configs receiver"
	)
	tests := []struct {
		name          string
		opts          Options
		authorization string
		contentType   string // default application/json
		wantCode      int
		wantErr       string
		wantChallenge []string
	}{
		{name: "no auth configured", opts: Options{}, wantCode: 200},
		{name: "bearer ok", opts: bearerOnly, authorization: "Bearer " + token, wantCode: 200},
		{name: "bearer scheme is case-insensitive", opts: bearerOnly, authorization: "bearer " + token, wantCode: 200},
		{
			name: "bearer missing", opts: bearerOnly, wantCode: 401,
			wantErr:       "missing Authorization header: " + howToBearer,
			wantChallenge: []string{`Bearer realm="alertmedic"`},
		},
		{
			name: "bearer wrong", opts: bearerOnly, authorization: "Bearer wrong-" + token, wantCode: 401,
			wantErr:       "invalid bearer token: the credentials in the Alertmanager receiver's http_config.authorization do not match alertmedic's token",
			wantChallenge: []string{`Bearer realm="alertmedic"`},
		},
		{
			name: "bearer prefix of the token", opts: bearerOnly, authorization: "Bearer " + token[:4], wantCode: 401,
			wantErr:       "invalid bearer token: the credentials in the Alertmanager receiver's http_config.authorization do not match alertmedic's token",
			wantChallenge: []string{`Bearer realm="alertmedic"`},
		},
		{
			name: "bare token without scheme is not echoed", opts: bearerOnly, authorization: token, wantCode: 401,
			wantErr:       "unsupported Authorization scheme, expected Bearer: " + howToBearer,
			wantChallenge: []string{`Bearer realm="alertmedic"`},
		},
		{
			name: "basic sent where bearer is configured", opts: bearerOnly, authorization: basic("am", token), wantCode: 401,
			wantErr:       "unsupported Authorization scheme, expected Bearer: " + howToBearer,
			wantChallenge: []string{`Bearer realm="alertmedic"`},
		},
		{
			name: "auth comes before content checks", opts: bearerOnly, contentType: "text/plain", wantCode: 401,
			wantErr:       "missing Authorization header: " + howToBearer,
			wantChallenge: []string{`Bearer realm="alertmedic"`},
		},
		{name: "basic ok", opts: basicOnly, authorization: basic("am", "pa55"), wantCode: 200},
		{
			name: "basic wrong password", opts: basicOnly, authorization: basic("am", "nope"), wantCode: 401,
			wantErr:       "invalid basic credentials: the username or password in the Alertmanager receiver's http_config.basic_auth does not match alertmedic's",
			wantChallenge: []string{`Basic realm="alertmedic", charset="UTF-8"`},
		},
		{
			name: "basic wrong user", opts: basicOnly, authorization: basic("root", "pa55"), wantCode: 401,
			wantErr:       "invalid basic credentials: the username or password in the Alertmanager receiver's http_config.basic_auth does not match alertmedic's",
			wantChallenge: []string{`Basic realm="alertmedic", charset="UTF-8"`},
		},
		{
			name: "basic malformed", opts: basicOnly, authorization: "Basic !!!", wantCode: 401,
			wantErr:       "malformed basic credentials in the Authorization header: " + howToBasic,
			wantChallenge: []string{`Basic realm="alertmedic", charset="UTF-8"`},
		},
		{name: "both configured, bearer", opts: both, authorization: "Bearer " + token, wantCode: 200},
		{name: "both configured, basic", opts: both, authorization: basic("am", "pa55"), wantCode: 200},
		{
			name: "both configured, missing", opts: both, wantCode: 401,
			wantErr:       "missing Authorization header: " + howToBoth,
			wantChallenge: []string{`Bearer realm="alertmedic"`, `Basic realm="alertmedic", charset="UTF-8"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, tt.opts)
			hdr := map[string]string{"Authorization": tt.authorization}
			if tt.contentType != "" {
				hdr["Content-Type"] = tt.contentType
			}
			w := ts.do(t, request{body: body(t, nil), header: hdr})
			if w.Code != tt.wantCode {
				t.Fatalf("code = %d, want %d; body %s", w.Code, tt.wantCode, w.Body)
			}
			calls, _ := ts.sink.snapshot()
			if tt.wantCode == 200 {
				if calls != 1 {
					t.Errorf("sink calls = %d, want 1", calls)
				}
				return
			}
			if got := errorText(t, w); got != tt.wantErr {
				t.Errorf("error =\n  %s\nwant\n  %s", got, tt.wantErr)
			}
			if got := w.Header().Values("WWW-Authenticate"); strings.Join(got, "|") != strings.Join(tt.wantChallenge, "|") {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.wantChallenge)
			}
			if calls != 0 {
				t.Errorf("sink called %d times for an unauthenticated request, want 0", calls)
			}
			if logs := ts.logs.String(); strings.Contains(logs, token) || strings.Contains(logs, "pa55") ||
				!strings.Contains(logs, `msg="notification rejected" code=401`) {
				t.Errorf("logs leak a secret or miss the rejection:\n%s", logs)
			}
			if strings.Contains(w.Body.String(), token) {
				t.Errorf("answer echoes the token: %s", w.Body)
			}
		})
	}
}

func TestWebhookSinkErrors(t *testing.T) {
	tests := []struct {
		name           string
		sinkErr        error
		wantCode       int
		wantErr        string
		wantRetryAfter string
	}{
		{
			name:           "busy",
			sinkErr:        fmt.Errorf("engine busy: queue full: %w", ErrBusy),
			wantCode:       503,
			wantErr:        "alertmedic cannot accept work now, Alertmanager will retry: engine busy: queue full: cannot accept work now",
			wantRetryAfter: "10",
		},
		{
			name:           "busy sentinel",
			sinkErr:        ErrBusy,
			wantCode:       503,
			wantErr:        "alertmedic cannot accept work now, Alertmanager will retry: cannot accept work now",
			wantRetryAfter: "10",
		},
		{
			name:     "other error",
			sinkErr:  errors.New("create remediation: etcdserver: request timed out"),
			wantCode: 500,
			wantErr:  "alertmedic failed to accept the notification, Alertmanager will retry: create remediation: etcdserver: request timed out",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, Options{})
			ts.sink.err = tt.sinkErr
			w := ts.do(t, request{body: body(t, nil)})
			if w.Code != tt.wantCode {
				t.Fatalf("code = %d, want %d; body %s", w.Code, tt.wantCode, w.Body)
			}
			if got := errorText(t, w); got != tt.wantErr {
				t.Errorf("error =\n  %s\nwant\n  %s", got, tt.wantErr)
			}
			if got := w.Header().Get("Retry-After"); got != tt.wantRetryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tt.wantRetryAfter)
			}
			if calls, accepted := ts.sink.snapshot(); calls != 1 || len(accepted) != 0 {
				t.Errorf("sink calls = %d accepted = %d, want 1 call and nothing accepted", calls, len(accepted))
			}
		})
	}
}

// panicSink stands for a Sink with a bug.
type panicSink struct{}

func (panicSink) Accept(context.Context, *Message) error { panic("boom") }

func TestWebhookSinkPanic(t *testing.T) {
	ts := newTestServer(t, Options{Sink: panicSink{}})
	w := ts.do(t, request{body: body(t, nil)})
	if w.Code != 500 {
		t.Fatalf("code = %d, want 500", w.Code)
	}
	want := "internal error while handling the notification (Alertmanager will retry); alertmedic's logs have the details"
	if got := errorText(t, w); got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
	if !strings.Contains(ts.logs.String(), `msg="panic while handling notification" panic=boom`) {
		t.Errorf("panic not logged:\n%s", ts.logs)
	}
}

func TestWebhookTruncated(t *testing.T) {
	ts := newTestServer(t, Options{})
	w := ts.do(t, request{body: body(t, func(m *Message) { m.TruncatedAlerts = 7 })})
	if w.Code != 200 {
		t.Fatalf("code = %d, want 200; body %s", w.Code, w.Body)
	}
	logs := ts.logs.String()
	if !strings.Contains(logs, `level=WARN msg="notification truncated by Alertmanager" group_key="{}:{alertname=\"KubePodCrashLooping\"}" receiver=alertmedic truncated_alerts=7 alerts=2`) {
		t.Errorf("truncation not logged as expected:\n%s", logs)
	}
	if got := counterValue(t, ts.reg, "alertmedic_webhook_truncated_alerts_total", nil); got != 7 {
		t.Errorf("alertmedic_webhook_truncated_alerts_total = %v, want 7", got)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	notReady := errors.New("no rules loaded")
	tests := []struct {
		name     string
		ready    func(context.Context) error
		path     string
		wantCode int
		wantBody string
	}{
		{name: "healthz", path: "/healthz", wantCode: 200, wantBody: "ok\n"},
		{name: "healthz while not ready", path: "/healthz", ready: func(context.Context) error { return notReady }, wantCode: 200, wantBody: "ok\n"},
		{name: "readyz without Ready", path: "/readyz", wantCode: 200, wantBody: "ok\n"},
		{name: "readyz ready", path: "/readyz", ready: func(context.Context) error { return nil }, wantCode: 200, wantBody: "ok\n"},
		{name: "readyz not ready", path: "/readyz", ready: func(context.Context) error { return notReady }, wantCode: 503, wantBody: "not ready: no rules loaded\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, Options{Ready: tt.ready})
			w := ts.do(t, request{method: http.MethodGet, path: tt.path})
			if w.Code != tt.wantCode || w.Body.String() != tt.wantBody {
				t.Errorf("GET %s = %d %q, want %d %q", tt.path, w.Code, w.Body, tt.wantCode, tt.wantBody)
			}
		})
	}
}

func TestMetricsEndpoint(t *testing.T) {
	ts := newTestServer(t, Options{})
	for _, rq := range []request{
		{body: body(t, func(m *Message) { m.Alerts[1].Status = "resolved"; m.TruncatedAlerts = 3 })},
		{body: body(t, nil)},
		{body: "{"},
		{body: body(t, nil), header: map[string]string{"Content-Type": "text/plain"}},
	} {
		ts.do(t, rq)
	}
	w := ts.do(t, request{method: http.MethodGet, path: "/metrics"})
	if w.Code != 200 {
		t.Fatalf("GET /metrics = %d", w.Code)
	}
	for _, line := range []string{
		`alertmedic_webhook_notifications_total{code="200"} 2`,
		`alertmedic_webhook_notifications_total{code="400"} 1`,
		`alertmedic_webhook_notifications_total{code="415"} 1`,
		`alertmedic_webhook_notifications_total{code="503"} 0`,
		`alertmedic_webhook_alerts_received_total{status="firing"} 3`,
		`alertmedic_webhook_alerts_received_total{status="resolved"} 1`,
		`alertmedic_webhook_truncated_alerts_total 3`,
		`alertmedic_webhook_request_duration_seconds_count 4`,
	} {
		if !strings.Contains(w.Body.String(), "\n"+line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", w.Body)
	}
}

func TestMetricsNotServedWithoutGatherer(t *testing.T) {
	e, err := NewServer(Options{Sink: &recordingSink{}, Registerer: prometheus.NewPedanticRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	// A PedanticRegistry is a Gatherer too, so /metrics is served.
	if w.Code != 200 {
		t.Fatalf("GET /metrics with a registry as Registerer = %d, want 200", w.Code)
	}
	e, err = NewServer(Options{Sink: &recordingSink{}})
	if err != nil {
		t.Fatal(err)
	}
	w = httptest.NewRecorder()
	e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if w.Code != 404 {
		t.Fatalf("GET /metrics without Gatherer = %d, want 404", w.Code)
	}
}

func TestNewServerOptions(t *testing.T) {
	sink := &recordingSink{}
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{name: "no sink", opts: Options{}, wantErr: "webhook: Options.Sink is required"},
		{name: "basic user without password", opts: Options{Sink: sink, BasicAuthUser: "am"}, wantErr: "webhook: set both BasicAuthUser and BasicAuthPassword, or neither"},
		{name: "basic password without user", opts: Options{Sink: sink, BasicAuthPassword: "x"}, wantErr: "webhook: set both BasicAuthUser and BasicAuthPassword, or neither"},
		{name: "negative body limit", opts: Options{Sink: sink, MaxBodyBytes: -1}, wantErr: "webhook: MaxBodyBytes must not be negative, got -1"},
		{name: "defaults", opts: Options{Sink: sink}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewServer(tt.opts)
			if got := fmt.Sprint(err); (err != nil || tt.wantErr != "") && got != tt.wantErr {
				t.Errorf("NewServer error = %v, want %q", err, tt.wantErr)
			}
		})
	}
	t.Run("metrics registered twice", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		if _, err := NewServer(Options{Sink: sink, Registerer: reg}); err != nil {
			t.Fatal(err)
		}
		_, err := NewServer(Options{Sink: sink, Registerer: reg})
		if err == nil || !strings.HasPrefix(err.Error(), "webhook: register metrics: ") {
			t.Errorf("second NewServer on one registry: err = %v, want a registration error", err)
		}
	})
	t.Run("defaults", func(t *testing.T) {
		o, err := Options{Sink: sink}.withDefaults()
		if err != nil {
			t.Fatal(err)
		}
		if o.MaxBodyBytes != 4<<20 || o.RetryAfter != 10*time.Second || o.Logger == nil || o.Ready == nil {
			t.Errorf("defaults = %+v", o)
		}
	})
}

// TestWebhookOverHTTP runs requests through a real net/http server, where
// chunked bodies and connection handling are not simulated.
func TestWebhookOverHTTP(t *testing.T) {
	ts := newTestServer(t, Options{MaxBodyBytes: 1 << 10})
	srv := httptest.NewServer(ts.e)
	defer srv.Close()

	post := func(r io.Reader) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/webhook", r)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// io.MultiReader hides the length, so the client sends chunks.
	big := body(t, func(m *Message) { m.Alerts[0].Annotations = template.KV{"description": strings.Repeat("x", 4<<10)} })
	code, got := post(io.MultiReader(strings.NewReader(big)))
	if code != 413 || !strings.Contains(got, `"error":"request body is more than alertmedic's limit of 1024 bytes`) {
		t.Errorf("chunked oversized body: %d %s, want 413", code, got)
	}
	code, got = post(io.MultiReader(strings.NewReader(body(t, nil))))
	if code != 200 {
		t.Errorf("chunked body within the limit: %d %s, want 200", code, got)
	}
	if calls, accepted := ts.sink.snapshot(); calls != 1 || len(accepted) != 1 {
		t.Errorf("sink calls = %d accepted = %d, want 1 and 1", calls, len(accepted))
	}
}

// counterValue reads a counter from reg; labels select one series.
func counterValue(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue series
				}
			}
			return metricValue(m)
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

func metricValue(m *dto.Metric) float64 {
	if c := m.GetCounter(); c != nil {
		return c.GetValue()
	}
	return m.GetGauge().GetValue()
}
