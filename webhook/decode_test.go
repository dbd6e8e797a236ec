package webhook

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// Decode refuses what POST /webhook refuses, with the message of the 400
// answer, and accepts what it accepts, fingerprints filled in.
func TestDecodeAgreesWithTheHandler(t *testing.T) {
	ts := newTestServer(t, Options{MaxBodyBytes: 1 << 20})
	for _, tc := range []struct {
		name string
		body string
	}{
		{"empty", ""},
		{"cut short", `{"version":"4",`},
		{"malformed", `{"version":"4" "status":"firing"}`},
		{"wrong type", `{"version":"4","status":"firing","alerts":[{"labels":{"a":1}}]}`},
		{"version 3", body(t, func(m *Message) { m.Version = "3" })},
		{"no startsAt", body(t, func(m *Message) { m.Alerts[1].StartsAt = time.Time{} })},
		{"bad status", body(t, func(m *Message) { m.Alerts[0].Status = "pending" })},
		{"bad fingerprint", body(t, func(m *Message) { m.Alerts[0].Fingerprint = "XYZ" })},
		{"no alerts", body(t, func(m *Message) { m.Alerts = nil })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := ts.do(t, request{body: tc.body})
			if w.Code != http.StatusBadRequest {
				t.Fatalf("the handler answered %d, want 400", w.Code)
			}
			want := errorText(t, w)
			msg, err := Decode(strings.NewReader(tc.body), 1<<20)
			if err == nil || err.Error() != want {
				t.Errorf("Decode: %v, %v\nwant the handler's error %q", msg, err, want)
			}
		})
	}

	msg, err := Decode(strings.NewReader(body(t, nil)), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range msg.Alerts {
		if a.Fingerprint != Fingerprint(a.Labels) || len(a.Fingerprint) != 16 {
			t.Errorf("alerts[%d].fingerprint = %q, want Alertmanager's %q", i, a.Fingerprint, Fingerprint(a.Labels))
		}
	}
	valid := body(t, nil)
	if _, err := Decode(strings.NewReader(valid), int64(len(valid))); err != nil {
		t.Errorf("a body of exactly the limit: %v", err)
	}
	if _, err := Decode(strings.NewReader(valid), int64(len(valid))-1); err == nil || !strings.Contains(err.Error(), "larger than the limit") {
		t.Errorf("a body over the limit: %v", err)
	}
}
