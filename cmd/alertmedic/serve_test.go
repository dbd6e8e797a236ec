package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/kube"
	"github.com/alertmedic/alertmedic/internal/server"
	"github.com/alertmedic/alertmedic/internal/testlog"
)

func events(t testing.TB, ns string) []corev1.Event {
	t.Helper()
	list, err := cluster.Client.CoreV1().Events(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// The demo, as a test: the example rules and the example notification restart
// shop/cart, scale and roll back shop/checkout on a real API server; the same
// notification sent again changes nothing.
func TestServeRemediatesDemoNotification(t *testing.T) {
	// The demo's namespace, made unique per run (envtest never finishes
	// deleting a namespace), with the demo rules widened to match it.
	ns := uniqueNamespace("shop")
	seedDemo(t, ns)
	rulesFile := filepath.Join(t.TempDir(), "rules.yaml")
	writeRules(t, rulesFile, ns)
	s := startServe(t, kubeconfig(t), "--rules", rulesFile)
	waitFor(t, "/readyz", func() bool { code, _ := s.get(t, "/readyz"); return code == 200 })

	code, body := s.post(t, s.token, demoNotification(t, ns))
	if code != 200 {
		t.Fatalf("POST /webhook = %d %s, want 200", code, body)
	}
	apps := cluster.Client.AppsV1()
	ctx := t.Context()
	waitFor(t, "cart restarted, checkout scaled to 4 and rolled back to v1", func() bool {
		cart, err1 := apps.Deployments(ns).Get(ctx, "cart", metav1.GetOptions{})
		co, err2 := apps.Deployments(ns).Get(ctx, "checkout", metav1.GetOptions{})
		return err1 == nil && err2 == nil &&
			cart.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] != "" &&
			*co.Spec.Replicas == 4 &&
			co.Spec.Template.Spec.Containers[0].Image == "registry.example.com/shop/checkout:v1" &&
			len(events(t, ns)) == 3
	})
	restartedAt := func() string {
		cart, err := apps.Deployments(ns).Get(ctx, "cart", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return cart.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"]
	}
	first := restartedAt()
	if _, err := time.Parse(time.RFC3339, first); err != nil {
		t.Errorf("restartedAt %q is not RFC3339: %v", first, err)
	}
	reasons := map[string]bool{}
	for _, e := range events(t, ns) {
		reasons[e.Reason] = true
		if e.Source.Component != "alertmedic" && e.ReportingController != "alertmedic" {
			t.Errorf("event %s not reported by alertmedic: %+v", e.Name, e.Source)
		}
	}
	for _, want := range []string{"AlertmedicRestart", "AlertmedicScale", "AlertmedicRollback"} {
		if !reasons[want] {
			t.Errorf("no %s event; reasons: %v", want, reasons)
		}
	}

	// Alertmanager re-sends the group: nothing happens a second time.
	time.Sleep(1100 * time.Millisecond) // a second restart would now give a new restartedAt
	if code, body := s.post(t, s.token, demoNotification(t, ns)); code != 200 {
		t.Fatalf("second POST = %d %s", code, body)
	}
	waitFor(t, "3 deduplicated decisions", func() bool {
		_, m := s.get(t, "/metrics")
		return strings.Contains(m, `alertmedic_engine_decisions_total{decision="deduplicated"} 3`)
	})
	if got := restartedAt(); got != first {
		t.Errorf("restartedAt changed on a re-sent notification: %q -> %q", first, got)
	}
	if n := len(events(t, ns)); n != 3 {
		t.Errorf("events after re-send = %d, want still 3", n)
	}
	// The audit trail: one record per episode, each with its action's
	// result. The demo's rules verify the rollout, which this cluster (no
	// controllers) never completes: the records stay Verifying.
	recs := recordsIn(t, recordsNamespace(t))
	if len(recs) != 3 {
		t.Fatalf("records = %d, want 3", len(recs))
	}
	for _, r := range recs {
		st := r.Status
		if st.Phase != v1alpha1.PhaseVerifying || st.Result == nil || st.Result.Outcome != "Succeeded" || st.Result.Before == "" || st.ExecutedBy == "" ||
			st.StartedAt == nil || st.Verification == nil || st.Verification.Rollout == nil {
			t.Errorf("record %s (%s): status %+v", r.Name, r.Spec.Rule, st)
		}
	}
	_, metrics := s.get(t, "/metrics")
	for _, want := range []string{
		`alertmedic_webhook_notifications_total{code="200"} 2`,
		`alertmedic_alerts_matched_total{rule="restart-crashlooping"} 2`,
		`alertmedic_remediations_total{action="restart",kind="Deployment",outcome="Succeeded",reason="Restarted"} 1`,
		`alertmedic_remediations_total{action="scale",kind="Deployment",outcome="Succeeded",reason="Scaled"} 1`,
		`alertmedic_remediations_total{action="rollback",kind="Deployment",outcome="Succeeded",reason="RolledBack"} 1`,
		`alertmedic_engine_decisions_total{decision="recorded"} 3`,
		`alertmedic_engine_decisions_total{decision="executed"} 3`,
		`alertmedic_leader 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// recordsIn lists the Remediation records of a namespace.
func recordsIn(t testing.TB, ns string) []v1alpha1.Remediation {
	t.Helper()
	var list v1alpha1.RemediationList
	if err := cluster.Records.List(t.Context(), &list, kube.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func TestServeRejectsBadTokenAndChangesNothing(t *testing.T) {
	const ns = "auth-test"
	s := startServe(t, kubeconfig(t), "--rules", "../../examples/rules/demo.yaml")
	for _, tok := range []string{"", "wrong-token"} {
		code, body := s.post(t, tok, demoNotification(t, ns))
		if code != 401 {
			t.Errorf("token %q: status %d %s, want 401", tok, code, body)
		}
	}
	if strings.Contains(s.stderr.String(), s.token) {
		t.Errorf("the webhook token appears in the log")
	}
}

func TestServeDryRunChangesNothing(t *testing.T) {
	ns := uniqueNamespace("dry-run")
	seedDemo(t, ns)
	rulesFile := filepath.Join(t.TempDir(), "rules.yaml")
	writeRules(t, rulesFile, ns)
	s := startServe(t, kubeconfig(t), "--rules", rulesFile, "--dry-run")
	if code, body := s.post(t, s.token, demoNotification(t, ns)); code != 200 {
		t.Fatalf("POST = %d %s", code, body)
	}
	waitFor(t, "3 dry-run events", func() bool { return len(events(t, ns)) == 3 })
	for _, e := range events(t, ns) {
		if !strings.Contains(e.Message, "dry run") {
			t.Errorf("event %s message %q does not say dry run", e.Reason, e.Message)
		}
	}
	co, err := cluster.Client.AppsV1().Deployments(ns).Get(t.Context(), "checkout", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *co.Spec.Replicas != 2 || co.Spec.Template.Spec.Containers[0].Image != "registry.example.com/shop/checkout:v2" {
		t.Errorf("dry run changed checkout: replicas %d image %s", *co.Spec.Replicas, co.Spec.Template.Spec.Containers[0].Image)
	}
	cart, err := cluster.Client.AppsV1().Deployments(ns).Get(t.Context(), "cart", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := cart.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"]; ok {
		t.Errorf("dry run restarted cart: %q", v)
	}
}

// uniqueNamespace is a namespace name made from prefix, new for every call.
func uniqueNamespace(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1_000_000_000)
}

// writeRules writes the demo rules with their namespace matcher widened to ns.
func writeRules(t testing.TB, path, ns string) {
	t.Helper()
	b, err := os.ReadFile("../../examples/rules/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(b), `namespace=~"shop|payments"`, `namespace=~"shop|payments|`+ns+`"`)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// With the API server unreachable, /readyz says so and webhooks get 503, so
// Alertmanager keeps the notification and retries it: nothing is dropped.
func TestServeAPIServerDown(t *testing.T) {
	dead := clientcmdapi.NewConfig()
	dead.Clusters["dead"] = &clientcmdapi.Cluster{Server: "https://" + freePort(t)}
	dead.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: "x"}
	dead.Contexts["dead"] = &clientcmdapi.Context{Cluster: "dead", AuthInfo: "u"}
	dead.CurrentContext = "dead"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*dead, path); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, path, "--rules", "../../examples/rules/demo.yaml")
	code, body := s.get(t, "/readyz")
	if code != 503 || !strings.Contains(body, "kubernetes API server not reachable") {
		t.Errorf("/readyz = %d %q, want 503 naming the API server", code, body)
	}
	code, body = s.post(t, s.token, demoNotification(t, "shop"))
	if code != 503 || !strings.Contains(body, "kubernetes API server not reachable") {
		t.Errorf("POST /webhook = %d %q, want 503 naming the API server", code, body)
	}
}

func TestServeRefusesBrokenRules(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, []byte("rules:\n  - name: x\n    match: ['alertname=~\"(']\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr testlog.Buffer
	code := run(context.Background(), []string{"serve", "--rules", path, "--insecure-no-auth", "--kubeconfig", kubeconfig(t)}, &stderr, &stderr)
	if code != 1 {
		t.Fatalf("exit code %d, want 1; stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), path+":3:") {
		t.Errorf("error does not point at %s:3:\n%s", path, stderr.String())
	}
}

func TestServeNeedsAToken(t *testing.T) {
	t.Setenv(server.TokenEnv, "")
	var stderr testlog.Buffer
	code := run(context.Background(), []string{"serve", "--rules", "../../examples/rules/demo.yaml", "--kubeconfig", kubeconfig(t)}, &stderr, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "no webhook token") {
		t.Fatalf("exit %d, stderr %q; want 1 and 'no webhook token'", code, stderr.String())
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{}, "usage: alertmedic"},
		{[]string{"frobnicate"}, `expected command but got "frobnicate"`},
		{[]string{"serve", "--rules", "x", "--log.format", "text"}, `--log.format "text": unrecognized log format text`},
		{[]string{"serve"}, "--rules is required"},
		{[]string{"serve", "--rules", "x", "--tls-cert-file", "c"}, "go together"},
		{[]string{"serve", "--rules", "x", "--deny-namespaces", "shop,[prod"}, `serve: --deny-namespaces: namespace pattern "[prod": syntax error in pattern`},
		{[]string{"serve", "--rules", "x", "--require-approval", "rollback,delete"}, `serve: --require-approval "delete": want restart, scale, scale-down, rollback, evict-pod, run-job or namespace=PATTERN`},
		{[]string{"serve", "--rules", "x", "--gitops", "ignore"}, `serve: --gitops "ignore": want refuse or allow`},
		{[]string{"serve", "--rules", "x", "--leader-elect-lease-duration", "500ms"}, `serve: --leader-elect-lease-duration 500ms: want at least 1s`},
		{[]string{"serve", "--rules", "x", "--leader-elect-renew-deadline", "15s"}, `serve: --leader-elect-renew-deadline 15s: must be positive and shorter than --leader-elect-lease-duration 15s`},
		{[]string{"serve", "--rules", "x", "--leader-elect-retry-period", "10s"}, `serve: --leader-elect-retry-period 10s: must be positive and shorter than --leader-elect-renew-deadline 10s`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stderr testlog.Buffer
			if code := run(context.Background(), tc.args, &stderr, &stderr); code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tc.want)
			}
		})
	}
}

// configMapDir lays out rules as a mounted ConfigMap does: the file is a
// symlink through '..data', itself a symlink to a timestamped folder; an
// update writes a new folder and swaps '..data' atomically.
type configMapDir struct {
	t   testing.TB
	dir string
	n   int
}

func (c *configMapDir) write(text string) {
	c.t.Helper()
	c.n++
	gen := fmt.Sprintf("..2026_11_23_%d", c.n)
	if err := os.Mkdir(filepath.Join(c.dir, gen), 0o755); err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.dir, gen, "rules.yaml"), []byte(text), 0o644); err != nil {
		c.t.Fatal(err)
	}
	tmp := filepath.Join(c.dir, "..data_tmp")
	if err := os.Symlink(gen, tmp); err != nil {
		c.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(c.dir, "..data")); err != nil {
		c.t.Fatal(err)
	}
	if c.n == 1 {
		if err := os.Symlink(filepath.Join("..data", "rules.yaml"), filepath.Join(c.dir, "rules.yaml")); err != nil {
			c.t.Fatal(err)
		}
	}
}

const oneRule = `rules:
  - name: restart-crashlooping
    match: ['alertname="KubePodCrashLooping"']
    target: {kind: Deployment, namespace: '{{ .Labels.namespace }}', name: '{{ .Labels.deployment }}'}
    action: restart
    verify: {rollout: false} # this cluster runs no controllers: no rollout to see converge
`

// A good change of a mounted ConfigMap is applied; a broken one is refused
// and the rules in force keep serving.
func TestRulesReloadOnChange(t *testing.T) {
	work := deployments(t, 1)
	cm := &configMapDir{t: t, dir: t.TempDir()}
	cm.write(oneRule)
	s := startServe(t, kubeconfig(t), "--rules", cm.dir, "--watch-debounce", "100ms")
	if v := metricValue(t, s, "alertmedic_rules"); v != "1" {
		t.Fatalf("alertmedic_rules = %q, want 1", v)
	}
	cm.write(oneRule + `  - name: restart-oom
    match: ['alertname="KubeContainerOOMKilled"']
    target: {kind: Deployment, namespace: '{{ .Labels.namespace }}', name: '{{ .Labels.deployment }}'}
    action: restart
    verify: {rollout: false} # this cluster runs no controllers: no rollout to see converge
`)
	waitFor(t, "the new rules", func() bool { return metricValue(t, s, "alertmedic_rules") == "2" })
	reloads := strings.Count(s.stderr.String(), "rules reloaded")
	// Files that are not rule files, next to them, do not reload anything.
	if err := os.WriteFile(filepath.Join(cm.dir, "notes.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	records := recordsNamespace(t)
	mustPost(t, s, notification(t, "{}:{}", firing("KubeContainerOOMKilled", work, "app-0", t0)))
	waitFor(t, "the new rule to act", allFinal(t, records, 1))

	// Absence of a reload can only be seen once the debounce (100ms) has
	// long passed.
	quiet := time.Now().Add(time.Second)
	waitFor(t, "the debounce window to pass", func() bool { return time.Now().After(quiet) })
	if n := strings.Count(s.stderr.String(), "rules reloaded"); n != reloads {
		t.Errorf("a file that is not a rule file caused %d reloads", n-reloads)
	}
	cm.write("rules:\n  - name: broken\n    match: ['alertname=~\"(']\n")
	waitFor(t, "the broken change to be refused", func() bool {
		return metricValue(t, s, "alertmedic_rules_last_reload_successful") == "0"
	})
	if v := metricValue(t, s, "alertmedic_rules"); v != "2" {
		t.Errorf("alertmedic_rules = %q after a refused reload, want still 2", v)
	}
	if !strings.Contains(s.stderr.String(), "rule reload refused") {
		t.Errorf("the log does not say the reload was refused")
	}
	// The previous rules still serve: a new episode is acted on.
	mustPost(t, s, notification(t, "{}:{}", firing("KubeContainerOOMKilled", work, "app-0", t0.Add(time.Hour))))
	waitFor(t, "the old rules to act", allFinal(t, records, 2))
	if code, _ := s.get(t, "/readyz"); code != 200 {
		t.Errorf("/readyz = %d after a refused reload, want 200 (the previous rules serve)", code)
	}
}
