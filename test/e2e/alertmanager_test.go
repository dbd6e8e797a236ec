package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/kube"
)

const (
	recordsNS = "alertmedic" // alertmedic's --namespace: records and Lease
	shopNS    = "shop"       // the workloads alerts name

	restartedAt = "kubectl.kubernetes.io/restartedAt"
)

// rulesYAML restarts a crash-looping Deployment at once, and rolls one back
// on an error-budget burn only after approval.
const rulesYAML = `rules:
  - name: restart-crashlooping
    match: ['alertname="KubePodCrashLooping"']
    target: {kind: Deployment, namespace: '{{ .Labels.namespace }}', name: '{{ .Labels.deployment }}'}
    action: restart
    verify: {rollout: false} # this cluster runs no controllers: no rollout to see converge
  - name: rollback-on-budget-burn
    match: ['alertname="ErrorBudgetBurn"', 'severity="critical"']
    target: {kind: Deployment, namespace: '{{ .Labels.namespace }}', name: '{{ .Labels.deployment }}'}
    action: rollback
    verify: {rollout: false} # this cluster runs no controllers: no rollout to see converge
    approval: {required: true, channel: C0123456, approvers: {users: [U0123]}, timeout: 30m}
`

// alertmanagerYAML routes every alert to alertmedic, wired as
// examples/alertmanager.yml wires it (bearer token from a credentials_file,
// send_resolved), with intervals short enough for a test. Alertmanager
// refuses only zero intervals. It flushes a group every group_interval and
// re-sends an unchanged one at the first flush at which repeat_interval has
// passed since the last send; a repeat_interval below group_interval (which
// Alertmanager logs a warning about) thus re-sends at every flush, every 2s,
// and a change such as a resolved alert is sent within 2s. group_interval
// is also how long Alertmanager waits for alertmedic's answer, so it is not
// made shorter: a loaded machine running this test with -race still answers
// well within it.
const alertmanagerYAML = `route:
  receiver: alertmedic
  group_by: ['...']
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1s
receivers:
  - name: alertmedic
    webhook_configs:
      - url: %s/webhook
        send_resolved: true
        max_alerts: 0
        http_config:
          authorization:
            type: Bearer
            credentials_file: %s
`

// postableAlert is an alert as Alertmanager's v2 API takes it (and as
// Prometheus sends it).
type postableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
}

func postAlerts(t *testing.T, amURL string, alerts ...postableAlert) {
	t.Helper()
	body, err := json.Marshal(alerts)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, amURL+"/api/v2/alerts", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s/api/v2/alerts: %v", amURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		t.Fatalf("POST %s/api/v2/alerts = %s %s, want 200", amURL, resp.Status, b.String())
	}
}

func createNamespace(t *testing.T, name string) {
	t.Helper()
	if _, err := cluster.Client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func createDeployment(t *testing.T, ns, name string) *appsv1.Deployment {
	t.Helper()
	labels := map[string]string{"app": name}
	d, err := cluster.Client.AppsV1().Deployments(ns).Create(t.Context(), &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: "registry.example/" + name + ":v2"}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// records returns alertmedic's records of alerts named alertname.
func records(t *testing.T, alertname string) []v1alpha1.Remediation {
	t.Helper()
	return recordsIn(t, recordsNS, alertname)
}

func describe(recs []v1alpha1.Remediation) string {
	var parts []string
	for _, r := range recs {
		parts = append(parts, fmt.Sprintf("%s %s/%s %q", r.Name, r.Status.Phase, r.Status.Reason, r.Status.Message))
	}
	return fmt.Sprintf("%d records [%s]", len(recs), strings.Join(parts, "; "))
}

// alertmedicEvents returns the Events on Deployment ns/name written by
// alertmedic (reason Alertmedic...).
func alertmedicEvents(t *testing.T, ns, name string) []corev1.Event {
	t.Helper()
	list, err := cluster.Client.CoreV1().Events(ns).List(t.Context(), metav1.ListOptions{
		FieldSelector: "involvedObject.kind=Deployment,involvedObject.name=" + name,
	})
	if err != nil {
		t.Fatalf("list Events: %v", err)
	}
	var out []corev1.Event
	for _, e := range list.Items {
		if strings.HasPrefix(e.Reason, "Alertmedic") {
			out = append(out, e)
		}
	}
	return out
}

func deployment(t *testing.T, ns, name string) *appsv1.Deployment {
	t.Helper()
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get Deployment %s/%s: %v", ns, name, err)
	}
	return d
}

// Alerts posted to a real Alertmanager reach the alertmedic binary through
// Alertmanager's own webhook notifier and act on a real API server: a
// firing alert is remediated once, Alertmanager's re-notifications of it
// change nothing, and the resolution of an alert whose remediation awaits
// approval cancels it.
func TestAlertmanagerToRemediation(t *testing.T) {
	began := time.Now()
	amBin := alertmanagerBinary(t)
	medicBin := buildAlertmedic(t)
	t.Logf("binaries ready in %s", time.Since(began).Round(time.Millisecond))
	began = time.Now()
	ctx := t.Context()
	// Separate folders: alertmedic reloads its rules when anything in their
	// folder changes.
	medicDir, amDir := t.TempDir(), t.TempDir()

	createNamespace(t, recordsNS)
	createNamespace(t, shopNS)
	createDeployment(t, shopNS, "cart")
	checkout := createDeployment(t, shopNS, "checkout")

	// One token, in one file, read by both sides.
	secret := make([]byte, 24)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(medicDir, "token")
	if err := os.WriteFile(tokenFile, []byte(hex.EncodeToString(secret)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rulesFile := filepath.Join(medicDir, "rules.yaml")
	if err := os.WriteFile(rulesFile, []byte(rulesYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := cluster.Kubeconfig(medicDir)
	if err != nil {
		t.Fatal(err)
	}

	medicAddr := freeAddr(t)
	medicURL := "http://" + medicAddr
	medic := startProcess(t, "alertmedic", medicBin, "serve",
		"--listen", medicAddr, "--rules", rulesFile, "--token-file", tokenFile,
		"--kubeconfig", kubeconfig, "--namespace", recordsNS,
		"--leader-elect-retry-period", "500ms", "--log.format", "logfmt")
	waitFor(t, "alertmedic /readyz", 30*time.Second, []*process{medic}, func() (bool, string) {
		code, body := httpGet(ctx, medicURL+"/readyz")
		return code == http.StatusOK, fmt.Sprintf("%d %s", code, body)
	})

	amConfig := filepath.Join(amDir, "alertmanager.yml")
	if err := os.WriteFile(amConfig, fmt.Appendf(nil, alertmanagerYAML, medicURL, tokenFile), 0o600); err != nil {
		t.Fatal(err)
	}
	amAddr := freeAddr(t)
	amURL := "http://" + amAddr
	am := startProcess(t, "alertmanager", amBin,
		"--config.file="+amConfig, "--storage.path="+filepath.Join(amDir, "data"),
		"--web.listen-address="+amAddr, "--cluster.listen-address=", "--log.level=debug")
	procs := []*process{medic, am}
	waitFor(t, "Alertmanager /-/ready", 30*time.Second, procs, func() (bool, string) {
		code, body := httpGet(ctx, amURL+"/-/ready")
		return code == http.StatusOK, fmt.Sprintf("%d %s", code, body)
	})
	metricOf := func(series string) (float64, string) {
		v, err := metric(ctx, medicURL+"/metrics", series)
		if err != nil {
			return 0, err.Error()
		}
		return v, fmt.Sprintf("%s = %g", series, v)
	}
	mustMetric := func(series string) float64 {
		t.Helper()
		v, err := metric(ctx, medicURL+"/metrics", series)
		if err != nil {
			t.Fatalf("alertmedic /metrics: %v", err)
		}
		return v
	}
	const (
		notified200  = `alertmedic_webhook_notifications_total{code="200"}`
		deduplicated = `alertmedic_engine_decisions_total{decision="deduplicated"}`
		resolvedIn   = `alertmedic_webhook_alerts_received_total{status="resolved"}`
	)

	// 1. A firing alert is remediated: one restart, one Event, one record.
	crashStart := time.Now().Add(-2 * time.Minute).UTC().Truncate(time.Second)
	crash := postableAlert{
		Labels: map[string]string{
			"alertname": "KubePodCrashLooping", "namespace": shopNS, "deployment": "cart",
			"pod": "cart-6d5f7c9b8-x2x7q", "severity": "warning",
		},
		Annotations:  map[string]string{"summary": "cart is crash looping"},
		StartsAt:     crashStart,
		EndsAt:       time.Now().Add(10 * time.Minute),
		GeneratorURL: "http://prometheus.example:9090/graph?g0.expr=kube_pod_container_status_waiting_reason",
	}
	postAlerts(t, amURL, crash)
	var restartedAtValue string
	waitFor(t, "shop/cart restarted, with one AlertmedicRestart Event and one Succeeded record", 30*time.Second, procs, func() (bool, string) {
		restartedAtValue = deployment(t, shopNS, "cart").Spec.Template.Annotations[restartedAt]
		evs := alertmedicEvents(t, shopNS, "cart")
		recs := records(t, "KubePodCrashLooping")
		done := restartedAtValue != "" && len(evs) == 1 && evs[0].Reason == "AlertmedicRestart" &&
			len(recs) == 1 && recs[0].Status.Phase == v1alpha1.PhaseSucceeded
		return done, fmt.Sprintf("restartedAt %q, %d alertmedic Events, %s", restartedAtValue, len(evs), describe(recs))
	})
	rec := records(t, "KubePodCrashLooping")[0]
	if rec.Spec.Rule != "restart-crashlooping" || rec.Spec.TargetRef != "Deployment/shop/cart" || !rec.Spec.Alert.StartsAt.Time.Equal(crashStart) {
		t.Errorf("record %s: rule %q, target %q, alert startsAt %s; want restart-crashlooping on Deployment/shop/cart for the episode that started %s",
			rec.Name, rec.Spec.Rule, rec.Spec.TargetRef, rec.Spec.Alert.StartsAt.UTC(), crashStart)
	}
	t.Logf("step 1 (remediated) after %s: record %s %s/%s, restartedAt %s", time.Since(began).Round(time.Millisecond), rec.Name, rec.Status.Phase, rec.Status.Reason, restartedAtValue)

	// 2. Alertmanager re-notifies the same alert (repeat_interval): each
	// re-send is answered 200 and recognised as the episode already
	// recorded (deduplicated; the first notification was "recorded"), and
	// nothing more happens.
	base200 := mustMetric(notified200)
	waitFor(t, "Alertmanager to re-notify the alert at least twice more", 20*time.Second, procs, func() (bool, string) {
		n, s1 := metricOf(notified200)
		d, s2 := metricOf(deduplicated)
		return n >= base200+2 && d >= 2, fmt.Sprintf("%s (was %g), %s", s1, base200, s2)
	})
	if recs := records(t, "KubePodCrashLooping"); len(recs) != 1 || recs[0].Name != rec.Name || recs[0].Status.Phase != v1alpha1.PhaseSucceeded {
		t.Errorf("after re-notifications: %s, want only %s Succeeded", describe(recs), rec.Name)
	}
	if evs := alertmedicEvents(t, shopNS, "cart"); len(evs) != 1 {
		t.Errorf("after re-notifications: %d alertmedic Events on shop/cart, want 1", len(evs))
	}
	if v := deployment(t, shopNS, "cart").Spec.Template.Annotations[restartedAt]; v != restartedAtValue {
		t.Errorf("after re-notifications: restartedAt %q, was %q: restarted again", v, restartedAtValue)
	}
	t.Logf("step 2 (re-notified) after %s: %g notifications answered 200, %g re-sends deduplicated",
		time.Since(began).Round(time.Millisecond), mustMetric(notified200), mustMetric(deduplicated))

	// 3. An alert whose rule needs approval waits; Alertmanager's resolved
	// notification of it cancels it, and its target is never touched.
	burnStart := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	burn := postableAlert{
		Labels: map[string]string{
			"alertname": "ErrorBudgetBurn", "namespace": shopNS, "deployment": "checkout", "severity": "critical",
		},
		Annotations:  map[string]string{"summary": "checkout burns its error budget"},
		StartsAt:     burnStart,
		EndsAt:       time.Now().Add(10 * time.Minute),
		GeneratorURL: "http://prometheus.example:9090/graph?g0.expr=slo_error_budget_burn_rate",
	}
	postAlerts(t, amURL, burn)
	waitFor(t, "one PendingApproval record for shop/checkout", 20*time.Second, procs, func() (bool, string) {
		recs := records(t, "ErrorBudgetBurn")
		return len(recs) == 1 && recs[0].Status.Phase == v1alpha1.PhasePendingApproval, describe(recs)
	})
	pending := records(t, "ErrorBudgetBurn")[0]
	if pending.Spec.Action != "rollback" || pending.Spec.TargetRef != "Deployment/shop/checkout" || !pending.Spec.Alert.StartsAt.Time.Equal(burnStart) {
		t.Errorf("record %s: action %q, target %q, startsAt %s; want rollback of Deployment/shop/checkout for the episode that started %s",
			pending.Name, pending.Spec.Action, pending.Spec.TargetRef, pending.Spec.Alert.StartsAt.UTC(), burnStart)
	}
	t.Logf("step 3 (pending approval) after %s: record %s", time.Since(began).Round(time.Millisecond), pending.Name)

	baseResolved := mustMetric(resolvedIn)
	burn.EndsAt = time.Now().Add(-time.Second)
	postAlerts(t, amURL, burn)
	waitFor(t, "Alertmanager's resolved notification to cancel the record", 20*time.Second, procs, func() (bool, string) {
		recs := records(t, "ErrorBudgetBurn")
		_, s := metricOf(resolvedIn)
		return len(recs) == 1 && recs[0].Status.Phase == v1alpha1.PhaseCancelled && recs[0].Status.Reason == "AlertResolved",
			fmt.Sprintf("%s; %s (was %g)", describe(recs), s, baseResolved)
	})
	if r, s := metricOf(resolvedIn); r <= baseResolved {
		t.Errorf("the record was cancelled but alertmedic received no resolved alert: %s", s)
	}
	cancelled := records(t, "ErrorBudgetBurn")[0]
	if cancelled.Name != pending.Name || cancelled.Status.AlertResolvedAt == nil {
		t.Errorf("cancelled record %s (alertResolvedAt %v), want %s with the time its alert resolved", cancelled.Name, cancelled.Status.AlertResolvedAt, pending.Name)
	}
	t.Logf("step 3 (resolved, cancelled) after %s", time.Since(began).Round(time.Millisecond))

	// Stop both: Alertmanager first, then alertmedic, which must exit 0.
	if err := am.terminate(20 * time.Second); err != nil {
		t.Errorf("Alertmanager on SIGTERM: %v", err)
	}
	if err := medic.terminate(30 * time.Second); err != nil {
		t.Errorf("alertmedic on SIGTERM: %v, want exit status 0", err)
	}

	// The final state, with both stopped: one restart of shop/cart, nothing
	// done to shop/checkout.
	if evs := alertmedicEvents(t, shopNS, "checkout"); len(evs) != 0 {
		t.Errorf("%d alertmedic Events on shop/checkout (first: %s %q), want none", len(evs), evs[0].Reason, evs[0].Message)
	}
	if d := deployment(t, shopNS, "checkout"); d.Generation != checkout.Generation || d.Spec.Template.Spec.Containers[0].Image != checkout.Spec.Template.Spec.Containers[0].Image {
		t.Errorf("shop/checkout changed: generation %d -> %d, image %s -> %s", checkout.Generation, d.Generation,
			checkout.Spec.Template.Spec.Containers[0].Image, d.Spec.Template.Spec.Containers[0].Image)
	}
	if evs := alertmedicEvents(t, shopNS, "cart"); len(evs) != 1 {
		t.Errorf("%d alertmedic Events on shop/cart at the end, want 1", len(evs))
	}
	var all v1alpha1.RemediationList
	if err := cluster.Records.List(ctx, &all, kube.InNamespace(recordsNS)); err != nil {
		t.Fatal(err)
	}
	if len(all.Items) != 2 {
		t.Errorf("%s in %s at the end, want 2", describe(all.Items), recordsNS)
	}
	t.Logf("end to end in %s (after the binaries were ready)", time.Since(began).Round(time.Millisecond))
}
