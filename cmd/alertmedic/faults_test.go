package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/prometheus/alertmanager/template"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/faultproxy"
)

// Fault tests: alertmedic serve talks to the real API server through a
// proxy that delays, fails, cuts connections, or applies a write and loses
// its answer. Every check reads the API server directly, not through the
// proxy.

// proxied starts a fault proxy in front of the test API server and returns
// it with a kubeconfig that points at it.
func proxied(t *testing.T) (*faultproxy.Proxy, string) {
	t.Helper()
	p, err := faultproxy.Start(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["proxy"] = &clientcmdapi.Cluster{Server: p.Config().Host}
	cfg.AuthInfos["proxy"] = &clientcmdapi.AuthInfo{}
	cfg.Contexts["proxy"] = &clientcmdapi.Context{Cluster: "proxy", AuthInfo: "proxy"}
	cfg.CurrentContext = "proxy"
	path := filepath.Join(t.TempDir(), "proxy.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return p, path
}

// demoRules are the demo's three actions, as rules: restart cart, scale
// checkout by +2, roll checkout back to the previous revision.
func demoRules(t *testing.T) string {
	t.Helper()
	text := `rules:
  - name: restart-crashlooping
    match: ['alertname="KubePodCrashLooping"']
    target: {kind: Deployment, namespace: '{{ .Labels.namespace }}', name: '{{ .Labels.deployment }}'}
    action: restart
    verify: {rollout: false} # this cluster runs no controllers: no rollout to see converge
  - name: scale-on-latency
    match: ['alertname="CheckoutLatencyHigh"']
    target: {kind: Deployment, namespace: '{{ .Labels.namespace }}', name: '{{ .Labels.deployment }}'}
    action: scale
    verify: {rollout: false} # this cluster runs no controllers: no rollout to see converge
    scale: {replicas: "+2"}
  - name: rollback-on-errors
    match: ['alertname="CheckoutErrorRateHigh"']
    target: {kind: Deployment, namespace: '{{ .Labels.namespace }}', name: '{{ .Labels.deployment }}'}
    action: rollback
    verify: {rollout: false} # this cluster runs no controllers: no rollout to see converge
`
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// eventCount counts the Events of ns with the given reason on name.
func eventCount(t testing.TB, ns, name, reason string) int {
	t.Helper()
	n := 0
	for _, e := range events(t, ns) {
		if e.InvolvedObject.Name == name && e.Reason == reason {
			n++
		}
	}
	return n
}

// Each action of the demo (restart, scale by +2, rollback to the previous
// revision) sends a write that reaches the API server and is applied, but
// whose answer is lost:
// a 504, or the connection cut. Each target changes exactly once, each
// record says it was applied by the attempt whose answer was lost, and each
// action has one Event.
func TestFaultWriteAppliedAnswerLost(t *testing.T) {
	for _, lost := range []struct {
		name  string
		after faultproxy.AfterFault
	}{{"504", faultproxy.Answer504}, {"cut", faultproxy.DropAnswer}} {
		t.Run(lost.name, func(t *testing.T) {
			proxy, kc := proxied(t)
			ns := uniqueNamespace("faults")
			seedDemo(t, ns)
			proxy.Add(faultproxy.Rule{Name: "restart", Method: http.MethodPatch, Path: "/deployments/cart", After: lost.after, Times: 1})
			proxy.Add(faultproxy.Rule{Name: "scale", Method: http.MethodPut, Path: "/deployments/checkout/scale", After: lost.after, Times: 1})
			proxy.Add(faultproxy.Rule{Name: "rollback", Method: http.MethodPatch, Path: "/deployments/checkout", After: lost.after, Times: 1})
			s := startServe(t, kc, "--rules", demoRules(t), "--retry-backoff", "500ms")
			// One at a time: scale and rollback both change checkout, and a
			// write of one that the other has overtaken is answered with a
			// conflict, which the lost answer hides. That case ends as
			// OutcomeUnknown, acting no further (remediations'
			// TestLostAnswerOnAMovedTarget).
			start := time.Now().Add(-time.Minute)
			for i, a := range []string{"KubePodCrashLooping/cart", "CheckoutLatencyHigh/checkout", "CheckoutErrorRateHigh/checkout"} {
				name, target, _ := strings.Cut(a, "/")
				mustPost(t, s, notification(t, a, firing(name, ns, target, start)))
				waitFor(t, a+" to finish", allFinal(t, recordsNamespace(t), i+1))
			}

			for _, r := range recordsIn(t, recordsNamespace(t)) {
				st := r.Status
				if st.Phase != v1alpha1.PhaseSucceeded || !strings.Contains(st.Message, "applied by attempt 1") || st.Attempts != 2 || st.Write != nil {
					t.Errorf("%s %s: status = %s %s %q after %d attempts, want Succeeded as applied by attempt 1, settled by attempt 2",
						r.Spec.Action, r.Spec.TargetRef, st.Phase, st.Reason, st.Message, st.Attempts)
				}
			}
			for _, name := range []string{"restart", "scale", "rollback"} {
				if n := proxy.Hits(name); n != 1 {
					t.Errorf("the %s fault hit %d writes, want 1", name, n)
				}
			}
			apps := cluster.Client.AppsV1().Deployments(ns)
			checkout, err := apps.Get(t.Context(), "checkout", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if *checkout.Spec.Replicas != 4 {
				t.Errorf("checkout replicas = %d, want 4 (2, +2 once)", *checkout.Spec.Replicas)
			}
			if img := checkout.Spec.Template.Spec.Containers[0].Image; !strings.HasSuffix(img, ":v1") {
				t.Errorf("checkout image = %s, want v1 (rolled back once)", img)
			}
			for _, ev := range []struct{ name, reason string }{
				{"cart", "AlertmedicRestart"}, {"checkout", "AlertmedicScale"}, {"checkout", "AlertmedicRollback"},
			} {
				if n := eventCount(t, ns, ev.name, ev.reason); n != 1 {
					t.Errorf("%s Events on %s = %d, want 1", ev.reason, ev.name, n)
				}
			}
		})
	}
}

// The API server fails the restart three times: the attempts are spread
// over the documented backoff (1s, doubled each time), not spent at once.
func TestFaultRetriesKeepTheirBackoff(t *testing.T) {
	proxy, kc := proxied(t)
	ns := deployments(t, 1)
	var (
		mu       sync.Mutex
		attempts []time.Time
	)
	proxy.Add(faultproxy.Rule{Name: "patch", Method: http.MethodPatch, Path: "/deployments/app-0", Match: func(*http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		attempts = append(attempts, time.Now())
		return len(attempts) <= 3
	}, Status: http.StatusServiceUnavailable})
	s := startServe(t, kc, "--rules", restartRules(t, ""), "--retry-backoff", "1s", "--max-attempts", "5")
	mustPost(t, s, notification(t, "g", crashLooping(ns, "app-0", time.Now().Add(-time.Minute))))
	waitFor(t, "the record to finish", allFinal(t, recordsNamespace(t), 1))
	if got := byPhase(t, recordsNamespace(t)); got["Succeeded/Restarted"] != 1 {
		t.Fatalf("records = %v, want one Succeeded", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(attempts) != 4 {
		t.Fatalf("restart writes = %d, want 4 (3 refused, 1 applied)", len(attempts))
	}
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		if gap := attempts[i+1].Sub(attempts[i]); gap < want {
			t.Errorf("attempt %d came %v after attempt %d, want at least the backoff %v", i+2, gap, i+1, want)
		}
	}
	if n := restartEvents(t, ns, "app-0"); n != 1 {
		t.Errorf("restart Events = %d, want 1", n)
	}
}

// The API server goes away while an accepted episode waits for its retry,
// and comes back. Meanwhile alertmedic is not ready and refuses new work
// with 503 (Alertmanager retries it); afterwards every accepted episode is
// acted on exactly once.
func TestFaultAPIServerGoneAndBack(t *testing.T) {
	proxy, kc := proxied(t)
	ns := deployments(t, 2)
	proxy.Add(faultproxy.Rule{Name: "first", Method: http.MethodPatch, Path: "/deployments/app-0", Status: http.StatusServiceUnavailable, Times: 1})
	s := startServe(t, kc, "--rules", restartRules(t, ""), "--retry-backoff", "2s")
	mustPost(t, s, notification(t, "a", crashLooping(ns, "app-0", time.Now().Add(-time.Minute))))
	rns := recordsNamespace(t)
	waitFor(t, "the first attempt to fail", func() bool {
		recs := recordsIn(t, rns)
		return len(recs) == 1 && recs[0].Status.Reason == "Retrying"
	})

	proxy.Down()
	waitFor(t, "alertmedic to report not ready", func() bool { code, _ := s.get(t, "/readyz"); return code == http.StatusServiceUnavailable })
	later := notification(t, "b", crashLooping(ns, "app-1", time.Now().Add(-time.Minute)))
	if code, body := s.post(t, s.token, later); code != http.StatusServiceUnavailable {
		t.Errorf("a notification while the API server is gone: %d %s, want 503", code, body)
	}
	if err := proxy.Up(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alertmedic to be ready again", func() bool { code, _ := s.get(t, "/readyz"); return code == http.StatusOK })
	mustPost(t, s, later) // Alertmanager's retry
	waitFor(t, "both records to finish", allFinal(t, rns, 2))
	if got := byPhase(t, rns); got["Succeeded/Restarted"] != 2 {
		t.Errorf("records = %v, want two Succeeded", got)
	}
	for _, d := range []string{"app-0", "app-1"} {
		if n := restartEvents(t, ns, d); n != 1 {
			t.Errorf("restart Events on %s = %d, want 1", d, n)
		}
	}
}

// SIGTERM arrives while a restart's write is on its way: the action
// finishes and is recorded before alertmedic exits, and the next leader
// does nothing more.
func TestFaultSIGTERMDuringAnAction(t *testing.T) {
	proxy, kc := proxied(t)
	ns := deployments(t, 1)
	seen := make(chan struct{})
	var once sync.Once
	proxy.Add(faultproxy.Rule{Name: "slow", Method: http.MethodPatch, Path: "/deployments/app-0", Delay: 2 * time.Second, Times: 1,
		Match: func(*http.Request) bool { once.Do(func() { close(seen) }); return true }})
	rules := restartRules(t, "")
	s := startServe(t, kc, "--rules", rules)
	mustPost(t, s, notification(t, "a", crashLooping(ns, "app-0", time.Now().Add(-time.Minute))))
	select {
	case <-seen:
	case <-time.After(30 * time.Second):
		t.Fatal("the restart was never sent")
	}
	s.stop(t)
	rns := recordsNamespace(t)
	if got := byPhase(t, rns); got["Succeeded/Restarted"] != 1 {
		t.Errorf("after SIGTERM the records are %v, want the action finished and recorded", got)
	}
	if strings.Contains(s.stderr.String(), "level=ERROR") {
		t.Errorf("a normal SIGTERM logged an error:\n%s", s.stderr.String())
	}
	next := startServe(t, kubeconfig(t), "--rules", rules)
	waitFor(t, "the next replica to lead", func() bool { return metricValue(t, next, "alertmedic_leader") == "1" })
	if n := restartEvents(t, ns, "app-0"); n != 1 {
		t.Errorf("restart Events = %d, want 1", n)
	}
	if got := byPhase(t, rns); got["Succeeded/Restarted"] != 1 || len(got) != 1 {
		t.Errorf("records = %v, want one Succeeded", got)
	}
}

// Every API call takes seconds: the webhook still answers within its
// deadline (503, so Alertmanager retries) instead of holding Alertmanager,
// and once the API server is fast again the retried notification is
// recorded and acted on once: nothing is wedged.
func TestFaultSlowAPIServer(t *testing.T) {
	proxy, kc := proxied(t)
	ns := deployments(t, 1)
	s := startServe(t, kc, "--rules", restartRules(t, ""), "--accept-timeout", "1s")
	waitFor(t, "alertmedic to lead", func() bool { return metricValue(t, s, "alertmedic_leader") == "1" })
	slow := proxy.Add(faultproxy.Rule{Name: "slow", Kind: faultproxy.NoWatch, Delay: 4 * time.Second})
	body := notification(t, "a", crashLooping(ns, "app-0", time.Now().Add(-time.Minute)))
	code, answer := s.post(t, s.token, body)
	if code != http.StatusServiceUnavailable {
		t.Errorf("a notification while every API call takes 4s: %d %s, want 503 at the accept deadline", code, answer)
	}
	if proxy.Hits("slow") == 0 {
		t.Fatal("the delay never applied: the test proves nothing")
	}
	slow()
	// Alertmanager's retries, until one is taken (a check of the API
	// server still on its way when the delay ends may refuse one more).
	waitFor(t, "a retried notification to be accepted", func() bool { code, _ := s.post(t, s.token, body); return code == http.StatusOK })
	rns := recordsNamespace(t)
	waitFor(t, "the record to finish", allFinal(t, rns, 1))
	if got := byPhase(t, rns); got["Succeeded/Restarted"] != 1 {
		t.Errorf("records = %v, want one Succeeded", got)
	}
	if n := restartEvents(t, ns, "app-0"); n != 1 {
		t.Errorf("restart Events = %d, want 1", n)
	}
}

// While the leader renews the Lease, readiness probes (the kubelet's,
// every 5 s in the manifests) and notifications that need a record ask
// the API server nothing more: every replica hears of the renewals, the
// standby on its watch of the Lease. A replica that hears of none (no
// Lease: --no-leader-elect) asks, as before.
func TestReadinessAsksNothingWhileTheLeaseIsRenewed(t *testing.T) {
	proxy, kc := proxied(t)
	ns := deployments(t, 1)
	rules := restartRules(t, "")
	a := startServe(t, kc, "--rules", rules)
	b := startServe(t, kc, "--rules", rules)
	waitFor(t, "one replica to lead", func() bool {
		return metricValue(t, a, "alertmedic_leader") == "1" || metricValue(t, b, "alertmedic_leader") == "1"
	})
	for _, s := range []*serving{a, b} {
		waitFor(t, "/readyz", func() bool { code, _ := s.get(t, "/readyz"); return code == http.StatusOK })
	}
	readyz := func(from int) (n int) {
		for _, r := range proxy.Requests()[from:] {
			if r.Path == "/readyz" {
				n++
			}
		}
		return n
	}
	from := len(proxy.Requests())
	for range 10 { // 3 s, longer than the probe's own 2 s cache
		for _, s := range []*serving{a, b} {
			if code, body := s.get(t, "/readyz"); code != http.StatusOK {
				t.Fatalf("/readyz = %d %s", code, body)
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	body := notification(t, "a", crashLooping(ns, "app-0", time.Now().Add(-time.Minute)))
	for _, s := range []*serving{a, b} { // Alertmanager's HA pair
		mustPost(t, s, body)
	}
	rns := recordsNamespace(t)
	waitFor(t, "the record to finish", allFinal(t, rns, 1))
	if got := byPhase(t, rns); got["Succeeded/Restarted"] != 1 {
		t.Errorf("records = %v, want one Succeeded", got)
	}
	if n := readyz(from); n != 0 {
		t.Errorf("the API server's /readyz asked %d times by replicas hearing the Lease renewed, want 0", n)
	}

	alone := startServe(t, kc, "--rules", rules, "--no-leader-elect")
	from = len(proxy.Requests())
	for range 2 {
		if code, body := alone.get(t, "/readyz"); code != http.StatusOK {
			t.Fatalf("/readyz = %d %s", code, body)
		}
		time.Sleep(2500 * time.Millisecond) // past the probe's cache
	}
	if n := readyz(from); n == 0 {
		t.Errorf("the API server's /readyz not asked by a replica without a Lease: the count above cannot see a probe")
	}
}

// A storm of new alerts keeps the client's rate limit for recording them
// full for as long as it lasts; the actions on what was recorded do not
// wait behind it. With a limit of 4 requests a second and 40 records to
// make (10 s), the first record's action (5 requests) is done while three
// quarters of the others are not even recorded yet.
func TestActionsDoNotWaitBehindAStormsRecords(t *testing.T) {
	const n = 40
	ns := deployments(t, n)
	s := startServe(t, kubeconfig(t), "--rules", restartRules(t, ""),
		"--kube-api-qps", "4", "--kube-api-burst", "1", "--accept-timeout", "60s", "--http-write-timeout", "90s")
	waitFor(t, "leadership", func() bool { return metricValue(t, s, "alertmedic_leader") == "1" })
	alerts := make([]template.Alert, n)
	for i := range alerts {
		alerts[i] = crashLooping(ns, fmt.Sprintf("app-%d", i), time.Now().Add(-time.Minute))
	}
	answered := make(chan int, 1)
	go func() {
		code, _ := s.post(t, s.token, notification(t, "storm", alerts...))
		answered <- code
	}()
	rns := recordsNamespace(t)
	var recorded int
	waitFor(t, "a record to succeed", func() bool {
		recs := recordsIn(t, rns)
		for _, r := range recs {
			if r.Status.Phase == "Succeeded" {
				recorded = len(recs)
				return true
			}
		}
		return false
	})
	t.Logf("the first action ended with %d of %d records made", recorded, n)
	// Its own limit: some 5 (its 5 requests take 1 s at 4 a second).
	// Behind the records: 17 in a run where the two shared the limit.
	if recorded > n/4 {
		t.Errorf("the first action ended when %d of %d records were made: it waited behind the recording", recorded, n)
	}
	if code := <-answered; code != http.StatusOK {
		t.Errorf("the notification was answered %d, want 200 once all %d are recorded", code, n)
	}
}
