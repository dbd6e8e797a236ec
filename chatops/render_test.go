package chatops

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
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
		// A sequence waiting for its one approval shows every step.
		{"pending-sequence", func(r *v1alpha1.Remediation) {
			r.Spec.Action, r.Spec.Rollback = v1alpha1.ActionRunJob, nil
			r.Spec.Target = v1alpha1.Target{Kind: v1alpha1.KindCronJob, Namespace: "shop", Name: "checkout-backup"}
			r.Spec.TargetRef = r.Spec.Target.String()
			r.Spec.Sequence = &v1alpha1.SequenceRef{Step: 1, Of: 3}
			r.Spec.Then = []v1alpha1.Step{
				{Action: v1alpha1.ActionRollback, Target: &v1alpha1.Target{Kind: v1alpha1.KindDeployment, Namespace: "shop", Name: "checkout"}, Rollback: &v1alpha1.RollbackParams{}},
				{Action: v1alpha1.ActionRestart, Target: &v1alpha1.Target{Kind: v1alpha1.KindDeployment, Namespace: "shop", Name: "cache"}},
			}
		}},
		// Its second step, done, with the third recorded.
		{"sequence-next", func(r *v1alpha1.Remediation) {
			r.Name += "-s2"
			r.Spec.Approval = nil
			r.Spec.Sequence = &v1alpha1.SequenceRef{Step: 2, Of: 3, Previous: "rem-0123456789abcdef0123"}
			r.Spec.Then = []v1alpha1.Step{{Action: v1alpha1.ActionRestart, Target: &v1alpha1.Target{Kind: v1alpha1.KindDeployment, Namespace: "shop", Name: "cache"}}}
			r.Status.Phase, r.Status.Reason = v1alpha1.PhaseSucceeded, "RolledBack"
			r.Status.Message = "rolled back from revision 7 to revision 6 (checkout=shop/checkout:v2.3.1)"
			r.Status.Result = &v1alpha1.ActionResult{Outcome: "Succeeded", Reason: "RolledBack",
				Before: "revision=7 checkout=shop/checkout:v2.4.0", After: "revision=6 checkout=shop/checkout:v2.3.1"}
			r.Status.Next = &v1alpha1.NextStatus{Record: "rem-0123456789abcdef0123-s3"}
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

// restartRecord is an automatic restart, verified by its rollout, as the
// runner leaves it once planned.
func restartRecord() *v1alpha1.Remediation {
	return &v1alpha1.Remediation{
		ObjectMeta: metav1.ObjectMeta{Name: "rem-89abcdef0123456789ab", Namespace: "alertmedic"},
		Spec: v1alpha1.RemediationSpec{
			Rule: "restart-crashlooping", Action: "restart",
			Target:    v1alpha1.Target{Kind: "Deployment", Namespace: "shop", Name: "cart"},
			TargetRef: "Deployment/shop/cart",
			Alert: v1alpha1.AlertRef{
				Name: "KubePodCrashLooping", Fingerprint: "0a1b2c3d4e5f6071", StartsAt: metav1.NewMicroTime(t0.Add(-5 * time.Minute)),
				Labels:       map[string]string{"alertname": "KubePodCrashLooping", "severity": "warning", "namespace": "shop", "deployment": "cart"},
				Summary:      "Pod shop/cart-7d9f8b6c5d-x2x7q is crash looping",
				Description:  "Pod shop/cart-7d9f8b6c5d-x2x7q (app) is in waiting state (reason: \"CrashLoopBackOff\") & has restarted 7 times.",
				GeneratorURL: "http://prometheus.example:9090/graph?g0.expr=kube_pod_container_status_waiting_reason&g0.tab=1",
				RunbookURL:   "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubepodcrashlooping",
			},
			Verify: &v1alpha1.VerifySpec{Rollout: &v1alpha1.RolloutCheck{Timeout: metav1.Duration{Duration: 5 * time.Minute}}},
		},
		Status: v1alpha1.RemediationStatus{Phase: v1alpha1.PhasePending, Reason: "Accepted", Message: "accepted by policy"},
	}
}

// The message of an automatic action at each step of its life, and in the
// variants of it a responder may see.
func TestRenderAutomaticGolden(t *testing.T) {
	ran := func(r *v1alpha1.Remediation, phase v1alpha1.Phase) {
		r.Status.Phase, r.Status.StartedAt, r.Status.Attempts, r.Status.ExecutedBy = phase, at(time.Second), 1, "alertmedic-7c9d-abcde"
		if phase == v1alpha1.PhaseRunning {
			r.Status.Reason, r.Status.Message = "Running", "attempt 1"
			return
		}
		r.Status.Reason, r.Status.Message = "Restarted", "rollout restart of Deployment/shop/cart; verifying: rollout within 5m0s"
		r.Status.Result = &v1alpha1.ActionResult{Outcome: "Succeeded", Reason: "Restarted",
			Before: "restartedAt=never generation=4", After: "restartedAt=2026-11-23T09:30:01Z generation=5"}
		r.Status.Verification = &v1alpha1.Verification{StartedAt: metav1.NewMicroTime(t0.Add(2 * time.Second)),
			Rollout: &v1alpha1.CheckStatus{Deadline: metav1.NewMicroTime(t0.Add(5*time.Minute + 2*time.Second)),
				Observed: "1/3 ready: 1 of 3 updated replicas available; new ReplicaSet pods: 2 Running not ready"}}
	}
	stalled := func(r *v1alpha1.Remediation) {
		ran(r, v1alpha1.PhaseFailed)
		c := r.Status.Verification.Rollout
		c.Observed = "0/3 ready: 1 of 3 new replicas updated; new ReplicaSet pods: 1 Waiting (CrashLoopBackOff, 7 restarts, last OOMKilled)"
		c.Warnings = []string{
			"BackOff (x41, Pod/cart-5f6d7c8b9a-k2l3m and 3 more): Back-off restarting failed container app in pod",
			"Unhealthy (x12, Pod/cart-5f6d7c8b9a-k2l3m): Readiness probe failed: HTTP probe failed with statuscode: 503",
			"FailedCreate (ReplicaSet/cart-5f6d7c8b9a): pods \"cart-5f6d7c8b9a-zz\" is forbidden: exceeded quota: compute, requested: memory=2Gi, used: memory=7Gi, limited: memory=8Gi",
		}
		r.Status.Reason = "RolloutStalled"
		r.Status.Message = "rollout not finished 5m0s after the action: " + c.Observed
		r.Status.FinishedAt = at(5*time.Minute + 2*time.Second)
	}
	for _, tc := range []struct {
		name   string
		change func(r *v1alpha1.Remediation)
	}{
		{"auto-planned", func(r *v1alpha1.Remediation) {}},
		{"auto-running", func(r *v1alpha1.Remediation) { ran(r, v1alpha1.PhaseRunning) }},
		{"auto-verifying", func(r *v1alpha1.Remediation) { ran(r, v1alpha1.PhaseVerifying) }},
		{"auto-verifying-diagnosed", func(r *v1alpha1.Remediation) {
			ran(r, v1alpha1.PhaseVerifying)
			r.Status.Verification.Rollout.Observed = "0/3 ready: 1 of 3 new replicas updated; new ReplicaSet pods: 1 Waiting (ImagePullBackOff)"
			r.Status.Verification.Rollout.Warnings = []string{
				"Failed (x3, Pod/cart-5f6d7c8b9a-k2l3m): Failed to pull image \"shop/cart:v2.5.0\": not found",
				"BackOff (x6, Pod/cart-5f6d7c8b9a-k2l3m): Back-off pulling image \"shop/cart:v2.5.0\"",
			}
		}},
		{"auto-verified", func(r *v1alpha1.Remediation) {
			ran(r, v1alpha1.PhaseSucceeded)
			c := r.Status.Verification.Rollout
			c.PassedAt, c.Observed = &metav1.MicroTime{Time: t0.Add(40 * time.Second)}, "3/3 ready: successfully rolled out"
			r.Status.Reason, r.Status.Message = "Verified", "verified: rollout finished after 38s (3/3 ready: successfully rolled out)"
			r.Status.FinishedAt = at(40 * time.Second)
		}},
		{"auto-failed", stalled},
		{"auto-failed-escalated", func(r *v1alpha1.Remediation) {
			stalled(r)
			r.Spec.OnFailure = []v1alpha1.Step{{Action: "rollback", Approval: &v1alpha1.ApprovalSpec{Timeout: metav1.Duration{Duration: 30 * time.Minute}}}}
			r.Status.Escalation = &v1alpha1.EscalationStatus{Record: "rem-fedcba9876543210fedc"}
		}},
		{"auto-failed-not-escalated", func(r *v1alpha1.Remediation) {
			stalled(r)
			r.Spec.OnFailure = []v1alpha1.Step{{Action: "rollback"}}
			r.Status.Escalation = &v1alpha1.EscalationStatus{Message: "Deployment/shop/cart has no earlier revision to roll back to"}
		}},
		{"auto-failed-quiet", func(r *v1alpha1.Remediation) {
			stalled(r)
			r.Spec.Notify = v1alpha1.NotifyFailures
		}},
		{"auto-escalation-pending-approval", func(r *v1alpha1.Remediation) {
			r.Name = "rem-fedcba9876543210fedc"
			r.Spec.Action, r.Spec.EscalatedFrom = "rollback", "rem-89abcdef0123456789ab"
			r.Spec.Rollback = &v1alpha1.RollbackParams{}
			r.Spec.Approval = &v1alpha1.ApprovalSpec{Channel: "C0SHOPOPS", Groups: []string{"S0SRE"}, Timeout: metav1.Duration{Duration: 30 * time.Minute}}
			r.Status.Phase, r.Status.Reason = v1alpha1.PhasePendingApproval, "ApprovalRequired"
			r.Status.Message = "escalation of rem-89abcdef0123456789ab needs a person's approval"
			r.Status.ApprovalExpiresAt = at(35 * time.Minute)
			r.Status.Plan = &v1alpha1.Plan{PlannedAt: *at(5 * time.Minute), Generation: 5, Outcome: "Succeeded", Reason: "RolledBack",
				Before: "revision=5 app=shop/cart:v2.5.0", After: "revision=4 app=shop/cart:v2.4.3"}
		}},
		{"auto-dry-run", func(r *v1alpha1.Remediation) {
			r.Spec.DryRun = true
			r.Status.Phase, r.Status.StartedAt, r.Status.FinishedAt = v1alpha1.PhaseSucceeded, at(time.Second), at(time.Second)
			r.Status.Reason, r.Status.Message = "Restarted", "dry run: would restart Deployment/shop/cart"
			r.Status.Result = &v1alpha1.ActionResult{Outcome: "Succeeded", Reason: "Restarted",
				Before: "restartedAt=never", After: "restartedAt=2026-11-23T09:30:01Z"}
		}},
		{"auto-skipped-while-running", func(r *v1alpha1.Remediation) {
			r.Status.Phase, r.Status.StartedAt, r.Status.FinishedAt = v1alpha1.PhaseSkipped, at(time.Second), at(time.Second)
			r.Status.Reason, r.Status.Message = "Paused", "can't restart a paused Deployment (run 'kubectl rollout resume' first)"
		}},
		{"auto-long-texts", func(r *v1alpha1.Remediation) {
			stalled(r)
			r.Spec.Alert.Description = strings.Repeat("a very long description ", 200)
			r.Status.Message = strings.Repeat("m", 5000)
			r.Status.Verification.Rollout.Observed = strings.Repeat("o", 5000)
			for i := range r.Status.Verification.Rollout.Warnings {
				r.Status.Verification.Rollout.Warnings[i] = strings.Repeat("w", 2000)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := restartRecord()
			tc.change(rec)
			checkGolden(t, tc.name, Render(rec, defaultsA))
		})
	}
}

// checkGolden compares msg with testdata/messages/NAME.json, and checks it
// keeps within Slack's limits.
func checkGolden(t *testing.T, name string, msg Message) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(map[string]any{"text": msg.Text, "blocks": msg.Blocks}); err != nil {
		t.Fatal(err)
	}
	got := buf.Bytes()
	path := filepath.Join("testdata", "messages", name+".json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./chatops -run TestRender -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("message for %s differs from %s (-update rewrites it):\n%s", name, path, got)
	}
	checkLimits(t, msg)
}

// checkLimits fails when msg breaks one of Slack's limits on a message.
func checkLimits(t *testing.T, msg Message) {
	t.Helper()
	if len(msg.Blocks) > maxBlocks {
		t.Errorf("%d blocks, Slack takes %d", len(msg.Blocks), maxBlocks)
	}
	long := func(what, s string, n int) {
		if l := len([]rune(s)); l > n {
			t.Errorf("%s is %d characters, Slack takes %d", what, l, n)
		}
	}
	long("the text", msg.Text, maxBlockText)
	for i, b := range msg.Blocks {
		switch b := b.(type) {
		case *slack.HeaderBlock:
			long(fmt.Sprintf("header %d", i), b.Text.Text, maxHeaderText)
		case *slack.SectionBlock:
			if b.Text != nil {
				long(fmt.Sprintf("section %d", i), b.Text.Text, maxBlockText)
			}
			for _, f := range b.Fields {
				long(fmt.Sprintf("a field of section %d", i), f.Text, maxFieldText)
			}
		case *slack.ContextBlock:
			for _, e := range b.ContextElements.Elements {
				if o, ok := e.(*slack.TextBlockObject); ok {
					long(fmt.Sprintf("context %d", i), o.Text, maxBlockText)
				}
			}
		}
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
