package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/internal/testcluster"
	"github.com/alertmedic/alertmedic/internal/testlog"
)

var cluster *testcluster.Cluster

func TestMain(m *testing.M) { testcluster.Main(m, "these tests", &cluster) }

// serving is one 'alertmedic serve' run in-process.
type serving struct {
	url    string
	token  string
	stderr *testlog.Buffer
	cancel context.CancelFunc
	done   chan struct{} // closed when serve has returned
	code   int
}

// stop sends the server SIGTERM (cancels its context) and waits for it.
func (s *serving) stop(t testing.TB) {
	t.Helper()
	s.cancel()
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("alertmedic serve did not stop within 20s of SIGTERM")
	}
}

func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// startServe runs 'alertmedic serve' with args added to a working default
// set, and waits until /healthz answers.
func startServe(t testing.TB, kubeconfig string, args ...string) *serving {
	t.Helper()
	dir := t.TempDir()
	token := "test-token-" + strings.ReplaceAll(t.Name(), "/", "-")
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	full := append([]string{"serve", "--listen", addr, "--kubeconfig", kubeconfig,
		"--token-file", tokenFile, "--log.format", "logfmt", "--shutdown-timeout", "10s",
		"--namespace", recordsNamespace(t), "--identity", "replica-" + addr,
		"--leader-elect-retry-period", "500ms"}, args...)
	ctx, cancel := context.WithCancel(t.Context())
	s := &serving{url: "http://" + addr, token: token, stderr: &testlog.Buffer{}, cancel: cancel, done: make(chan struct{})}
	go func() { s.code = run(ctx, full, io.Discard, s.stderr); close(s.done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(20 * time.Second):
			t.Errorf("alertmedic serve did not stop within 20s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("alertmedic log:\n%s", s.stderr.String())
		}
	})
	waitFor(t, "alertmedic /healthz", func() bool {
		select {
		case <-s.done:
			t.Fatalf("alertmedic serve exited with %d:\n%s", s.code, s.stderr.String())
		default:
		}
		resp, err := http.Get(s.url + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return s
}

func (s *serving) post(t testing.TB, token string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.url+"/webhook", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /webhook: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (s *serving) get(t testing.TB, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(s.url + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var waitFor = testcluster.WaitFor

func kubeconfig(t testing.TB) string {
	t.Helper()
	path, err := cluster.Kubeconfig(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// recordsNamespace creates a namespace for the records of one test (once per
// test run: servers of the same test share it, as replicas do).
func recordsNamespace(t testing.TB) string {
	t.Helper()
	recordsMu.Lock()
	defer recordsMu.Unlock()
	if ns, ok := recordsNS[t]; ok {
		return ns
	}
	ns := fmt.Sprintf("alertmedic-%d", time.Now().UnixNano()%1_000_000_000)
	if _, err := cluster.Client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	recordsNS[t] = ns
	return ns
}

var (
	recordsMu sync.Mutex
	recordsNS = map[testing.TB]string{} // by test, not name: -count=N runs a name N times
)

// seedDemo creates the demo's workloads (examples/demo) in a fresh namespace.
func seedDemo(t testing.TB, ns string) {
	t.Helper()
	ctx := t.Context()
	repl := map[string]string{"namespace: shop": "namespace: " + ns, "name: shop\n": "name: " + ns + "\n"}
	if err := cluster.ApplyFile(ctx, "../../examples/demo/checkout.yaml", repl); err != nil {
		t.Fatalf("apply checkout.yaml: %v", err)
	}
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx, "checkout", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	repl["DEPLOYMENT_UID"] = string(d.UID)
	if err := cluster.ApplyFile(ctx, "../../examples/demo/replicasets.yaml.tmpl", repl); err != nil {
		t.Fatalf("apply replicasets: %v", err)
	}
}

// demoNotification is examples/demo/notification.json aimed at namespace ns.
func demoNotification(t testing.TB, ns string) []byte {
	t.Helper()
	b, err := os.ReadFile("../../examples/demo/notification.json")
	if err != nil {
		t.Fatal(err)
	}
	return bytes.ReplaceAll(b, []byte(`"namespace": "shop"`), []byte(`"namespace": "`+ns+`"`))
}
