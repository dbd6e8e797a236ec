package webhook

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/config"
	"github.com/prometheus/alertmanager/notify"
	amwebhook "github.com/prometheus/alertmanager/notify/webhook"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/alertmanager/types"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
)

// fingerprintField matches an alert's fingerprint member in a fixture.
var fingerprintField = regexp.MustCompile(`,"fingerprint":"[0-9a-f]*"`)

var update = flag.Bool("update", false, "regenerate testdata/*.json with Alertmanager's webhook notifier")

// amNotification is one notification as Alertmanager's dispatcher would
// hand it to the webhook notifier.
type amNotification struct {
	file        string // under testdata/
	receiver    string
	groupKey    string
	groupLabels model.LabelSet
	maxAlerts   uint64 // webhook_configs max_alerts
	alerts      []*types.Alert

	// What alertmedic must see.
	wantStatus    string
	wantStatuses  []string // per alert sent
	wantTruncated uint64
}

var (
	amStart    = time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	amResolved = time.Date(2026, 3, 4, 10, 30, 0, 0, time.UTC) // in the past: resolved
	amFuture   = time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)   // a firing alert's projected end
)

func amAlert(start, end time.Time, labels ...string) *types.Alert {
	ls := model.LabelSet{}
	for i := 0; i < len(labels); i += 2 {
		ls[model.LabelName(labels[i])] = model.LabelValue(labels[i+1])
	}
	return &types.Alert{
		Alert: model.Alert{
			Labels: ls,
			Annotations: model.LabelSet{
				"summary":     ls["alertname"] + " on " + ls["namespace"] + "/" + ls["deployment"],
				"runbook_url": "https://runbooks.example.com/" + model.LabelValue(strings.ToLower(string(ls["alertname"]))),
			},
			StartsAt:     start,
			EndsAt:       end,
			GeneratorURL: "http://prometheus.monitoring:9090/graph?g0.expr=kube_pod_container_status_restarts_total",
		},
		UpdatedAt: start,
	}
}

// amNotifications are the fixtures: firing, resolved, a group with both, and
// one cut by max_alerts.
func amNotifications() []amNotification {
	crash := func(start, end time.Time, ns, deploy, pod, severity string) *types.Alert {
		return amAlert(start, end, "alertname", "KubePodCrashLooping", "namespace", ns, "deployment", deploy,
			"pod", pod, "container", "app", "severity", severity, "job", "kube-state-metrics")
	}
	group := model.LabelSet{"alertname": "KubePodCrashLooping"}
	key := `{}/{severity=~"warning|critical"}:{alertname="KubePodCrashLooping"}`
	return []amNotification{
		{
			file: "firing.json", receiver: "alertmedic", groupKey: key, groupLabels: group,
			alerts: []*types.Alert{
				crash(amStart, time.Time{}, "shop", "checkout", "checkout-7d9f8b6c5-x2x4q", "critical"),
				crash(amStart.Add(time.Minute), amFuture, "payments", "ledger", "ledger-5c8d7f9b4-kq2lm", "warning"),
				crash(amStart.Add(2*time.Minute), amFuture, "shop", "cart", "cart-6b7c8d9e0-p9z8y", "critical"),
			},
			wantStatus:   "firing",
			wantStatuses: []string{"firing", "firing", "firing"},
		},
		{
			file: "resolved.json", receiver: "alertmedic", groupKey: key, groupLabels: group,
			alerts: []*types.Alert{
				crash(amStart, amResolved, "shop", "checkout", "checkout-7d9f8b6c5-x2x4q", "critical"),
				crash(amStart.Add(time.Minute), amResolved, "payments", "ledger", "ledger-5c8d7f9b4-kq2lm", "warning"),
			},
			wantStatus:   "resolved",
			wantStatuses: []string{"resolved", "resolved"},
		},
		{
			file: "mixed.json", receiver: "alertmedic", groupKey: key, groupLabels: group,
			alerts: []*types.Alert{
				crash(amStart, amResolved, "shop", "checkout", "checkout-7d9f8b6c5-x2x4q", "critical"),
				crash(amStart.Add(time.Minute), amFuture, "payments", "ledger", "ledger-5c8d7f9b4-kq2lm", "warning"),
			},
			wantStatus:   "firing",
			wantStatuses: []string{"resolved", "firing"},
		},
		{
			file: "truncated.json", receiver: "alertmedic-critical", groupKey: `{}/{severity="critical"}:{namespace="shop"}`,
			groupLabels: model.LabelSet{"namespace": "shop"}, maxAlerts: 2,
			alerts: []*types.Alert{
				crash(amStart, amFuture, "shop", "checkout", "checkout-7d9f8b6c5-x2x4q", "critical"),
				amAlert(amStart, amFuture, "alertname", "KubeDeploymentReplicasMismatch", "namespace", "shop", "deployment", "cart", "severity", "critical"),
				crash(amStart, amFuture, "shop", "search", "search-5f6a7b8c9-aa11b", "critical"),
				crash(amStart, amFuture, "shop", "search", "search-5f6a7b8c9-cc22d", "critical"),
				crash(amStart, amFuture, "shop", "frontend", "frontend-1a2b3c4d5-ee33f", "critical"),
			},
			wantStatus:    "firing",
			wantStatuses:  []string{"firing", "firing"},
			wantTruncated: 3,
		},
	}
}

// amNotifier is Alertmanager's own webhook notifier posting to u.
func amNotifier(t testing.TB, u string, maxAlerts uint64, httpConfig commoncfg.HTTPClientConfig) *amwebhook.Notifier {
	t.Helper()
	tmpl, err := template.FromGlobs(nil)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.ExternalURL, err = url.Parse("http://alertmanager.monitoring:9093")
	if err != nil {
		t.Fatal(err)
	}
	n, err := amwebhook.New(&config.WebhookConfig{
		URL:        config.SecretTemplateURL(u),
		HTTPConfig: &httpConfig,
		MaxAlerts:  maxAlerts,
	}, tmpl, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// amNotify sends n the way Alertmanager's pipeline does: group key, receiver
// and group labels travel on the context.
func amNotify(ctx context.Context, notifier *amwebhook.Notifier, n amNotification) (retry bool, err error) {
	ctx = notify.WithGroupKey(ctx, n.groupKey)
	ctx = notify.WithReceiverName(ctx, n.receiver)
	ctx = notify.WithGroupLabels(ctx, n.groupLabels)
	return notifier.Notify(ctx, n.alerts...)
}

// capture records what Alertmanager's notifier sends.
type capture struct {
	mu     sync.Mutex
	body   []byte
	header http.Header
}

func (c *capture) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	c.body, c.header = b, r.Header.Clone()
	c.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// TestAlertmanagerPayloads decodes payloads produced by Alertmanager's own
// webhook notifier (testdata/*.json) through the handler and checks that
// the sink gets every alert intact. It also regenerates the payloads and
// fails when the fixtures are stale for the Alertmanager in go.mod; run
// `go test ./webhook -run TestAlertmanagerPayloads -update` to refresh them.
func TestAlertmanagerPayloads(t *testing.T) {
	for _, n := range amNotifications() {
		t.Run(strings.TrimSuffix(n.file, ".json"), func(t *testing.T) {
			path := filepath.Join("testdata", n.file)

			var c capture
			srv := httptest.NewServer(&c)
			defer srv.Close()
			if _, err := amNotify(t.Context(), amNotifier(t, srv.URL, n.maxAlerts, commoncfg.DefaultHTTPClientConfig), n); err != nil {
				t.Fatalf("Alertmanager notifier: %v", err)
			}
			if ct := c.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Alertmanager sent Content-Type %q", ct)
			}
			if *update {
				if err := os.WriteFile(path, c.body, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			fixture, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (generate it with -update)", err)
			}
			if !bytes.Equal(fixture, c.body) {
				t.Errorf("%s differs from what Alertmanager sends now; run go test ./webhook -run TestAlertmanagerPayloads -update\nnow: %s", path, c.body)
			}

			// Without fingerprints alertmedic must compute Alertmanager's.
			noFingerprints := fingerprintField.ReplaceAll(fixture, nil)
			if bytes.Contains(noFingerprints, []byte("fingerprint")) {
				t.Fatal("fingerprints not stripped")
			}
			check := func(t *testing.T, payload []byte) *testServer {
				t.Helper()
				ts := newTestServer(t, Options{})
				w := ts.do(t, request{body: string(payload), header: map[string]string{"Content-Type": c.header.Get("Content-Type")}})
				if w.Code != http.StatusOK {
					t.Fatalf("code = %d, want 200; body %s", w.Code, w.Body)
				}
				_, got := ts.sink.snapshot()
				if len(got) != 1 {
					t.Fatalf("sink accepted %d notifications, want 1", len(got))
				}
				checkAMMessage(t, got[0], n)
				return ts
			}
			check(t, noFingerprints)
			ts := check(t, fixture)

			if n.wantTruncated > 0 {
				if v := counterValue(t, ts.reg, "alertmedic_webhook_truncated_alerts_total", nil); v != float64(n.wantTruncated) {
					t.Errorf("truncated alerts metric = %v, want %d", v, n.wantTruncated)
				}
				if !strings.Contains(ts.logs.String(), `msg="notification truncated by Alertmanager"`) {
					t.Errorf("truncation not logged:\n%s", ts.logs)
				}
			}
		})
	}
}

// checkAMMessage compares what the sink got with what Alertmanager was given.
func checkAMMessage(t *testing.T, msg *Message, n amNotification) {
	t.Helper()
	if msg.Version != "4" || msg.GroupKey != n.groupKey || msg.Receiver != n.receiver ||
		msg.Status != n.wantStatus || msg.TruncatedAlerts != n.wantTruncated {
		t.Errorf("sink got version %q groupKey %q receiver %q status %q truncated %d; want 4 %q %q %q %d",
			msg.Version, msg.GroupKey, msg.Receiver, msg.Status, msg.TruncatedAlerts,
			n.groupKey, n.receiver, n.wantStatus, n.wantTruncated)
	}
	if len(msg.Alerts) != len(n.wantStatuses) {
		t.Fatalf("sink got %d alerts, want %d", len(msg.Alerts), len(n.wantStatuses))
	}
	for i, a := range msg.Alerts {
		in := n.alerts[i]
		if got := a.Labels; len(got) != len(in.Labels) {
			t.Errorf("alerts[%d].labels = %v, want %v", i, got, in.Labels)
		} else {
			for k, v := range in.Labels {
				if got[string(k)] != string(v) {
					t.Errorf("alerts[%d].labels[%s] = %q, want %q", i, k, got[string(k)], v)
				}
			}
		}
		if want := in.Fingerprint().String(); a.Fingerprint != want {
			t.Errorf("alerts[%d].fingerprint = %q, want %q", i, a.Fingerprint, want)
		}
		if a.Status != n.wantStatuses[i] {
			t.Errorf("alerts[%d].status = %q, want %q", i, a.Status, n.wantStatuses[i])
		}
		// Alertmanager sends a firing alert without its projected end.
		wantEnd := in.EndsAt
		if n.wantStatuses[i] == "firing" {
			wantEnd = time.Time{}
		}
		if !a.StartsAt.Equal(in.StartsAt) || !a.EndsAt.Equal(wantEnd) {
			t.Errorf("alerts[%d] startsAt/endsAt = %v/%v, want %v/%v", i, a.StartsAt, a.EndsAt, in.StartsAt, wantEnd)
		}
		if a.Annotations["summary"] != string(in.Annotations["summary"]) || a.GeneratorURL != in.GeneratorURL {
			t.Errorf("alerts[%d] annotations/generatorURL = %v %q", i, a.Annotations, a.GeneratorURL)
		}
	}
}

// TestAlertmanagerNotifier points Alertmanager's notifier at alertmedic
// over HTTP and checks both authentication schemes and that Alertmanager
// retries exactly the answers it should.
func TestAlertmanagerNotifier(t *testing.T) {
	const token = "am-to-alertmedic"
	bearer := commoncfg.DefaultHTTPClientConfig
	bearer.Authorization = &commoncfg.Authorization{Type: "Bearer", Credentials: token}
	basic := commoncfg.DefaultHTTPClientConfig
	basic.BasicAuth = &commoncfg.BasicAuth{Username: "am", Password: "pa55"}
	wrong := commoncfg.DefaultHTTPClientConfig
	wrong.Authorization = &commoncfg.Authorization{Type: "Bearer", Credentials: "stale-token"}

	n := amNotifications()[0]
	tests := []struct {
		name       string
		httpConfig commoncfg.HTTPClientConfig
		sinkErr    error
		wantRetry  bool
		wantErr    string // in Notify's error, as Alertmanager would log it
		wantAccept bool
	}{
		{name: "bearer", httpConfig: bearer, wantAccept: true},
		{name: "basic auth", httpConfig: basic, wantAccept: true},
		{
			name: "wrong token is permanent", httpConfig: wrong,
			wantErr: `unexpected status code 401: {"error":"invalid bearer token`,
		},
		{
			name: "no credentials is permanent", httpConfig: commoncfg.DefaultHTTPClientConfig,
			wantErr: `unexpected status code 401: {"error":"missing Authorization header`,
		},
		{
			name: "busy is retried", httpConfig: bearer, sinkErr: ErrBusy, wantRetry: true,
			wantErr: `unexpected status code 503`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, Options{BearerToken: token, BasicAuthUser: "am", BasicAuthPassword: "pa55"})
			ts.sink.err = tt.sinkErr
			srv := httptest.NewServer(ts.e)
			defer srv.Close()

			retry, err := amNotify(t.Context(), amNotifier(t, srv.URL+"/webhook", 0, tt.httpConfig), n)
			if retry != tt.wantRetry {
				t.Errorf("Alertmanager retry = %v, want %v", retry, tt.wantRetry)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Notify: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Notify error = %v, want it to contain %q", err, tt.wantErr)
			}
			_, got := ts.sink.snapshot()
			if tt.wantAccept != (len(got) == 1) {
				t.Fatalf("sink accepted %d notifications, want accepted=%v", len(got), tt.wantAccept)
			}
			if tt.wantAccept {
				checkAMMessage(t, got[0], n)
			}
			if errors.Is(tt.sinkErr, ErrBusy) && !strings.Contains(ts.logs.String(), `msg="notification deferred"`) {
				t.Errorf("busy not logged:\n%s", ts.logs)
			}
		})
	}
}
