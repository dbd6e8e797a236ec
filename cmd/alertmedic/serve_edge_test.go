package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alertmedic/alertmedic/internal/server"
	"github.com/alertmedic/alertmedic/internal/testhttp"
	"github.com/alertmedic/alertmedic/internal/testlog"
)

// The HTTP edge of 'alertmedic serve' under slow, wrong or hostile clients.

var (
	trickleTo  = testhttp.Trickle
	selfSigned = testhttp.SelfSigned
)

func TestServeSlowClients(t *testing.T) {
	s := startServe(t, kubeconfig(t), "--rules", "../../examples/rules/demo.yaml", "--http-read-timeout", "3s")
	addr := strings.TrimPrefix(s.url, "http://")
	body := demoNotification(t, "slow-client")[:40] // 40 seconds at 1 byte/s

	resp, finished := trickleTo(t, addr, "Authorization: Bearer wrong\r\nContent-Type: application/json\r\n", body)
	resp.Body.Close()
	if resp.StatusCode != 401 || finished.Load() {
		t.Errorf("wrong token with a slow body: %d, after the whole body: %v; want 401 before the body", resp.StatusCode, finished.Load())
	}

	resp, finished = trickleTo(t, addr, "Authorization: Bearer "+s.token+"\r\nContent-Type: application/json\r\n", body)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(b), "did not arrive within alertmedic's read timeout") {
		t.Errorf("slow body: %d %s; want 503 saying the body did not arrive in time", resp.StatusCode, b)
	}
	if finished.Load() {
		t.Errorf("the slow body was read to its end: --http-read-timeout did not cut it off")
	}
}

// Alertmanager's http_config.basic_auth (password_file) is accepted when
// serve is given the same pair; the bearer token still works alongside.
func TestServeBasicAuth(t *testing.T) {
	dir := t.TempDir()
	passFile := filepath.Join(dir, "password")
	if err := os.WriteFile(passFile, []byte("pa55-word\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, kubeconfig(t), "--rules", "../../examples/rules/demo.yaml",
		"--basic-auth-user", "alertmanager", "--basic-auth-password-file", passFile)
	post := func(user, pass string) (int, string) {
		req, err := http.NewRequest(http.MethodPost, s.url+"/webhook", strings.NewReader(string(demoNotification(t, "basic-auth"))))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.SetBasicAuth(user, pass)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitFor(t, "/readyz", func() bool { code, _ := s.get(t, "/readyz"); return code == 200 })
	if code, body := post("alertmanager", "pa55-word"); code != 200 {
		t.Errorf("right basic credentials: %d %s, want 200", code, body)
	}
	if code, body := post("alertmanager", "wrong"); code != 401 || !strings.Contains(body, "invalid basic credentials") {
		t.Errorf("wrong password: %d %s, want 401", code, body)
	}
	if code, body := s.post(t, s.token, demoNotification(t, "basic-auth")); code != 200 {
		t.Errorf("bearer token beside basic auth: %d %s, want 200", code, body)
	}
	if strings.Contains(s.stderr.String(), "pa55-word") {
		t.Errorf("the password appears in the log")
	}
}

func TestServeBasicAuthErrors(t *testing.T) {
	dir := t.TempDir()
	passFile := filepath.Join(dir, "password")
	if err := os.WriteFile(passFile, []byte("pa55-word\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(server.TokenEnv, "")
	t.Setenv(server.BasicAuthUserEnv, "")
	t.Setenv(server.BasicAuthPasswordEnv, "")
	for _, tc := range []struct {
		name string
		args []string
		env  string
		want string
	}{
		{"user without password", []string{"--basic-auth-user", "am"}, "", `--basic-auth-user "am" needs a password: set --basic-auth-password-file or $ALERTMEDIC_WEBHOOK_BASIC_AUTH_PASSWORD`},
		{"password without user", []string{"--basic-auth-password-file", passFile}, "", "a basic-auth password is set but no username: set --basic-auth-user or $ALERTMEDIC_WEBHOOK_BASIC_AUTH_USER"},
		{"password from the environment, no user", nil, "pa55-word", "a basic-auth password is set but no username"},
		{"no credentials at all", nil, "", "no webhook token: set --token-file or $ALERTMEDIC_WEBHOOK_TOKEN, or --basic-auth-user and --basic-auth-password-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(server.BasicAuthPasswordEnv, tc.env)
			var stderr testlog.Buffer
			args := append([]string{"serve", "--rules", "../../examples/rules/demo.yaml", "--kubeconfig", kubeconfig(t)}, tc.args...)
			if code := run(t.Context(), args, &stderr, &stderr); code != 1 || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", code, stderr.String(), tc.want)
			}
		})
	}
}

func TestServeTimeoutFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--http-read-timeout", "0s"}, "serve: --http-read-timeout 0s: must be positive"},
		{[]string{"--kube-api-timeout", "-1s"}, "serve: --kube-api-timeout -1s: must be positive"},
		{[]string{"--accept-timeout", "30s"}, "serve: --http-write-timeout 30s must be longer than --accept-timeout 30s"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stderr testlog.Buffer
			args := append([]string{"serve", "--rules", "x"}, tc.args...)
			if code := run(t.Context(), args, &stderr, &stderr); code != 2 || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr.String(), tc.want)
			}
		})
	}
}

// Started with a records namespace that does not exist, serve refuses to
// start and says what to create, rather than answering every notification
// 503.
func TestServeMissingRecordsNamespace(t *testing.T) {
	ns := uniqueNamespace("no-such-namespace")
	var stderr testlog.Buffer
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--rules", "../../examples/rules/demo.yaml", "--insecure-no-auth",
			"--listen", freePort(t), "--kubeconfig", kubeconfig(t), "--namespace", ns}, &stderr, &stderr)
	}()
	var code int
	select {
	case code = <-done:
	case <-time.After(time.Minute):
		cancel()
		<-done
		t.Fatalf("serve kept running without its records namespace %s:\n%s", ns, stderr.String())
	}
	want := fmt.Sprintf(`the records namespace %q does not exist: create it with 'kubectl create namespace %s'`, ns, ns)
	if code != 1 || !strings.Contains(stderr.String(), want) {
		t.Errorf("exit %d, stderr:\n%s\nwant 1 and %q", code, stderr.String(), want)
	}
}

// Over TLS, a renewed certificate is served without a restart, and the
// serving http.Server's own errors (a failed handshake) reach the log.
func TestServeTLSReloadAndErrorLog(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	first := selfSigned(t, certFile, keyFile)
	addr := freePort(t)
	var stderr testlog.Buffer
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--rules", "../../examples/rules/demo.yaml", "--insecure-no-auth",
			"--listen", addr, "--kubeconfig", kubeconfig(t), "--namespace", recordsNamespace(t), "--log.format", "logfmt",
			"--no-leader-elect", "--tls-cert-file", certFile, "--tls-key-file", keyFile}, &stderr, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("alertmedic log:\n%s", stderr.String())
		}
	})
	serial := func() *big.Int {
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			return nil
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber
	}
	waitFor(t, "alertmedic serving TLS", func() bool { return serial() != nil })
	if got := serial(); got.Cmp(first) != 0 {
		t.Fatalf("serial %v, want the first certificate's %v", got, first)
	}
	second := selfSigned(t, certFile, keyFile)
	if got := serial(); got.Cmp(second) != 0 {
		t.Errorf("after the files were replaced: serial %v, want the new certificate's %v", got, second)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := client.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET /healthz over TLS = %d", resp.StatusCode)
	}

	// A client that offers only TLS 1.1 fails the handshake; net/http logs
	// that through the server's ErrorLog.
	if conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}); err == nil {
		conn.Close()
		t.Errorf("a TLS 1.1 handshake succeeded")
	}
	waitFor(t, "the handshake error in the log", func() bool {
		for _, line := range strings.Split(stderr.String(), "\n") {
			if strings.Contains(line, "level=WARN ") && strings.Contains(line, ` msg="http: TLS handshake error from 127.0.0.1:`) {
				return true
			}
		}
		return false
	})
}

// A normal SIGTERM (serve's context cancelled) logs no ERROR line, and
// serve exits 0.
func TestServeSIGTERMLogsNoError(t *testing.T) {
	// The demo's workloads exist, so that the actions, whether they run
	// before the SIGTERM or are cut short by it, have nothing to fail on.
	ns := uniqueNamespace("sigterm")
	seedDemo(t, ns)
	rulesFile := filepath.Join(t.TempDir(), "rules.yaml")
	writeRules(t, rulesFile, ns)
	s := startServe(t, kubeconfig(t), "--rules", rulesFile)
	waitFor(t, "/readyz", func() bool { code, _ := s.get(t, "/readyz"); return code == 200 })
	waitFor(t, "the Lease", func() bool { return metricValue(t, s, "alertmedic_leader") == "1" })
	if code, body := s.post(t, s.token, demoNotification(t, ns)); code != 200 {
		t.Fatalf("POST = %d %s", code, body)
	}
	s.stop(t)
	if s.code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", s.code)
	}
	for _, line := range strings.Split(s.stderr.String(), "\n") {
		if strings.Contains(line, "level=ERROR") {
			t.Errorf("ERROR logged on a normal SIGTERM: %s", line)
		}
	}
	if !strings.Contains(s.stderr.String(), `msg=stopped`) {
		t.Errorf("the log does not end with stopped:\n%s", s.stderr.String())
	}
}
