package deploy

import (
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/kube"
)

// crdNamespace holds the records of the CRD validation tests.
const crdNamespace = "crd-validation"

// scaleRecord is a valid record of a scale action, for the tests to spoil.
func scaleRecord(name string) *v1alpha1.Remediation {
	return &v1alpha1.Remediation{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: crdNamespace},
		Spec: v1alpha1.RemediationSpec{
			Rule: "scale-on-latency", Action: "scale",
			Target:    v1alpha1.Target{Kind: "Deployment", Namespace: "shop", Name: "web"},
			TargetRef: "Deployment/shop/web",
			Scale:     &v1alpha1.ScaleParams{Op: "multiply", Factor: "1.5", Min: 2, Max: 10},
			Alert: v1alpha1.AlertRef{Name: "HighLatency", Fingerprint: "5e7b2c0a1f3d9e41",
				StartsAt: metav1.NewMicroTime(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))},
		},
	}
}

// The API server refuses a record whose parameters do not parse or are out
// of bounds, naming the field, before anything could act on it.
func TestCRDRefusesInvalidRecords(t *testing.T) {
	ensureNamespace(t, crdNamespace)
	cases := []struct {
		name  string
		spoil func(*v1alpha1.Remediation)
		want  []string // in the error, in order of appearance not required
	}{
		{"factor not a number", func(r *v1alpha1.Remediation) { r.Spec.Scale.Factor = "abc" }, []string{"spec.scale.factor", "should match"}},
		{"factor with exponent", func(r *v1alpha1.Remediation) { r.Spec.Scale.Factor = "1e3" }, []string{"spec.scale.factor"}},
		{"negative factor", func(r *v1alpha1.Remediation) { r.Spec.Scale.Factor = "-2" }, []string{"spec.scale.factor"}},
		{"zero factor", func(r *v1alpha1.Remediation) { r.Spec.Scale.Factor = "0.0" }, []string{"spec.scale", "scale.factor must be greater than 0"}},
		{"multiply without factor", func(r *v1alpha1.Remediation) { r.Spec.Scale.Factor = "" }, []string{"spec.scale", "scale.factor is required for op multiply"}},
		{"factor on op by", func(r *v1alpha1.Remediation) { r.Spec.Scale.Op, r.Spec.Scale.N = "by", 2 }, []string{"scale.factor is only for op multiply"}},
		{"unknown scale op", func(r *v1alpha1.Remediation) { r.Spec.Scale.Op = "divide" }, []string{"spec.scale.op", "Unsupported value"}},
		{"negative count for op to", func(r *v1alpha1.Remediation) {
			r.Spec.Scale = &v1alpha1.ScaleParams{Op: "to", N: -1}
		}, []string{"scale.n must be 0 or more for op to"}},
		{"negative min", func(r *v1alpha1.Remediation) { r.Spec.Scale.Min = -1 }, []string{"spec.scale.min"}},
		{"min above max", func(r *v1alpha1.Remediation) { r.Spec.Scale.Min, r.Spec.Scale.Max = 5, 3 }, []string{"scale.min must not be above scale.max"}},
		{"unknown action", func(r *v1alpha1.Remediation) { r.Spec.Action = "delete"; r.Spec.Scale = nil }, []string{"spec.action", "Unsupported value"}},
		{"scale without parameters", func(r *v1alpha1.Remediation) { r.Spec.Scale = nil }, []string{"action scale needs spec.scale"}},
		{"scale parameters on a restart", func(r *v1alpha1.Remediation) { r.Spec.Action = "restart" }, []string{"spec.scale is only for action scale"}},
		{"negative revision", func(r *v1alpha1.Remediation) {
			r.Spec.Action, r.Spec.Scale, r.Spec.Rollback = "rollback", nil, &v1alpha1.RollbackParams{ToRevision: -1}
		}, []string{"spec.rollback.toRevision"}},
		{"unknown kind", func(r *v1alpha1.Remediation) { r.Spec.Target.Kind = "Job" }, []string{"spec.target.kind", "Unsupported value"}},
		{"scale of a Pod", func(r *v1alpha1.Remediation) { r.Spec.Target.Kind = "Pod" }, []string{"action evict-pod acts on a target of kind Pod, and only it does"}},
		{"evict-pod of a Deployment", func(r *v1alpha1.Remediation) { r.Spec.Action, r.Spec.Scale = "evict-pod", nil }, []string{"action evict-pod acts on a target of kind Pod"}},
		{"run-job of a Deployment", func(r *v1alpha1.Remediation) { r.Spec.Action, r.Spec.Scale = "run-job", nil }, []string{"action run-job acts on a target of kind CronJob"}},
		{"evict parameters on a scale", func(r *v1alpha1.Remediation) { r.Spec.Evict = &v1alpha1.EvictParams{MinAvailable: 1} }, []string{"spec.evict is only for action evict-pod"}},
		{"negative minAvailable", func(r *v1alpha1.Remediation) {
			r.Spec.Action, r.Spec.Scale, r.Spec.Target.Kind = "evict-pod", nil, "Pod"
			r.Spec.Evict = &v1alpha1.EvictParams{MinAvailable: -1}
		}, []string{"spec.evict.minAvailable"}},
		{"namespace not a DNS label", func(r *v1alpha1.Remediation) { r.Spec.Target.Namespace = "Shop_1" }, []string{"spec.target.namespace"}},
		{"name not a DNS subdomain", func(r *v1alpha1.Remediation) { r.Spec.Target.Name = "../web" }, []string{"spec.target.name"}},
		{"empty rule", func(r *v1alpha1.Remediation) { r.Spec.Rule = "" }, []string{"spec.rule"}},
		{"negative budget", func(r *v1alpha1.Remediation) {
			r.Spec.Budget = &v1alpha1.BudgetSpec{PerRule: -1, Window: metav1.Duration{Duration: time.Hour}}
		}, []string{"spec.budget.perRule"}},
		{"verify with no check", func(r *v1alpha1.Remediation) { r.Spec.Verify = &v1alpha1.VerifySpec{} }, []string{"verify needs rollout or alertResolved"}},
		{"rollout timeout of zero", func(r *v1alpha1.Remediation) {
			r.Spec.Verify = &v1alpha1.VerifySpec{Rollout: &v1alpha1.RolloutCheck{}}
		}, []string{"verify.rollout.timeout must be between 1s and 24h"}},
		{"alertResolved window of two days", func(r *v1alpha1.Remediation) {
			r.Spec.Verify = &v1alpha1.VerifySpec{AlertResolved: &v1alpha1.AlertResolvedCheck{Within: metav1.Duration{Duration: 48 * time.Hour}}}
		}, []string{"verify.alertResolved.within must be between 1s and 24h"}},
		{"silence without verification", func(r *v1alpha1.Remediation) { r.Spec.Silence = true }, []string{"spec.silence needs spec.verify.rollout"}},
		{"silence with alertResolved", func(r *v1alpha1.Remediation) {
			r.Spec.Silence = true
			r.Spec.Verify = &v1alpha1.VerifySpec{Rollout: &v1alpha1.RolloutCheck{Timeout: metav1.Duration{Duration: time.Minute}},
				AlertResolved: &v1alpha1.AlertResolvedCheck{Within: metav1.Duration{Duration: time.Minute}}}
		}, []string{"would mute the resolved notification"}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := scaleRecord("rem-invalid-" + string(rune('a'+i)))
			tc.spoil(rec)
			err := cluster.Records.Create(t.Context(), rec)
			if !apierrors.IsInvalid(err) {
				t.Fatalf("create: err = %v, want Invalid", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// A valid record is accepted, its status can be written as before, and its
// spec can never change: what was approved is what runs.
func TestCRDSpecIsImmutable(t *testing.T) {
	ensureNamespace(t, crdNamespace)
	ctx := t.Context()
	valid := []*v1alpha1.Remediation{scaleRecord("rem-valid-multiply")}
	to := scaleRecord("rem-valid-to-zero")
	to.Spec.Scale = &v1alpha1.ScaleParams{Op: "to", N: 0}
	by := scaleRecord("rem-valid-by-minus")
	by.Spec.Scale = &v1alpha1.ScaleParams{Op: "by", N: -2, Min: 1}
	rb := scaleRecord("rem-valid-rollback")
	rb.Spec.Action, rb.Spec.Scale, rb.Spec.Rollback = "rollback", nil, &v1alpha1.RollbackParams{ToRevision: 3}
	rs := scaleRecord("rem-valid-restart")
	rs.Spec.Action, rs.Spec.Scale = "restart", nil
	sl := scaleRecord("rem-valid-silence")
	sl.Spec.Silence = true
	sl.Spec.Verify = &v1alpha1.VerifySpec{Rollout: &v1alpha1.RolloutCheck{Timeout: metav1.Duration{Duration: 5 * time.Minute}}}
	valid = append(valid, to, by, rb, rs, sl)
	for _, r := range valid {
		if err := cluster.Records.Create(ctx, r); err != nil {
			t.Fatalf("create valid record %s: %v", r.Name, err)
		}
	}

	rec := valid[0]
	rec.Status = v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseRunning, Reason: "Running", Attempts: 1}
	if err := cluster.Records.Status().Update(ctx, rec); err != nil {
		t.Fatalf("status update: %v", err)
	}

	for _, change := range []struct {
		what string
		do   func(*v1alpha1.Remediation)
	}{
		{"factor", func(r *v1alpha1.Remediation) { r.Spec.Scale.Factor = "3" }},
		{"target", func(r *v1alpha1.Remediation) { r.Spec.Target.Name = "api" }},
		{"approvers", func(r *v1alpha1.Remediation) {
			r.Spec.Approval = &v1alpha1.ApprovalSpec{Users: []string{"U999"}, Timeout: metav1.Duration{Duration: time.Hour}}
		}},
		{"dry run", func(r *v1alpha1.Remediation) { r.Spec.DryRun = true }},
	} {
		var cur v1alpha1.Remediation
		if err := cluster.Records.Get(ctx, kube.ObjectKeyFromObject(rec), &cur); err != nil {
			t.Fatal(err)
		}
		change.do(&cur)
		err := cluster.Records.Update(ctx, &cur)
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec is immutable") {
			t.Errorf("update of spec (%s): err = %v, want Invalid saying spec is immutable", change.what, err)
		}
	}

	var got v1alpha1.Remediation
	if err := cluster.Records.Get(ctx, kube.ObjectKeyFromObject(rec), &got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.Scale.Factor != "1.5" || got.Spec.Target.Name != "web" || got.Spec.Approval != nil || got.Spec.DryRun {
		t.Errorf("spec changed: %+v", got.Spec)
	}
	if got.Status.Phase != v1alpha1.PhaseRunning {
		t.Errorf("status.phase = %q, want Running", got.Status.Phase)
	}
	// Metadata is not spec: labels and annotations may still change.
	got.Labels = map[string]string{"alertmedic.io/note": "x"}
	if err := cluster.Records.Update(ctx, &got); err != nil {
		t.Errorf("update of metadata only: %v", err)
	}
}
