package main

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/kube"
	"github.com/alertmedic/alertmedic/report"
)

// fullRecord is a record as a verified, approved rollback leaves it: every
// field alertmedic writes is set, at a realistic length.
func fullRecord(ns, name string, now time.Time) (*v1alpha1.Remediation, v1alpha1.RemediationStatus) {
	target := v1alpha1.Target{Kind: v1alpha1.KindDeployment, Namespace: "shop", Name: "checkout-frontend"}
	at := func(d time.Duration) *metav1.Time { t := metav1.NewTime(now.Add(d)); return &t }
	mat := func(d time.Duration) *metav1.MicroTime { t := metav1.NewMicroTime(now.Add(d)); return &t }
	rec := &v1alpha1.Remediation{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{
			v1alpha1.LabelRule:   "rollback-bad-deploy",
			v1alpha1.LabelTarget: v1alpha1.TargetLabel(target.Kind, target.Namespace, target.Name),
			v1alpha1.LabelAlert:  "ErrorBudgetBurn",
		}},
		Spec: v1alpha1.RemediationSpec{
			Rule: "rollback-bad-deploy", Action: v1alpha1.ActionRollback, Target: target, TargetRef: target.String(),
			Alert: v1alpha1.AlertRef{Name: "ErrorBudgetBurn", Fingerprint: "7f3a9c2e1b4d5f60", StartsAt: metav1.NewMicroTime(now.Add(-3 * time.Minute)),
				Labels: map[string]string{"alertname": "ErrorBudgetBurn", "severity": "critical", "namespace": "shop", "deployment": "checkout-frontend",
					"service": "checkout", "team": "payments", "prometheus": "monitoring/k8s", "slo": "checkout-availability"},
				Summary:      "checkout-frontend is burning its 30-day error budget 14x faster than allowed",
				GeneratorURL: "https://prometheus.example.com/graph?g0.expr=slo%3Aerror_budget_burn%3Arate1h+%3E+14&g0.tab=1",
				RunbookURL:   "https://runbooks.example.com/slo/error-budget-burn"},
			Approval: &v1alpha1.ApprovalSpec{Channel: "C0123456", Users: []string{"U0123"}, Groups: []string{"S0456"}, Timeout: metav1.Duration{Duration: 30 * time.Minute}},
			Cooldown: &metav1.Duration{Duration: 30 * time.Minute},
			Verify: &v1alpha1.VerifySpec{Rollout: &v1alpha1.RolloutCheck{Timeout: metav1.Duration{Duration: 5 * time.Minute}},
				AlertResolved: &v1alpha1.AlertResolvedCheck{Within: metav1.Duration{Duration: 15 * time.Minute}}},
		},
	}
	st := v1alpha1.RemediationStatus{
		Phase: v1alpha1.PhaseSucceeded, Reason: "Verified", Message: "rolled back to revision 41 (image registry.example.com/checkout-frontend:v2.31.0); every check passed",
		DecidedBy: "slack:U0123", DecidedAt: at(time.Minute), StartedAt: at(2 * time.Minute), FinishedAt: at(6 * time.Minute),
		ExecutedBy: "alertmedic-6d8f7c9b5-x2k4q", Attempts: 1, AlertResolvedAt: at(5 * time.Minute),
		Result: &v1alpha1.ActionResult{Outcome: "Succeeded", Reason: "RolledBack",
			Before: "revision 42 (registry.example.com/checkout-frontend:v2.32.0)", After: "revision 41 (registry.example.com/checkout-frontend:v2.31.0)"},
		Plan: &v1alpha1.Plan{PlannedAt: *at(0), UID: "0b7c5a8e-3f21-4c9d-8e6a-2d4f1b9c7e30", Generation: 57, Outcome: "Succeeded",
			Message: "would roll back to revision 41", Before: "revision 42 (registry.example.com/checkout-frontend:v2.32.0)", After: "revision 41 (registry.example.com/checkout-frontend:v2.31.0)"},
		Slack: &v1alpha1.SlackMessage{Channel: "C0123456", TS: "1732710000.123456", Digest: "9c1e4b7a2f3d5e6c"},
		Verification: &v1alpha1.Verification{StartedAt: *mat(2 * time.Minute),
			Rollout:       &v1alpha1.CheckStatus{Deadline: *mat(7 * time.Minute), PassedAt: mat(3 * time.Minute), Observed: "deployment \"checkout-frontend\" successfully rolled out: 4/4 updated, 4 ready, 4 available"},
			AlertResolved: &v1alpha1.CheckStatus{Deadline: *mat(17 * time.Minute), PassedAt: mat(5 * time.Minute), Observed: "resolved at " + now.Add(5*time.Minute).UTC().Format(time.RFC3339)},
			LastCheckedAt: mat(6 * time.Minute)},
	}
	return rec, st
}

// putRecord creates rec and writes its status, as a replica would.
func putRecord(t testing.TB, c kube.Client, rec *v1alpha1.Remediation, st v1alpha1.RemediationStatus) {
	t.Helper()
	if err := c.Create(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	rec.Status = st
	if err := c.Status().Update(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
}

// The command reads the records of its namespace (and no other) through
// the kubeconfig and renders them; what the report says is tested in
// package report with a fixed clock.
func TestReportCommand(t *testing.T) {
	kc := kubeconfig(t)
	c := cluster.NewClient(t, nil)
	ns, other := cluster.Namespace(t, "report"), cluster.Namespace(t, "report-other")
	now := time.Now().Truncate(time.Second) // as status.startedAt keeps it
	verified, st := fullRecord(ns, "rem-verified", now)
	putRecord(t, c, verified, st)
	denied, _ := fullRecord(ns, "rem-denied", now)
	putRecord(t, c, denied, v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseDenied, Reason: "Denied",
		DecidedBy: "kubernetes:alice", DecidedAt: &metav1.Time{Time: now}})
	skipped, _ := fullRecord(ns, "rem-skipped", now)
	skipped.Spec.Rule = "restart-crashlooping"
	putRecord(t, c, skipped, v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseSkipped, Reason: "Cooldown"})
	elsewhere, st := fullRecord(other, "rem-elsewhere", now)
	putRecord(t, c, elsewhere, st)

	code, out, errOut := cliRun("report", "--namespace", ns, "--kubeconfig", kc, "--format", "json")
	if code != 0 {
		t.Fatalf("report: exit %d\n%s%s", code, out, errOut)
	}
	var rep report.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if rep.Records != 3 || len(rep.Rules) != 3 || rep.To.Sub(rep.From) != 7*24*time.Hour {
		t.Fatalf("want 3 records of this namespace in two rules and a total over 7 days:\n%s", out)
	}
	rs, rb := rep.Rules[0], rep.Rules[1]
	if rb.Rule != "rollback-bad-deploy" || rb.Matched != 2 || rb.Approved != 1 || rb.Denied != 1 || rb.Verified != 1 || rb.Acted != 1 ||
		rb.AlertToAction != (report.Durations{N: 1, P50: 5 * time.Minute, P90: 5 * time.Minute}) ||
		rb.ActionToVerified != (report.Durations{N: 1, P50: 3 * time.Minute, P90: 3 * time.Minute}) {
		t.Errorf("rollback row: %+v", rb)
	}
	if rs.Rule != "restart-crashlooping" || rs.Matched != 1 || rs.Skipped["Cooldown"] != 1 {
		t.Errorf("restart row: %+v", rs)
	}

	code, out, errOut = cliRun("report", "--namespace", ns, "--kubeconfig", kc, "--format", "markdown", "--since", "1d")
	if code != 0 || !strings.Contains(out, "| `rollback-bad-deploy` | 2 | 1 | 0 | 0 | 1 | 1 | 0 | 1 | 0 | 0 | 0 | 0 | 0 | 5m / 5m (n=1) | 3m / 3m (n=1) | 3m / 3m (n=1) |") ||
		!strings.Contains(out, "(1d)") {
		t.Errorf("markdown: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = cliRun("report", "--namespace", cluster.Namespace(t, "report-empty"), "--kubeconfig", kc)
	if code != 0 || !strings.Contains(out, "no records in this window") {
		t.Errorf("empty namespace: exit %d\n%s", code, out)
	}
}

func TestReportUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"report", "--since", "0s"}, "--since must be above 0"},
		{[]string{"report", "--since", "a week"}, `--since "a week"`},
		{[]string{"report", "--format", "html"}, "enum value must be one of text,json,markdown"},
		{[]string{"report", "extra"}, `unexpected argument "extra"`},
	} {
		code, _, errOut := cliRun(tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
}

// BenchmarkRecordSize measures what keeping a record costs: its JSON as
// the API server returns it (etcd stores a custom resource as that JSON,
// managedFields included), and the heap it takes decoded, as the leader's
// informer cache holds it.
func BenchmarkRecordSize(b *testing.B) {
	c := cluster.NewClient(b, nil)
	ns := cluster.Namespace(b, "record-size")
	rec, st := fullRecord(ns, "rem-size", time.Now())
	putRecord(b, c, rec, st)
	raw, err := cluster.Client.Discovery().RESTClient().Get().AbsPath("/apis/alertmedic.io/v1alpha1/namespaces", ns, "remediations", "rem-size").DoRaw(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	const n = 2000
	var before, after runtime.MemStats
	keep := make([]*v1alpha1.Remediation, n)
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range keep {
		keep[i] = &v1alpha1.Remediation{}
		if err := json.Unmarshal(raw, keep[i]); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(keep)
	b.ReportMetric(float64(len(raw)), "json-bytes/record")
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-bytes/record")
	b.Logf("%d managedFields entries", len(keep[0].ManagedFields))
	for range b.N {
	}
}
