package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// checkingSink fails the fuzz run when it is handed a notification that the
// handler should have refused. Its checks are written apart from validate
// on purpose.
type checkingSink struct {
	mu   sync.Mutex
	got  int
	errs []string
}

func (s *checkingSink) Accept(_ context.Context, m *Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got++
	bad := func(format string, args ...any) { s.errs = append(s.errs, fmt.Sprintf(format, args...)) }
	switch {
	case m == nil || m.Data == nil:
		bad("message without data")
		return nil
	case m.Version != "4":
		bad("version %q", m.Version)
	case m.Status != "firing" && m.Status != "resolved":
		bad("status %q", m.Status)
	case len(m.Alerts) == 0:
		bad("no alerts")
	}
	for i, a := range m.Alerts {
		if a.Status != "firing" && a.Status != "resolved" {
			bad("alerts[%d].status %q", i, a.Status)
		}
		if len(a.Labels) == 0 {
			bad("alerts[%d] without labels", i)
		}
		if a.StartsAt.IsZero() {
			bad("alerts[%d] without startsAt", i)
		}
		if len(a.Fingerprint) != 16 || strings.Trim(a.Fingerprint, "0123456789abcdef") != "" {
			bad("alerts[%d].fingerprint %q", i, a.Fingerprint)
		}
	}
	return nil
}

func (s *checkingSink) reset() (int, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	got, errs := s.got, s.errs
	s.got, s.errs = 0, nil
	return got, errs
}

// FuzzWebhook feeds arbitrary bodies through POST /webhook: it must never
// panic, never answer 5xx (the sink here never fails), answer every error
// as {"error": "..."}, and hand the sink only valid notifications.
func FuzzWebhook(f *testing.F) {
	fixtures, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, p := range fixtures {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		``, `null`, `{}`, `[]`, `"4"`, `{"version":"4"}`, `{"version":4}`,
		`{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"a":"b"},"startsAt":"2026-01-02T03:04:05Z"}]}`,
		`{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"a":"b"},"startsAt":"2026-01-02T03:04:05Z","fingerprint":"zz"}]}`,
		`{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{},"startsAt":"x"}]}`,
		`{"version":"4","status":"firing","alerts":[null]} {}`,
		`{"Version":"4","STATUS":"resolved","alerts":[{"status":"resolved","labels":{"":""},"startsAt":"0001-01-01T00:00:01Z"}]}`,
	} {
		f.Add([]byte(s))
	}
	sink := &checkingSink{}
	ts := newTestServer(f, Options{Sink: sink, MaxBodyBytes: 1 << 16, Logger: slog.New(slog.DiscardHandler)})

	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/webhook", strings.NewReader(string(body)))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		ts.e.ServeHTTP(w, r)

		got, errs := sink.reset()
		for _, e := range errs {
			t.Errorf("sink was handed an invalid notification: %s", e)
		}
		switch {
		case w.Code == http.StatusOK:
			if got != 1 {
				t.Errorf("200 but the sink was called %d times", got)
			}
		case w.Code == http.StatusBadRequest || w.Code == http.StatusRequestEntityTooLarge:
			if got != 0 {
				t.Errorf("%d but the sink was called %d times", w.Code, got)
			}
			var e struct{ Error string }
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Errorf("%d answer is not {\"error\": ...}: %q", w.Code, w.Body)
			}
		default:
			t.Errorf("unexpected answer %d: %s", w.Code, w.Body)
		}
	})
}
