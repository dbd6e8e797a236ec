package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	amwebhook "github.com/prometheus/alertmanager/notify/webhook"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/engine/breaker"
	"github.com/alertmedic/alertmedic/internal/kube"
)

// restartRules restarts the Deployment an alert names; cooldown as given
// ("" for none).
func restartRules(t testing.TB, cooldown string) string {
	t.Helper()
	text := `rules:
  - name: restart-crashlooping
    match: ['alertname="KubePodCrashLooping"']
    target: {kind: Deployment, namespace: '{{ .Labels.namespace }}', name: '{{ .Labels.deployment }}'}
    action: restart
    verify: {rollout: false} # this cluster runs no controllers: no rollout to see converge
`
	if cooldown != "" {
		text += "    cooldown: " + cooldown + "\n"
	}
	text += `  - name: rollback-needs-approval
    match: ['alertname="ErrorBudgetBurn"']
    target: {kind: Deployment, namespace: '{{ .Labels.namespace }}', name: '{{ .Labels.deployment }}'}
    action: rollback
    verify: {rollout: false} # this cluster runs no controllers: no rollout to see converge
    approval: {required: true, channel: C0123456, approvers: {users: [U0123]}, timeout: 30m}
`
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// deployments creates n Deployments app-0..app-<n-1> in a fresh namespace.
func deployments(t testing.TB, n int) string {
	t.Helper()
	ns := fmt.Sprintf("work-%d", time.Now().UnixNano()%1_000_000_000)
	ctx := t.Context()
	if _, err := cluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		name := fmt.Sprintf("app-%d", i)
		replicas := int32(1)
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: appsv1.DeploymentSpec{
				Replicas: &replicas,
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
				},
			},
		}
		if _, err := cluster.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return ns
}

func crashLooping(ns, deployment string, startsAt time.Time) template.Alert {
	return firing("KubePodCrashLooping", ns, deployment, startsAt)
}

func firing(alertname, ns, deployment string, startsAt time.Time) template.Alert {
	ls := model.LabelSet{"alertname": model.LabelValue(alertname), "namespace": model.LabelValue(ns), "deployment": model.LabelValue(deployment)}
	kv := template.KV{}
	for k, v := range ls {
		kv[string(k)] = string(v)
	}
	return template.Alert{Status: "firing", Labels: kv, Annotations: template.KV{}, StartsAt: startsAt, Fingerprint: ls.Fingerprint().String()}
}

// notification is an Alertmanager version-4 payload of alerts.
func notification(t testing.TB, groupKey string, alerts ...template.Alert) []byte {
	t.Helper()
	status := "resolved"
	for _, a := range alerts {
		if a.Status == "firing" {
			status = "firing"
		}
	}
	msg := amwebhook.Message{Version: "4", GroupKey: groupKey, Data: &template.Data{
		Receiver: "alertmedic", Status: status, Alerts: alerts,
		GroupLabels: template.KV{}, CommonLabels: template.KV{}, CommonAnnotations: template.KV{},
	}}
	b, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func restartEvents(t testing.TB, ns, name string) int {
	t.Helper()
	n := 0
	for _, e := range events(t, ns) {
		if e.InvolvedObject.Name == name && e.Reason == "AlertmedicRestart" {
			n++
		}
	}
	return n
}

// byPhase counts the records of ns by phase and reason.
func byPhase(t testing.TB, ns string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, r := range recordsIn(t, ns) {
		out[string(r.Status.Phase)+"/"+r.Status.Reason]++
	}
	return out
}

func allFinal(t testing.TB, ns string, want int) func() bool {
	return func() bool {
		recs := recordsIn(t, ns)
		if len(recs) != want {
			return false
		}
		for _, r := range recs {
			if !r.Status.Phase.Final() {
				return false
			}
		}
		return true
	}
}

func mustPost(t testing.TB, s *serving, body []byte) {
	t.Helper()
	if code, resp := s.post(t, s.token, body); code != 200 {
		t.Errorf("POST /webhook = %d %s, want 200", code, resp)
	}
}

// The same notification delivered 20 times at once, and the same alert in 20
// different groups: exactly one action.
func TestSameAlertManyTimesActsOnce(t *testing.T) {
	work := deployments(t, 2)
	// 21 episodes: more than the default circuit breaker lets through,
	// which is not what this test is about.
	s := startServe(t, kubeconfig(t), "--rules", restartRules(t, ""), "--breaker-max", "-1")
	a := crashLooping(work, "app-0", t0)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() { mustPost(t, s, notification(t, "{}:{alertname=\"KubePodCrashLooping\"}", a)) })
		other := crashLooping(work, "app-1", t0.Add(time.Duration(i)*time.Minute))
		wg.Go(func() { mustPost(t, s, notification(t, fmt.Sprintf("{}:{group=\"%d\"}", i), other, a)) })
	}
	wg.Wait()
	records := recordsNamespace(t)
	waitFor(t, "21 finished records (app-0 once, app-1 in 20 episodes)", allFinal(t, records, 21))
	if n := restartEvents(t, work, "app-0"); n != 1 {
		t.Errorf("restarts of app-0 = %d, want 1", n)
	}
	// app-1's 20 episodes may land within one second of each other: a
	// restart then changes nothing and is skipped, never repeated.
	if got := byPhase(t, records); got["Succeeded/Restarted"] < 2 || got["Succeeded/Restarted"]+got["Skipped/AlreadyRestarted"] != 21 {
		t.Errorf("records by phase = %v, want 21 restarted or already restarted", got)
	}
}

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// metricValue reads one sample of a server's /metrics ("" if absent).
func metricValue(t testing.TB, s *serving, series string) string {
	t.Helper()
	_, body := s.get(t, "/metrics")
	for line := range strings.SplitSeq(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}

// Two replicas against one API server, the same notifications sent to both
// at once: one record and one action per episode, all run by the leader.
func TestTwoReplicasActOnce(t *testing.T) {
	work := deployments(t, 10)
	rules := restartRules(t, "")
	a := startServe(t, kubeconfig(t), "--rules", rules)
	b := startServe(t, kubeconfig(t), "--rules", rules)
	var leader, follower *serving
	waitFor(t, "one replica to lead", func() bool {
		la, lb := metricValue(t, a, "alertmedic_leader"), metricValue(t, b, "alertmedic_leader")
		switch {
		case la == "1" && lb != "1":
			leader, follower = a, b
		case lb == "1" && la != "1":
			leader, follower = b, a
		}
		return leader != nil
	})
	var alerts []template.Alert
	for i := range 10 {
		alerts = append(alerts, crashLooping(work, fmt.Sprintf("app-%d", i), t0))
	}
	body := notification(t, "{}:{}", alerts...)
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() { mustPost(t, a, body) })
		wg.Go(func() { mustPost(t, b, body) })
	}
	wg.Wait()
	records := recordsNamespace(t)
	waitFor(t, "10 finished records", allFinal(t, records, 10))
	for i := range 10 {
		if n := restartEvents(t, work, fmt.Sprintf("app-%d", i)); n != 1 {
			t.Errorf("restarts of app-%d = %d, want 1", i, n)
		}
	}
	leaderID := "replica-" + strings.TrimPrefix(leader.url, "http://")
	for _, r := range recordsIn(t, records) {
		if r.Status.Phase != v1alpha1.PhaseSucceeded || r.Status.ExecutedBy != leaderID {
			t.Errorf("record %s: phase %s executed by %q, want Succeeded by the leader %s", r.Name, r.Status.Phase, r.Status.ExecutedBy, leaderID)
		}
	}
	if v := metricValue(t, follower, `alertmedic_engine_decisions_total{decision="executed"}`); v != "" {
		t.Errorf("the follower executed %s remediations", v)
	}
}

// holdLease makes the leader Lease look held by another replica, so that no
// alertmedic replica executes anything until release is called.
func holdLease(t testing.TB, ns string) (release func()) {
	t.Helper()
	holder, secs := "a-replica-that-will-not-come-back", int32(3600)
	now := metav1.NewMicroTime(time.Now())
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "alertmedic", Namespace: ns},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &secs, AcquireTime: &now, RenewTime: &now},
	}
	if _, err := cluster.Client.CoordinationV1().Leases(ns).Create(t.Context(), lease, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := cluster.Client.CoordinationV1().Leases(ns).Delete(t.Context(), "alertmedic", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// The bot restarted between accepting a notification and executing it: the
// action still happens, once.
func TestRestartBetweenAcceptAndExecute(t *testing.T) {
	work := deployments(t, 1)
	records := recordsNamespace(t)
	release := holdLease(t, records)
	rules := restartRules(t, "")
	first := startServe(t, kubeconfig(t), "--rules", rules)
	mustPost(t, first, notification(t, "{}:{}", crashLooping(work, "app-0", t0)))
	recs := recordsIn(t, records)
	if len(recs) != 1 || recs[0].Status.Phase != "" {
		t.Fatalf("after accept: records %+v, want one not yet run", recs)
	}
	first.stop(t)
	if n := restartEvents(t, work, "app-0"); n != 0 {
		t.Fatalf("restarted %d times before any replica led", n)
	}

	release() // the old holder's Lease is gone, as if it had expired
	second := startServe(t, kubeconfig(t), "--rules", rules)
	waitFor(t, "the record to finish", allFinal(t, records, 1))
	// Alertmanager re-sends to the new process: still one action.
	mustPost(t, second, notification(t, "{}:{}", crashLooping(work, "app-0", t0)))
	if got := byPhase(t, records); got["Succeeded/Restarted"] != 1 || len(recordsIn(t, records)) != 1 {
		t.Errorf("records = %v, want one Succeeded", got)
	}
	if n := restartEvents(t, work, "app-0"); n != 1 {
		t.Errorf("restarts = %d, want 1", n)
	}
}

// A new episode of the same alert inside the rule's cooldown is Skipped with
// the reason; after the cooldown it is acted on again.
func TestCooldownAcrossEpisodes(t *testing.T) {
	work := deployments(t, 1)
	s := startServe(t, kubeconfig(t), "--rules", restartRules(t, "3s"))
	records := recordsNamespace(t)
	mustPost(t, s, notification(t, "{}:{}", crashLooping(work, "app-0", t0)))
	waitFor(t, "the first episode to run", allFinal(t, records, 1))
	mustPost(t, s, notification(t, "{}:{}", crashLooping(work, "app-0", t0.Add(time.Hour))))
	waitFor(t, "the second episode to be decided", allFinal(t, records, 2))
	got := byPhase(t, records)
	if got["Succeeded/Restarted"] != 1 || got["Skipped/Cooldown"] != 1 {
		t.Fatalf("records = %v, want one Succeeded and one Skipped/Cooldown", got)
	}
	for _, r := range recordsIn(t, records) {
		if r.Status.Reason == "Cooldown" && !strings.Contains(r.Status.Message, "cooldown 3s") {
			t.Errorf("cooldown message %q does not name the cooldown", r.Status.Message)
		}
	}
	// Past the cooldown (measured from the first action's start), a third
	// episode runs.
	var started time.Time
	for _, r := range recordsIn(t, records) {
		if r.Status.Phase == v1alpha1.PhaseSucceeded && r.Status.StartedAt != nil {
			started = r.Status.StartedAt.Time
		}
	}
	if started.IsZero() {
		t.Fatal("the first action has no start")
	}
	waitFor(t, "the cooldown to pass", func() bool { return time.Since(started) > 4*time.Second })
	mustPost(t, s, notification(t, "{}:{}", crashLooping(work, "app-0", t0.Add(2*time.Hour))))
	waitFor(t, "the third episode to run", allFinal(t, records, 3))
	if got := byPhase(t, records); got["Succeeded/Restarted"] != 2 {
		t.Errorf("records = %v, want two Succeeded", got)
	}
	if n := restartEvents(t, work, "app-0"); n != 2 {
		t.Errorf("restarts = %d, want 2", n)
	}
}

// A storm of 500 alerts for 500 targets: the circuit breaker lets the
// configured number through and nothing beyond it runs.
func TestStormTripsCircuitBreaker(t *testing.T) {
	const targets, limit = 500, 10
	work := deployments(t, targets)
	s := startServe(t, kubeconfig(t), "--rules", restartRules(t, ""), "--breaker-max", fmt.Sprint(limit), "--breaker-window", "1h",
		"--kube-api-qps", "2000", "--kube-api-burst", "2000")
	for batch := range 5 {
		var alerts []template.Alert
		for i := batch * 100; i < (batch+1)*100; i++ {
			alerts = append(alerts, crashLooping(work, fmt.Sprintf("app-%d", i), t0))
		}
		mustPost(t, s, notification(t, fmt.Sprintf("{}:{batch=\"%d\"}", batch), alerts...))
	}
	records := recordsNamespace(t)
	waitFor(t, "500 finished records", allFinal(t, records, targets))
	got := byPhase(t, records)
	if got["Succeeded/Restarted"] != limit || got["Skipped/CircuitOpen"] != targets-limit {
		t.Errorf("records = %v, want %d Succeeded and %d Skipped/CircuitOpen", got, limit, targets-limit)
	}
	restarted := 0
	for _, e := range events(t, work) {
		if e.Reason == "AlertmedicRestart" {
			restarted++
		}
	}
	if restarted != limit {
		t.Errorf("restart events = %d, want %d", restarted, limit)
	}
	if v := metricValue(t, s, "alertmedic_circuit_breaker_open"); v != "1" {
		t.Errorf("alertmedic_circuit_breaker_open = %q, want 1", v)
	}
}

// A resolved alert never acts, and cancels its episode's pending record (here
// one waiting for approval).
func TestResolvedAlertCancelsPendingApproval(t *testing.T) {
	work := deployments(t, 1)
	s := startServe(t, kubeconfig(t), "--rules", restartRules(t, ""))
	records := recordsNamespace(t)
	a := firing("ErrorBudgetBurn", work, "app-0", t0)
	mustPost(t, s, notification(t, "{}:{}", a))
	waitFor(t, "the record to await approval", func() bool {
		recs := recordsIn(t, records)
		return len(recs) == 1 && recs[0].Status.Phase == v1alpha1.PhasePendingApproval
	})
	// The gauge of records waiting for a person follows, from the
	// replica's cache indexed by phase.
	waitFor(t, "alertmedic_approvals_waiting 1", func() bool { return metricValue(t, s, "alertmedic_approvals_waiting") == "1" })
	a.Status, a.EndsAt = "resolved", t0.Add(10*time.Minute)
	mustPost(t, s, notification(t, "{}:{}", a))
	waitFor(t, "alertmedic_approvals_waiting 0", func() bool { return metricValue(t, s, "alertmedic_approvals_waiting") == "0" })
	recs := recordsIn(t, records)
	if len(recs) != 1 || recs[0].Status.Phase != v1alpha1.PhaseCancelled || recs[0].Status.Reason != "AlertResolved" {
		t.Fatalf("records = %+v, want one Cancelled/AlertResolved", recs)
	}
	if evs := events(t, work); len(evs) != 0 {
		t.Errorf("events on the target = %d, want none", len(evs))
	}
}

// kube-system is denied unless allowed by name: an episode there is counted
// and not recorded, and a record of one made anyway (by a replica with
// other lists) is skipped by the leader.
func TestKubeSystemIsDeniedByDefault(t *testing.T) {
	s := startServe(t, kubeconfig(t), "--rules", restartRules(t, ""))
	records := recordsNamespace(t)
	mustPost(t, s, notification(t, "{}:{}", crashLooping("kube-system", "coredns", t0)))
	mustPost(t, s, notification(t, "{}:{}", crashLooping("kube-system", "coredns", t0))) // a re-send
	if v := metricValue(t, s, `alertmedic_engine_decisions_total{decision="namespace_denied"}`); v != "1" {
		t.Errorf("namespace_denied = %q, want 1: the episode once, its re-send known", v)
	}
	if recs := recordsIn(t, records); len(recs) != 0 {
		t.Errorf("%d records of an episode in kube-system, want none", len(recs))
	}
	rec := &v1alpha1.Remediation{
		ObjectMeta: metav1.ObjectMeta{Name: "rem-kube-system", Namespace: records},
		Spec: v1alpha1.RemediationSpec{Rule: "restart-crashlooping", Action: v1alpha1.ActionRestart, TargetRef: "Deployment/kube-system/coredns",
			Target: v1alpha1.Target{Kind: v1alpha1.KindDeployment, Namespace: "kube-system", Name: "coredns"},
			Alert:  v1alpha1.AlertRef{Name: "KubePodCrashLooping", Fingerprint: "0123456789abcdef", StartsAt: metav1.NewMicroTime(t0)}},
	}
	if err := cluster.Records.Create(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the record to be decided", allFinal(t, records, 1))
	r := recordsIn(t, records)[0]
	if r.Status.Phase != v1alpha1.PhaseSkipped || r.Status.Reason != "NamespaceDenied" || !strings.Contains(r.Status.Message, "kube-system") {
		t.Errorf("status = %+v, want Skipped/NamespaceDenied", r.Status)
	}
}

// Once the circuit breaker is open, the episodes that start in its
// published window are counted and not recorded: a storm of distinct
// alerts writes a bounded number of records. Re-sends stay unrecorded; an
// episode that started before the window is recorded (and skipped) as
// before; a record of the window's episode made anyway (by a replica that
// did not know the window yet) is skipped for it.
func TestStormInTheBreakerWindowIsNotRecorded(t *testing.T) {
	work := deployments(t, 3)
	s := startServe(t, kubeconfig(t), "--rules", restartRules(t, ""), "--breaker-max", "2", "--breaker-window", "1h",
		"--kube-api-qps", "2000", "--kube-api-burst", "2000")
	records := recordsNamespace(t)
	now := time.Now()
	mustPost(t, s, notification(t, "{}:{batch=\"0\"}", crashLooping(work, "app-0", now), crashLooping(work, "app-1", now), crashLooping(work, "app-2", now)))
	waitFor(t, "3 finished records", allFinal(t, records, 3))
	if got := byPhase(t, records); got["Succeeded/Restarted"] != 2 || got["Skipped/CircuitOpen"] != 1 {
		t.Fatalf("records = %v, want 2 restarted and 1 skipped by the breaker", got)
	}
	waitFor(t, "the breaker's window published", func() bool {
		_, err := cluster.Client.CoreV1().ConfigMaps(records).Get(t.Context(), breaker.ConfigMapName, metav1.GetOptions{})
		return err == nil
	})
	// Until the replica's watch has the window, an episode is recorded and
	// skipped as before; post one at a time until one is not recorded.
	before := untilNotRecorded(t, s, work, records, 3)

	stormNotRecorded(t, s, work, records, now, before)

	// An episode that started before the window: recorded, and skipped by
	// the breaker.
	mustPost(t, s, notification(t, "{}:{old=\"x\"}", crashLooping(work, "old", now.Add(-time.Hour))))
	waitFor(t, "the old episode recorded and finished", allFinal(t, records, before+1))

	// A record of an episode in the window, made anyway.
	late := crashLooping(work, "late", now.Add(time.Minute))
	rec := &v1alpha1.Remediation{
		ObjectMeta: metav1.ObjectMeta{Name: "rem-late", Namespace: records},
		Spec: v1alpha1.RemediationSpec{Rule: "restart-crashlooping", Action: v1alpha1.ActionRestart, TargetRef: "Deployment/" + work + "/late",
			Target: v1alpha1.Target{Kind: v1alpha1.KindDeployment, Namespace: work, Name: "late"},
			Alert:  v1alpha1.AlertRef{Name: "KubePodCrashLooping", Fingerprint: late.Fingerprint, StartsAt: metav1.NewMicroTime(late.StartsAt)}},
	}
	if err := cluster.Records.Create(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the late record finished", allFinal(t, records, before+2))
	var got v1alpha1.Remediation
	if err := cluster.Records.Get(t.Context(), kube.ObjectKeyFromObject(rec), &got); err != nil {
		t.Fatal(err)
	}
	if got.Status.Phase != v1alpha1.PhaseSkipped || got.Status.Reason != "CircuitOpen" || !strings.Contains(got.Status.Message, "while the circuit breaker was open") {
		t.Errorf("late record: %s %s %q, want Skipped CircuitOpen for starting in the window", got.Status.Phase, got.Status.Reason, got.Status.Message)
	}
	if n := restartEvents(t, work, "app-0") + restartEvents(t, work, "app-1") + restartEvents(t, work, "app-2"); n != 2 {
		t.Errorf("restarts = %d, want the 2 the breaker let through", n)
	}
}

// TestStormOverRuleBudgetIsNotRecorded: once a rule has spent its
// maxPerWindow and every action it counts has ended, the leader publishes
// the window until the budget has room; a storm of the rule's distinct
// episodes that start in it writes no record, and the leader skips a
// record of one made anyway.
func TestStormOverRuleBudgetIsNotRecorded(t *testing.T) {
	work := deployments(t, 3)
	budgetRules := func(perRule int) string {
		dir := t.TempDir()
		path := filepath.Join(dir, "rules.yaml")
		text := fmt.Sprintf(`rules:
  - name: restart-crashlooping
    match: ['alertname="KubePodCrashLooping"']
    target: {kind: Deployment, namespace: '{{ .Labels.namespace }}', name: '{{ .Labels.deployment }}'}
    action: restart
    maxPerWindow: {perRule: %d, window: 1h}
    verify: {rollout: false}
`, perRule)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	s := startServe(t, kubeconfig(t), "--rules", budgetRules(2), "--breaker-max", "-1",
		"--kube-api-qps", "2000", "--kube-api-burst", "2000")
	records := recordsNamespace(t)
	now := time.Now()
	mustPost(t, s, notification(t, "{}:{batch=\"0\"}", crashLooping(work, "app-0", now), crashLooping(work, "app-1", now)))
	waitFor(t, "2 finished records", allFinal(t, records, 2))
	mustPost(t, s, notification(t, "{}:{batch=\"1\"}", crashLooping(work, "app-2", now)))
	waitFor(t, "3 finished records", allFinal(t, records, 3))
	if got := byPhase(t, records); got["Succeeded/Restarted"] != 2 || got["Skipped/RuleBudget"] != 1 {
		t.Fatalf("records = %v, want 2 restarted and 1 skipped by the rule's budget", got)
	}
	waitFor(t, "the budget's window published", func() bool {
		cm, err := cluster.Client.CoreV1().ConfigMaps(records).Get(t.Context(), breaker.ConfigMapName, metav1.GetOptions{})
		return err == nil && cm.Data["budgets"] != ""
	})
	before := untilNotRecorded(t, s, work, records, 3)

	stormNotRecorded(t, s, work, records, now, before)

	// A record of an episode in the window, made anyway: the leader keeps
	// the window it published.
	late := crashLooping(work, "late", now.Add(time.Minute))
	rec := &v1alpha1.Remediation{
		ObjectMeta: metav1.ObjectMeta{Name: "rem-late", Namespace: records},
		Spec: v1alpha1.RemediationSpec{Rule: "restart-crashlooping", Action: v1alpha1.ActionRestart, TargetRef: "Deployment/" + work + "/late",
			Target: v1alpha1.Target{Kind: v1alpha1.KindDeployment, Namespace: work, Name: "late"},
			Budget: &v1alpha1.BudgetSpec{PerRule: 2, Window: metav1.Duration{Duration: time.Hour}},
			Alert:  v1alpha1.AlertRef{Name: "KubePodCrashLooping", Fingerprint: late.Fingerprint, StartsAt: metav1.NewMicroTime(late.StartsAt)}},
	}
	if err := cluster.Records.Create(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the late record finished", allFinal(t, records, before+1))
	var got v1alpha1.Remediation
	if err := cluster.Records.Get(t.Context(), kube.ObjectKeyFromObject(rec), &got); err != nil {
		t.Fatal(err)
	}
	if got.Status.Phase != v1alpha1.PhaseSkipped || got.Status.Reason != "RuleBudget" || !strings.Contains(got.Status.Message, "had used its budget") {
		t.Errorf("late record: %s %s %q, want Skipped RuleBudget for starting in the window", got.Status.Phase, got.Status.Reason, got.Status.Message)
	}
	if n := restartEvents(t, work, "app-0") + restartEvents(t, work, "app-1") + restartEvents(t, work, "app-2"); n != 2 {
		t.Errorf("restarts = %d, want the 2 the budget let through", n)
	}
}

// notRecorded is how many episodes s left unrecorded for a window.
func notRecorded(t testing.TB, s *serving) string {
	return metricValue(t, s, `alertmedic_engine_decisions_total{decision="not_recorded"}`)
}

// untilNotRecorded posts new episodes one at a time until s leaves one
// unrecorded: until the replica's watch has a published window, an
// episode is recorded and skipped. Given the records there were before
// (recorded), it waits for those there are now to finish and returns how
// many.
func untilNotRecorded(t testing.TB, s *serving, work, records string, recorded int) int {
	t.Helper()
	for i := 0; notRecorded(t, s) != "1"; i++ {
		mustPost(t, s, notification(t, "{}:{probe=\"x\"}", crashLooping(work, fmt.Sprintf("probe-%d", i), time.Now())))
		if notRecorded(t, s) != "1" {
			recorded++
		}
		if i > 100 {
			t.Fatal("no episode left unrecorded after 100 notifications")
		}
	}
	waitFor(t, "the records before the window known to finish", allFinal(t, records, recorded))
	return recorded
}

// stormNotRecorded posts a storm, 500 distinct episodes starting a minute
// after now, 100 to a notification, then again, and checks that it left
// the records as they were (before of them) and counted every episode
// once besides the one untilNotRecorded saw.
func stormNotRecorded(t testing.TB, s *serving, work, records string, now time.Time, before int) {
	t.Helper()
	for range 2 {
		for batch := range 5 {
			var alerts []template.Alert
			for i := batch * 100; i < (batch+1)*100; i++ {
				alerts = append(alerts, crashLooping(work, fmt.Sprintf("storm-%d", i), now.Add(time.Minute)))
			}
			mustPost(t, s, notification(t, fmt.Sprintf("{}:{batch=\"%d\"}", batch), alerts...))
		}
	}
	if n := len(recordsIn(t, records)); n != before {
		t.Errorf("%d records after the storm, want the %d before it", n, before)
	}
	if v := notRecorded(t, s); v != "501" {
		t.Errorf("not_recorded = %s, want 501: every storm episode once, its re-send known", v)
	}
}

// TestStormOnOneTargetIsNotRecorded: once a workload has spent its
// maxPerWindow.perTarget (or is in its cooldown) and the action that
// spent it has ended, the leader publishes the window until it has room;
// a storm of distinct alerts against that workload (one per pod) that
// start in it writes no record, and the leader skips a record of one made
// anyway, with the same reason.
func TestStormOnOneTargetIsNotRecorded(t *testing.T) {
	for _, c := range []struct{ name, limit, reason, key, message string }{
		{"perTarget", "maxPerWindow: {perTarget: 1, window: 1h}", "TargetBudget", "target Deployment/%s/app-0|1/1h0m0s", "had used its budget (maxPerWindow.perTarget 1"},
		{"cooldown", "cooldown: 1h", "Cooldown", "cooldown Deployment/%s/app-0|1h0m0s", "was in its cooldown (1h0m0s"},
	} {
		t.Run(c.name, func(t *testing.T) {
			work := deployments(t, 1)
			path := filepath.Join(t.TempDir(), "rules.yaml")
			text := `rules:
  - name: restart-crashlooping
    match: ['alertname="KubePodCrashLooping"']
    target: {kind: Deployment, namespace: '{{ .Labels.namespace }}', name: '{{ .Labels.deployment }}'}
    action: restart
    ` + c.limit + `
    verify: {rollout: false}
`
			if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			s := startServe(t, kubeconfig(t), "--rules", path, "--breaker-max", "-1",
				"--kube-api-qps", "2000", "--kube-api-burst", "2000")
			records := recordsNamespace(t)
			now := time.Now()
			mustPost(t, s, notification(t, "{}:{batch=\"0\"}", podCrashLooping(work, "app-0", "pod-a", now)))
			waitFor(t, "the first record finished", allFinal(t, records, 1))
			mustPost(t, s, notification(t, "{}:{batch=\"1\"}", podCrashLooping(work, "app-0", "pod-b", now)))
			waitFor(t, "2 finished records", allFinal(t, records, 2))
			if got := byPhase(t, records); got["Succeeded/Restarted"] != 1 || got["Skipped/"+c.reason] != 1 {
				t.Fatalf("records = %v, want 1 restarted and 1 skipped %s", got, c.reason)
			}
			key := fmt.Sprintf(c.key, work)
			waitFor(t, "the target's window published", func() bool {
				cm, err := cluster.Client.CoreV1().ConfigMaps(records).Get(t.Context(), breaker.ConfigMapName, metav1.GetOptions{})
				return err == nil && strings.Contains(cm.Data["budgets"], key)
			})

			// Until the replica's watch has the window, an episode is
			// recorded and skipped.
			recorded := 2
			for i := 0; notRecorded(t, s) != "1"; i++ {
				mustPost(t, s, notification(t, "{}:{probe=\"x\"}", podCrashLooping(work, "app-0", fmt.Sprintf("probe-%d", i), time.Now())))
				if notRecorded(t, s) != "1" {
					recorded++
				}
				if i > 100 {
					t.Fatal("no episode left unrecorded after 100 notifications")
				}
			}
			waitFor(t, "the records before the window known to finish", allFinal(t, records, recorded))

			// The storm: 500 pods of the one Deployment, 100 to a
			// notification, sent twice.
			for range 2 {
				for batch := range 5 {
					var alerts []template.Alert
					for i := batch * 100; i < (batch+1)*100; i++ {
						alerts = append(alerts, podCrashLooping(work, "app-0", fmt.Sprintf("storm-%d", i), now.Add(time.Minute)))
					}
					mustPost(t, s, notification(t, fmt.Sprintf("{}:{batch=\"%d\"}", batch), alerts...))
				}
			}
			if n := len(recordsIn(t, records)); n != recorded {
				t.Errorf("%d records after the storm, want the %d before it", n, recorded)
			}
			if v := notRecorded(t, s); v != "501" {
				t.Errorf("not_recorded = %s, want 501: every storm episode once, its re-send known", v)
			}

			// A record of an episode in the window, made anyway: the
			// leader keeps the window it published.
			late := podCrashLooping(work, "app-0", "late", now.Add(time.Minute))
			rec := &v1alpha1.Remediation{
				ObjectMeta: metav1.ObjectMeta{Name: "rem-late", Namespace: records,
					Labels: map[string]string{v1alpha1.LabelTarget: v1alpha1.TargetLabel("Deployment", work, "app-0")}},
				Spec: v1alpha1.RemediationSpec{Rule: "restart-crashlooping", Action: v1alpha1.ActionRestart, TargetRef: "Deployment/" + work + "/app-0",
					Target: v1alpha1.Target{Kind: v1alpha1.KindDeployment, Namespace: work, Name: "app-0"},
					Alert:  v1alpha1.AlertRef{Name: "KubePodCrashLooping", Fingerprint: late.Fingerprint, StartsAt: metav1.NewMicroTime(late.StartsAt)}},
			}
			if c.reason == "TargetBudget" {
				rec.Spec.Budget = &v1alpha1.BudgetSpec{PerTarget: 1, Window: metav1.Duration{Duration: time.Hour}}
			} else {
				rec.Spec.Cooldown = &metav1.Duration{Duration: time.Hour}
			}
			if err := cluster.Records.Create(t.Context(), rec); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the late record finished", allFinal(t, records, recorded+1))
			var got v1alpha1.Remediation
			if err := cluster.Records.Get(t.Context(), kube.ObjectKeyFromObject(rec), &got); err != nil {
				t.Fatal(err)
			}
			if got.Status.Phase != v1alpha1.PhaseSkipped || got.Status.Reason != c.reason || !strings.Contains(got.Status.Message, c.message) {
				t.Errorf("late record: %s %s %q, want Skipped %s for starting in the window", got.Status.Phase, got.Status.Reason, got.Status.Message, c.reason)
			}
			if n := restartEvents(t, work, "app-0"); n != 1 {
				t.Errorf("restarts = %d, want the 1 the %s let through", n, c.name)
			}
		})
	}
}

// podCrashLooping is a crash-looping alert of one pod of deployment:
// distinct alerts (fingerprints) for the same workload.
func podCrashLooping(ns, deployment, pod string, startsAt time.Time) template.Alert {
	a := crashLooping(ns, deployment, startsAt)
	ls := model.LabelSet{}
	for k, v := range a.Labels {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	ls["instance"] = model.LabelValue(pod)
	a.Labels["instance"] = pod
	a.Fingerprint = ls.Fingerprint().String()
	return a
}
