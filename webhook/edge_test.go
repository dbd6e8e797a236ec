package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"

	"github.com/alertmedic/alertmedic/internal/testhttp"
	"github.com/alertmedic/alertmedic/internal/testlog"
)

// A request refused on its headers is answered before its body has arrived:
// a wrong token costs the sender its connection, not the server a goroutine
// waiting on a trickling body.
func TestRefusedBeforeTheBody(t *testing.T) {
	ts := newTestServer(t, Options{BearerToken: "s3cret", MaxBodyBytes: 30})
	srv := httptest.NewServer(ts.e)
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	// 35 bytes: 35 seconds to send.
	body := []byte(strings.Repeat(" ", 20) + `{"version":"4"}`)
	for _, tc := range []struct {
		name, header string
		want         int
	}{
		{"wrong token", "Authorization: Bearer wrong\r\nContent-Type: application/json\r\n", 401},
		{"no token", "Content-Type: application/json\r\n", 401},
		{"wrong content type", "Authorization: Bearer s3cret\r\nContent-Type: text/plain\r\n", 415},
		{"declared length over the limit", "Authorization: Bearer s3cret\r\nContent-Type: application/json\r\n", 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, finished := trickle(t, addr, tc.header, body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("answer %d, want %d", resp.StatusCode, tc.want)
			}
			if finished.Load() {
				t.Errorf("the answer came only after the whole body (%d bytes at 1 byte/s) was sent", len(body))
			}
			if !resp.Close {
				t.Errorf("the connection is kept open after a refusal with the body unread")
			}
		})
	}
	if calls, _ := ts.sink.snapshot(); calls != 0 {
		t.Errorf("sink called %d times", calls)
	}
}

// blockingSink stands for an engine whose API server does not answer: it
// returns only when its context ends.
type blockingSink struct{ deadline chan time.Time }

func (s *blockingSink) Accept(ctx context.Context, _ *Message) error {
	d, _ := ctx.Deadline()
	s.deadline <- d
	select {
	case <-ctx.Done():
		return fmt.Errorf("create remediation: %w", ctx.Err())
	case <-time.After(time.Minute):
		return errors.New("Accept was not given a deadline")
	}
}

func TestAcceptBoundedByDeadline(t *testing.T) {
	sink := &blockingSink{deadline: make(chan time.Time, 1)}
	ts := newTestServer(t, Options{Sink: sink, AcceptTimeout: time.Second})
	start := time.Now()
	w := ts.do(t, request{body: body(t, nil)})
	if w.Code != 503 {
		t.Fatalf("code = %d, want 503; body %s", w.Code, w.Body)
	}
	want := "alertmedic could not record the notification within 1s (the Kubernetes API server is slow or unreachable), Alertmanager will retry"
	if got := errorText(t, w); got != want {
		t.Errorf("error =\n  %s\nwant\n  %s", got, want)
	}
	if got := w.Header().Get("Retry-After"); got != "10" {
		t.Errorf("Retry-After = %q, want 10", got)
	}
	end := time.Now()
	if d := <-sink.deadline; d.IsZero() || d.Sub(start) < time.Second || d.After(end) {
		t.Errorf("Accept's deadline %v: want the accept timeout (1s) after the request came (%v), before the answer (%v)", d, start, end)
	}
	if !strings.Contains(ts.logs.String(), `msg="notification not accepted in time"`) {
		t.Errorf("log does not say the notification was not accepted in time:\n%s", ts.logs)
	}
}

// Invalid UTF-8 in a string is replaced by U+FFFD by the JSON decoder and
// the notification is accepted: Alertmanager itself only holds valid UTF-8
// labels, so such bytes come from another sender, and the replaced value
// can match only rules written for it.
func TestInvalidUTF8IsReplaced(t *testing.T) {
	ts := newTestServer(t, Options{})
	b := strings.Replace(body(t, nil), `"deployment":"checkout"`, "\"deployment\":\"check\xffout\"", 1)
	w := ts.do(t, request{body: b})
	if w.Code != 200 {
		t.Fatalf("code = %d, want 200; body %s", w.Code, w.Body)
	}
	_, accepted := ts.sink.snapshot()
	if got := accepted[0].Alerts[0].Labels["deployment"]; got != "check\uFFFDout" {
		t.Errorf("label = %q, want %q", got, "check\uFFFDout")
	}
	if fp := accepted[0].Alerts[0].Fingerprint; fp != Fingerprint(template.KV{"alertname": "KubePodCrashLooping", "namespace": "shop", "deployment": "check\uFFFDout"}) {
		t.Errorf("fingerprint %s is not that of the replaced labels", fp)
	}
}

var (
	trickle    = testhttp.Trickle
	selfSigned = testhttp.SelfSigned
)

// servedSerial makes a TLS handshake with addr and returns the serial number
// of the certificate it was shown.
func servedSerial(t *testing.T, addr string) *big.Int {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber
}

func TestKeyPairReloadsWhenTheFilesChange(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	first := selfSigned(t, certFile, keyFile)
	logs := &testlog.Buffer{}
	kp, err := LoadKeyPair(certFile, keyFile, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler(), TLSConfig: kp.TLSConfig(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	defer srv.Close()
	addr := ln.Addr().String()

	if got := servedSerial(t, addr); got.Cmp(first) != 0 {
		t.Fatalf("served serial %v, want the first certificate's %v", got, first)
	}
	second := selfSigned(t, certFile, keyFile)
	if got := servedSerial(t, addr); got.Cmp(second) != 0 {
		t.Fatalf("after the files changed: served serial %v, want the second certificate's %v", got, second)
	}
	if !strings.Contains(logs.String(), "TLS certificate reloaded") {
		t.Errorf("the reload is not logged:\n%s", logs)
	}

	// A rotation caught half-way (new certificate, old key) keeps the pair
	// that works, says so once, and takes the new pair once it is whole.
	keyOfSecond, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	selfSigned(t, certFile, keyFile)
	if err := os.WriteFile(keyFile, keyOfSecond, 0o600); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if got := servedSerial(t, addr); got.Cmp(second) != 0 {
			t.Fatalf("with a certificate and key that do not match: served %v, want still the second %v", got, second)
		}
	}
	if n := strings.Count(logs.String(), "do not load"); n != 1 {
		t.Errorf("the half-written pair is reported %d times, want once:\n%s", n, logs)
	}
	third := selfSigned(t, certFile, keyFile)
	if got := servedSerial(t, addr); got.Cmp(third) != 0 {
		t.Fatalf("after the pair is whole again: served %v, want %v", got, third)
	}
}

func TestLoadKeyPairErrors(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if _, err := LoadKeyPair(certFile, keyFile, nil); err == nil || !strings.Contains(err.Error(), "tls.crt: no such file") {
		t.Errorf("missing files: err = %v", err)
	}
	selfSigned(t, certFile, keyFile)
	if err := os.WriteFile(keyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyPair(certFile, keyFile, nil); err == nil || !strings.Contains(err.Error(), "tls: load "+certFile+" and "+keyFile) {
		t.Errorf("bad key: err = %v", err)
	}
}
