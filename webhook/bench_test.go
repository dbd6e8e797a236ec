package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/alertmanager/types"
	"github.com/prometheus/common/model"
)

// payload100 is a notification of 100 firing alerts shaped as Alertmanager
// renders them (template.Data), with the label and annotation counts of
// typical kube-state-metrics alerts.
func payload100(b *testing.B) []byte { return payloadN(b, 100) }

// payload1 is a notification of one such alert, the commonest: a group of
// one alert, or Alertmanager re-sending it every repeat_interval.
func payload1(b *testing.B) []byte { return payloadN(b, 1) }

func payloadN(b testing.TB, n int) []byte {
	b.Helper()
	tmpl, err := template.FromGlobs(nil)
	if err != nil {
		b.Fatal(err)
	}
	tmpl.ExternalURL, _ = url.Parse("http://alertmanager.monitoring:9093")
	start := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	alerts := make([]*types.Alert, n)
	for i := range alerts {
		alerts[i] = amAlert(start.Add(time.Duration(i)*time.Second), time.Time{},
			"alertname", "KubePodCrashLooping", "namespace", fmt.Sprintf("team-%d", i%7),
			"deployment", fmt.Sprintf("svc-%d", i), "pod", fmt.Sprintf("svc-%d-7d9f8b6c5-x2x4q", i),
			"container", "app", "severity", "critical", "job", "kube-state-metrics",
			"instance", "10.0.0.1:8080", "cluster", "prod-eu-1")
	}
	msg := &Message{
		Version:  "4",
		GroupKey: `{}/{severity="critical"}:{alertname="KubePodCrashLooping"}`,
		Data:     tmpl.Data("alertmedic", model.LabelSet{"alertname": "KubePodCrashLooping"}, alerts...),
	}
	body, err := json.Marshal(msg)
	if err != nil {
		b.Fatal(err)
	}
	return body
}

type nopSink struct{}

func (nopSink) Accept(_ context.Context, _ *Message) error { return nil }

func benchmarkHandler(b *testing.B, h http.Handler, body []byte, alerts int) {
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	rd := bytes.NewReader(nil)
	for b.Loop() {
		rd.Reset(body)
		r := httptest.NewRequest(http.MethodPost, "/webhook", rd)
		r.ContentLength = int64(len(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("answer %d: %s", w.Code, w.Body)
		}
	}
	b.ReportMetric(float64(b.N)*float64(alerts)/b.Elapsed().Seconds(), "alerts/s")
}

// BenchmarkIngest100 is a 100-alert notification through the whole server:
// routing, auth, limits, decode, validation, metrics, a nil-returning Sink.
func BenchmarkIngest100(b *testing.B) { benchmarkHandler(b, serverHandler(b), payload100(b), 100) }

// BenchmarkIngest1 is the same with a one-alert notification.
func BenchmarkIngest1(b *testing.B) { benchmarkHandler(b, serverHandler(b), payload1(b), 1) }

func serverHandler(b *testing.B) http.Handler {
	ts := newTestServer(b, Options{Sink: nopSink{}, BearerToken: "t", Logger: slog.New(slog.DiscardHandler)})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set("Authorization", "Bearer t")
		ts.e.ServeHTTP(w, r)
	})
}

// BenchmarkBareDecode100 is the baseline: a plain handler that only decodes
// the same body into Message with encoding/json.
func BenchmarkBareDecode100(b *testing.B) { benchmarkHandler(b, bareDecode, payload100(b), 100) }

// BenchmarkBareDecode1 is the baseline of the one-alert notification.
func BenchmarkBareDecode1(b *testing.B) { benchmarkHandler(b, bareDecode, payload1(b), 1) }

var bareDecode = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	var msg Message
	if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
	}
})
