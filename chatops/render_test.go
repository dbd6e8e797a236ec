package chatops

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/messages")

var (
	t0        = time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)
	at        = func(d time.Duration) *metav1.Time { t := metav1.NewTime(t0.Add(d)); return &t }
	defaultsA = Approvers{Groups: []string{"S0ONCALL"}}
)

// rollbackRecord is a rollback waiting for approval, as the runner leaves it.
func rollbackRecord() *v1alpha1.Remediation {
	return &v1alpha1.Remediation{
		ObjectMeta: metav1.ObjectMeta{Name: "rem-0123456789abcdef0123", Namespace: "alertmedic"},
		Spec: v1alpha1.RemediationSpec{
			Rule: "rollback-bad-deploy", Action: "rollback",
			Target:    v1alpha1.Target{Kind: "Deployment", Namespace: "shop", Name: "checkout"},
			TargetRef: "Deployment/shop/checkout",
			Rollback:  &v1alpha1.RollbackParams{},
			Alert: v1alpha1.AlertRef{
				Name: "ErrorBudgetBurn", Fingerprint: "5f0a1b2c3d4e5f60", StartsAt: metav1.NewMicroTime(t0.Add(-5 * time.Minute)),
				Labels:       map[string]string{"alertname": "ErrorBudgetBurn", "severity": "critical", "namespace": "shop", "deployment": "checkout"},
				Summary:      "checkout is burning its error budget 14x too fast (5xx > 2% for 5m) <after deploy>",
				GeneratorURL: "http://prometheus.example:9090/graph?g0.expr=slo%3Aerror_budget_burn",
				RunbookURL:   "https://runbooks.example/shop/checkout#error-budget",
			},
			Approval: &v1alpha1.ApprovalSpec{Channel: "C0SHOPOPS", Users: []string{"U0ALICE"}, Groups: []string{"S0SRE"},
				Timeout: metav1.Duration{Duration: 30 * time.Minute}},
		},
		Status: v1alpha1.RemediationStatus{
			Phase: v1alpha1.PhasePendingApproval, Reason: "ApprovalRequired",
			Message:           "rule rollback-bad-deploy needs a person's approval; approve with 'alertmedic approve rem-0123456789abcdef0123' before 2026-11-23T10:00:00Z",
			ApprovalExpiresAt: at(30 * time.Minute),
			Plan: &v1alpha1.Plan{PlannedAt: *at(0), Generation: 7, Outcome: "Succeeded", Reason: "RolledBack",
				Before: "revision=7 checkout=shop/checkout:v2.4.0", After: "revision=6 checkout=shop/checkout:v2.3.1"},
		},
	}
}

func TestRenderGolden(t *testing.T) {
	approved := func(r *v1alpha1.Remediation, phase v1alpha1.Phase) {
		r.Status.Phase, r.Status.DecidedBy, r.Status.DecidedAt = phase, "slack:U0ALICE (alice)", at(4*time.Minute)
		r.Status.Reason, r.Status.Message = "Approved", "approved by slack:U0ALICE (alice)"
	}
	for _, tc := range []struct {
		name   string
		change func(r *v1alpha1.Remediation)
	}{
		{"pending", func(r *v1alpha1.Remediation) {}},
		{"pending-breaker", func(r *v1alpha1.Remediation) {
			r.Spec.Approval = nil
			r.Spec.Action, r.Spec.Rollback = "scale", nil
			r.Spec.Scale = &v1alpha1.ScaleParams{Op: "multiply", Factor: "2", Min: 2, Max: 10}
			r.Status.Reason = "CircuitOpen"
			r.Status.Plan = &v1alpha1.Plan{PlannedAt: *at(0), Generation: 7, Outcome: "Succeeded", Before: "replicas=4", After: "replicas=8"}
		}},
		{"pending-policy", func(r *v1alpha1.Remediation) {
			r.Spec.Approval = nil
			r.Status.Reason = "PolicyRequiresApproval"
		}},
		{"pending-no-preview", func(r *v1alpha1.Remediation) {
			r.Status.Plan = &v1alpha1.Plan{PlannedAt: *at(0), Error: `rollback Deployment/shop/checkout: deployments.apps "checkout" not found`}
		}},
		{"pending-would-skip", func(r *v1alpha1.Remediation) {
			r.Status.Plan = &v1alpha1.Plan{PlannedAt: *at(0), Generation: 7, Outcome: "Skipped", Reason: "Paused",
				Message: "can't roll back a paused Deployment (run 'kubectl rollout resume' first)"}
		}},
		{"approved", func(r *v1alpha1.Remediation) { approved(r, v1alpha1.PhaseApproved) }},
		{"running", func(r *v1alpha1.Remediation) { approved(r, v1alpha1.PhaseRunning) }},
		{"verifying", func(r *v1alpha1.Remediation) {
			approved(r, v1alpha1.PhaseVerifying)
			r.Status.Reason, r.Status.Message = "RolledBack", "rolled back from revision 7 to revision 6 (checkout=shop/checkout:v2.3.1); verifying: rollout within 5m0s"
		}},
		{"succeeded", func(r *v1alpha1.Remediation) {
			approved(r, v1alpha1.PhaseSucceeded)
			r.Status.Reason, r.Status.Message = "RolledBack", "rolled back from revision 7 to revision 6 (checkout=shop/checkout:v2.3.1)"
			r.Status.Result = &v1alpha1.ActionResult{Outcome: "Succeeded", Reason: "RolledBack",
				Before: "revision=7 checkout=shop/checkout:v2.4.0", After: "revision=6 checkout=shop/checkout:v2.3.1"}
		}},
		{"failed", func(r *v1alpha1.Remediation) {
			approved(r, v1alpha1.PhaseFailed)
			r.Status.Reason, r.Status.Message = "Forbidden", `rollback Deployment/shop/checkout: deployments.apps "checkout" is forbidden: User "system:serviceaccount:alertmedic:alertmedic" cannot patch resource "deployments"`
		}},
		{"denied", func(r *v1alpha1.Remediation) {
			r.Status.Phase, r.Status.Reason, r.Status.DecidedBy, r.Status.DecidedAt = v1alpha1.PhaseDenied, "Denied", "kubernetes:bob@example.com", at(2*time.Minute)
		}},
		{"expired", func(r *v1alpha1.Remediation) {
			r.Status.Phase, r.Status.Reason = v1alpha1.PhaseExpired, "ApprovalTimeout"
		}},
		{"cancelled", func(r *v1alpha1.Remediation) {
			r.Status.Phase, r.Status.Reason = v1alpha1.PhaseCancelled, "AlertResolved"
		}},
		{"skipped-target-changed", func(r *v1alpha1.Remediation) {
			approved(r, v1alpha1.PhaseSkipped)
			r.Status.Reason = "TargetChanged"
			r.Status.Message = "Deployment/shop/checkout changed after the action was planned (generation 7, now 8): not acting on a plan nobody approved for it"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := rollbackRecord()
			tc.change(rec)
			msg := Render(rec, defaultsA)
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(map[string]any{"text": msg.Text, "blocks": msg.Blocks}); err != nil {
				t.Fatal(err)
			}
			got := buf.Bytes()
			path := filepath.Join("testdata", "messages", tc.name+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./chatops -run TestRenderGolden -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("message for %s differs from %s (-update rewrites it):\n%s", tc.name, path, got)
			}
			buttons := strings.Contains(string(got), ActionApprove)
			if pending := rec.Status.Phase == v1alpha1.PhasePendingApproval; buttons != pending {
				t.Errorf("buttons shown = %v in phase %s; want them exactly while approval is pending", buttons, rec.Status.Phase)
			}
		})
	}
}

// Every phase renders differently, so every change is mirrored to Slack.
func TestDigestFollowsPhase(t *testing.T) {
	seen := map[string]v1alpha1.Phase{}
	for _, p := range []v1alpha1.Phase{v1alpha1.PhasePendingApproval, v1alpha1.PhaseApproved, v1alpha1.PhaseRunning,
		v1alpha1.PhaseVerifying, v1alpha1.PhaseSucceeded, v1alpha1.PhaseFailed, v1alpha1.PhaseDenied, v1alpha1.PhaseExpired, v1alpha1.PhaseCancelled, v1alpha1.PhaseSkipped} {
		rec := rollbackRecord()
		rec.Status.Phase = p
		d := Render(rec, defaultsA).Digest()
		if other, ok := seen[d]; ok {
			t.Errorf("%s and %s render the same", p, other)
		}
		seen[d] = p
	}
	if first, again := Render(rollbackRecord(), defaultsA).Digest(), Render(rollbackRecord(), defaultsA).Digest(); first != again {
		t.Errorf("the same record renders differently twice")
	}
}
