package deploy

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/engine/approval"
	"github.com/alertmedic/alertmedic/internal/kube"
)

// The policy's name in manifests/admission.
const decisionPolicy = "alertmedic-decisions"

// installDecisionPolicy applies, for real, the ValidatingAdmissionPolicy and
// its binding from the base's build, and deletes them when the test ends.
// The API server enforces them a moment later (it learns of them through an
// informer): callers wait for a write the policy refuses to be refused.
func installDecisionPolicy(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	a := newApplier(t, cluster.Config)
	var installed []*unstructured.Unstructured
	for _, o := range kustomize(t, "manifests") {
		if o.GetKind() != "ValidatingAdmissionPolicy" && o.GetKind() != "ValidatingAdmissionPolicyBinding" {
			continue
		}
		// kubectl's kustomize does not know these kinds are
		// cluster-scoped and writes the base's namespace onto them; the
		// API server drops it.
		if _, err := a.apply(ctx, o, false); err != nil {
			t.Fatal(err)
		}
		installed = append(installed, o)
	}
	if len(installed) != 2 {
		t.Fatalf("the base builds %d admission objects, want the policy and its binding", len(installed))
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		for _, o := range installed {
			if err := a.delete(ctx, o); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		policyForgotten(t, ctx)
	})
}

// policyForgotten waits until the API server no longer enforces the
// decision policy (it forgets it a moment after its deletion, as it learned
// of it), so that the tests after this one do not meet it: a status write
// the policy refuses to anyone but alertmedic goes through again.
func policyForgotten(t *testing.T, ctx context.Context) {
	t.Helper()
	_, err := cluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: crdNamespace}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Errorf("cleanup: %v", err)
		return
	}
	probe := scaleRecord(fmt.Sprintf("rem-policy-gone-%d", time.Now().UnixNano()%1_000_000))
	if err := cluster.Records.Create(ctx, probe); err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	defer func() { _ = cluster.Records.Delete(ctx, probe) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var cur v1alpha1.Remediation
		err := cluster.Records.Get(ctx, kube.ObjectKeyFromObject(probe), &cur)
		if err == nil {
			cur.Status.Phase = v1alpha1.PhaseRunning
			if err = cluster.Records.Status().Update(ctx, &cur); err == nil {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Errorf("cleanup: the decision policy is still enforced 30s after its deletion: %v", err)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// approverRole lets users decide records in alertmedic's namespace, as a
// platform team grants its on-call engineers: read the records, update their
// status. It is removed when the test ends.
func approverRole(t *testing.T, users ...string) {
	t.Helper()
	ctx := t.Context()
	rbac := cluster.Client.RbacV1()
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "remediation-approvers", Namespace: saNamespace},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"alertmedic.io"}, Resources: []string{"remediations"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{"alertmedic.io"}, Resources: []string{"remediations/status"}, Verbs: []string{"get", "update", "patch"}},
		},
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "remediation-approvers", Namespace: saNamespace},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
	}
	for _, u := range users {
		binding.Subjects = append(binding.Subjects, rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: u})
	}
	if _, err := rbac.Roles(saNamespace).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := rbac.RoleBindings(saNamespace).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_ = rbac.RoleBindings(saNamespace).Delete(ctx, binding.Name, metav1.DeleteOptions{})
		_ = rbac.Roles(saNamespace).Delete(ctx, role.Name, metav1.DeleteOptions{})
	})
}

// impersonate is a records client acting as user in groups, authenticated
// by the test's cluster-admin impersonating them.
func impersonate(t *testing.T, user string, groups ...string) kube.Client {
	t.Helper()
	cfg := rest.CopyConfig(cluster.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: append(groups, "system:authenticated")}
	c, err := kube.New(cfg, kube.Options{Scheme: cluster.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// asAlertmedic is a records client acting as alertmedic's ServiceAccount.
func asAlertmedic(t *testing.T) kube.Client {
	t.Helper()
	return impersonate(t, saUser, saGroups[:2]...)
}

// pendingRecord creates a record and, as alertmedic does, asks for approval
// on it: PendingApproval with a plan, a deadline and its Slack message.
func pendingRecord(t *testing.T, bot kube.Client, name string) kube.ObjectKey {
	t.Helper()
	ctx := t.Context()
	rec := scaleRecord(name)
	rec.Namespace = saNamespace
	rec.Spec.Approval = &v1alpha1.ApprovalSpec{Users: []string{"U123"}, Timeout: metav1.Duration{Duration: time.Hour}}
	if err := cluster.Records.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	// Gone when the test ends: another test's alertmedic must not find an
	// approved record of this one to run.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := cluster.Records.Delete(ctx, rec); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("cleanup: %v", err)
		}
	})
	now := metav1.Now()
	expires := metav1.NewTime(now.Add(time.Hour))
	rec.Status = v1alpha1.RemediationStatus{
		Phase: v1alpha1.PhasePendingApproval, Reason: "ApprovalRequired", Message: "waiting for approval",
		ApprovalExpiresAt: &expires,
		Plan:              &v1alpha1.Plan{PlannedAt: now, Generation: 3, Outcome: "Succeeded", Before: "replicas=4", After: "replicas=6"},
	}
	if err := bot.Status().Update(ctx, rec); err != nil {
		t.Fatalf("alertmedic asks for approval on %s: %v", name, err)
	}
	rec.Status.Slack = &v1alpha1.SlackMessage{Channel: "C0123", TS: "1700000000.000100", Digest: "0123abcd"}
	if err := bot.Status().Update(ctx, rec); err != nil {
		t.Fatalf("alertmedic records its Slack message on %s: %v", name, err)
	}
	return kube.ObjectKeyFromObject(rec)
}

func record(t *testing.T, key kube.ObjectKey) *v1alpha1.Remediation {
	t.Helper()
	var rec v1alpha1.Remediation
	if err := cluster.Records.Get(t.Context(), key, &rec); err != nil {
		t.Fatal(err)
	}
	return &rec
}

// refused says whether err is the policy's refusal (not RBAC's), and its
// message contains want.
func refused(err error, want string) bool {
	return apierrors.IsForbidden(err) && strings.Contains(err.Error(), decisionPolicy) && strings.Contains(err.Error(), want)
}

// A decision names who really made it: a Kubernetes user can only decide as
// themselves and only decide, and alertmedic's ServiceAccount only records
// Slack users. Every decision goes through approval.Decide, the code the CLI
// and the Slack handler run.
func TestDecisionPolicyBindsApprovalsToTheCaller(t *testing.T) {
	installRBAC(t, "manifests")
	approverRole(t, "alice", "bob")
	installDecisionPolicy(t)
	ctx := t.Context()
	bot := asAlertmedic(t)
	alice := impersonate(t, "alice")

	// The policy is in force once a write it refuses is refused (policies
	// and RBAC reach the API server's admission and authorizer through
	// caches, a moment after they are written).
	probe := pendingRecord(t, bot, "rem-adm-probe")
	err := waitFor(ctx, 30*time.Second, "the policy to refuse alice's write of phase Succeeded", func() (bool, error) {
		rec := record(t, probe)
		rec.Status.Phase = v1alpha1.PhaseSucceeded
		err := alice.Status().Update(ctx, rec)
		if err == nil {
			return false, errors.New("alice set phase Succeeded")
		}
		return refused(err, "may only decide"), err
	})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("a user cannot approve naming another", func(t *testing.T) {
		key := pendingRecord(t, bot, "rem-adm-as-bob")
		for _, who := range []string{"kubernetes:bob", "slack:U123 (alice)", "alice", "kubernetes:alice2"} {
			_, err := approval.Decide(ctx, alice, key, true, who, time.Now())
			if !refused(err, `status.decidedBy must be "kubernetes:alice"`) {
				t.Errorf("alice approving as %q: err = %v, want the policy's refusal", who, err)
			}
		}
		if rec := record(t, key); rec.Status.Phase != v1alpha1.PhasePendingApproval || rec.Status.DecidedBy != "" {
			t.Errorf("after refused approvals: phase %s, decidedBy %q; want PendingApproval and nobody", rec.Status.Phase, rec.Status.DecidedBy)
		}
	})

	t.Run("a user's own approval and denial record them", func(t *testing.T) {
		key := pendingRecord(t, bot, "rem-adm-alice-ok")
		if _, err := approval.Decide(ctx, alice, key, true, "kubernetes:alice", time.Now()); err != nil {
			t.Fatalf("alice approving as herself: %v", err)
		}
		if got := record(t, key); got.Status.Phase != v1alpha1.PhaseApproved || got.Status.DecidedBy != "kubernetes:alice" || got.Status.Slack == nil || got.Status.Plan == nil {
			t.Errorf("after alice's approval: %+v", got.Status)
		}
		key = pendingRecord(t, bot, "rem-adm-alice-deny")
		if _, err := approval.Decide(ctx, impersonate(t, "bob"), key, false, "kubernetes:bob", time.Now()); err != nil {
			t.Fatalf("bob denying as himself: %v", err)
		}
		if got := record(t, key); got.Status.Phase != v1alpha1.PhaseDenied || got.Status.DecidedBy != "kubernetes:bob" || got.Status.FinishedAt == nil {
			t.Errorf("after bob's denial: %+v", got.Status)
		}
	})

	t.Run("a user may only decide", func(t *testing.T) {
		key := pendingRecord(t, bot, "rem-adm-only-decide")
		for _, tc := range []struct {
			what   string
			change func(*v1alpha1.Remediation)
			want   string
		}{
			{"phase Succeeded", func(r *v1alpha1.Remediation) {
				r.Status.Phase, r.Status.Reason = v1alpha1.PhaseSucceeded, "Scaled"
			}, "may only decide"},
			{"phase Running", func(r *v1alpha1.Remediation) { r.Status.Phase = v1alpha1.PhaseRunning }, "may only decide"},
			{"phase Expired", func(r *v1alpha1.Remediation) { r.Status.Phase = v1alpha1.PhaseExpired }, "may only decide"},
			{"a later deadline", func(r *v1alpha1.Remediation) {
				later := metav1.NewTime(time.Now().Add(24 * time.Hour))
				r.Status.ApprovalExpiresAt = &later
			}, "may only decide"},
			{"an approval that also rewrites the plan", func(r *v1alpha1.Remediation) {
				decide(r, true, "kubernetes:alice")
				r.Status.Plan.After = "replicas=60"
			}, "may write only the decision"},
			{"an approval that drops the Slack message", func(r *v1alpha1.Remediation) {
				decide(r, true, "kubernetes:alice")
				r.Status.Slack = nil
			}, "may write only the decision"},
			{"an approval that sets attempts", func(r *v1alpha1.Remediation) {
				decide(r, true, "kubernetes:alice")
				r.Status.Attempts = 1
			}, "may write only the decision"},
			{"an approval saying someone else approved", func(r *v1alpha1.Remediation) {
				decide(r, true, "kubernetes:alice")
				r.Status.Message = "approved by slack:U999 (the CTO)"
			}, "may write only the decision"},
			{"an approval with the reason of a denial", func(r *v1alpha1.Remediation) {
				decide(r, true, "kubernetes:alice")
				r.Status.Reason = "Denied"
			}, "may write only the decision"},
			{"an approval that finishes the record", func(r *v1alpha1.Remediation) {
				decide(r, true, "kubernetes:alice")
				r.Status.FinishedAt = r.Status.DecidedAt
			}, "may write only the decision"},
		} {
			rec := record(t, key)
			tc.change(rec)
			if err := alice.Status().Update(ctx, rec); !refused(err, tc.want) {
				t.Errorf("alice writing %s: err = %v, want the policy's refusal saying %q", tc.what, err, tc.want)
			}
		}
		if rec := record(t, key); rec.Status.Phase != v1alpha1.PhasePendingApproval || rec.Status.DecidedBy != "" {
			t.Errorf("after refused writes: %+v", rec.Status)
		}

		// Once decided, a record is alertmedic's to run: alice cannot move
		// it on, nor take her approval back.
		if _, err := approval.Decide(ctx, alice, key, true, "kubernetes:alice", time.Now()); err != nil {
			t.Fatal(err)
		}
		for _, p := range []v1alpha1.Phase{v1alpha1.PhaseRunning, v1alpha1.PhasePendingApproval, v1alpha1.PhaseDenied} {
			rec := record(t, key)
			rec.Status.Phase = p
			if err := alice.Status().Update(ctx, rec); !refused(err, "may only decide") {
				t.Errorf("alice moving an Approved record to %s: err = %v, want the policy's refusal", p, err)
			}
		}
		// A merge patch is an update too.
		err := alice.Status().Patch(ctx, record(t, key), kube.RawPatch("application/merge-patch+json", []byte(`{"status":{"decidedBy":"kubernetes:bob"}}`)))
		if !refused(err, "may only decide") {
			t.Errorf("alice patching decidedBy: err = %v, want the policy's refusal", err)
		}
	})

	t.Run("alertmedic records Slack users only", func(t *testing.T) {
		key := pendingRecord(t, bot, "rem-adm-slack")
		for _, who := range []string{"kubernetes:alice", "alice", "system:serviceaccount:alertmedic:alertmedic"} {
			if _, err := approval.Decide(ctx, bot, key, true, who, time.Now()); !refused(err, `must start with "slack:"`) {
				t.Errorf("alertmedic approving as %q: err = %v, want the policy's refusal", who, err)
			}
		}
		if _, err := approval.Decide(ctx, bot, key, true, "slack:U123 (alice)", time.Now()); err != nil {
			t.Fatalf("alertmedic recording a Slack approval: %v", err)
		}
		if rec := record(t, key); rec.Status.DecidedBy != "slack:U123 (alice)" || rec.Status.Phase != v1alpha1.PhaseApproved {
			t.Errorf("after a Slack approval: %+v", rec.Status)
		}
		// Nor can it rewrite a decision to a Kubernetes user afterwards.
		rec := record(t, key)
		rec.Status.DecidedBy = "kubernetes:alice"
		if err := bot.Status().Update(ctx, rec); !refused(err, `must start with "slack:"`) {
			t.Errorf("alertmedic rewriting decidedBy: err = %v, want the policy's refusal", err)
		}
		key = pendingRecord(t, bot, "rem-adm-slack-deny")
		if _, err := approval.Decide(ctx, bot, key, false, "slack:U123 (alice)", time.Now()); err != nil {
			t.Fatalf("alertmedic recording a Slack denial: %v", err)
		}
	})

	t.Run("alertmedic's own status writes pass", func(t *testing.T) {
		// A record alice approved runs, keeping her name.
		key := pendingRecord(t, bot, "rem-adm-run")
		if _, err := approval.Decide(ctx, alice, key, true, "kubernetes:alice", time.Now()); err != nil {
			t.Fatal(err)
		}
		now := metav1.Now()
		for _, step := range []func(*v1alpha1.Remediation){
			func(r *v1alpha1.Remediation) {
				r.Status.Phase, r.Status.Reason, r.Status.StartedAt, r.Status.ExecutedBy, r.Status.Attempts = v1alpha1.PhaseRunning, "Running", &now, "alertmedic-0", 1
			},
			func(r *v1alpha1.Remediation) {
				r.Status.Phase, r.Status.Reason, r.Status.FinishedAt = v1alpha1.PhaseSucceeded, "Scaled", &now
				r.Status.Result = &v1alpha1.ActionResult{Outcome: "Succeeded", Reason: "Scaled", Before: "replicas=4", After: "replicas=6"}
			},
			func(r *v1alpha1.Remediation) { r.Status.Slack.Digest, r.Status.Slack.Error = "feedbeef", "" },
			func(r *v1alpha1.Remediation) { r.Status.AlertResolvedAt = &now },
		} {
			rec := record(t, key)
			step(rec)
			if err := bot.Status().Update(ctx, rec); err != nil {
				t.Fatalf("alertmedic's status write: %v", err)
			}
		}
		if rec := record(t, key); rec.Status.Phase != v1alpha1.PhaseSucceeded || rec.Status.DecidedBy != "kubernetes:alice" {
			t.Errorf("after running: %+v", rec.Status)
		}
		// Its other writes: expiring, cancelling, holding for approval.
		for _, end := range []v1alpha1.Phase{v1alpha1.PhaseExpired, v1alpha1.PhaseCancelled} {
			key := pendingRecord(t, bot, "rem-adm-"+strings.ToLower(string(end)))
			rec := record(t, key)
			rec.Status.Phase, rec.Status.FinishedAt = end, &now
			if err := bot.Status().Update(ctx, rec); err != nil {
				t.Errorf("alertmedic writing %s: %v", end, err)
			}
		}
	})
}

// decide writes onto r what approval.Decide writes.
func decide(r *v1alpha1.Remediation, approve bool, who string) {
	now := metav1.Now()
	r.Status.DecidedBy, r.Status.DecidedAt = who, &now
	if approve {
		r.Status.Phase, r.Status.Reason, r.Status.Message = v1alpha1.PhaseApproved, "Approved", "approved by "+who
		return
	}
	r.Status.Phase, r.Status.Reason, r.Status.Message, r.Status.FinishedAt = v1alpha1.PhaseDenied, "Denied", "denied by "+who, &now
}

// 'alertmedic approve' as a user authenticated by a client certificate (no
// impersonation): the name it asks the API server for (SelfSubjectReview) is
// the name the policy checks, so a user's own approval passes.
func TestApproveCommandNamesTheAuthenticatedUser(t *testing.T) {
	bin, _, _, _ := imageBinary(t)
	installRBAC(t, "manifests")
	approverRole(t, "carol")
	installDecisionPolicy(t)
	bot := asAlertmedic(t)
	key := pendingRecord(t, bot, "rem-adm-cli")
	kubeconfig, err := cluster.KubeconfigFor(t.TempDir(), "carol")
	if err != nil {
		t.Fatal(err)
	}
	// RBAC reaches the authorizer a moment after it is written: wait until
	// carol may read the record.
	carol := kubeconfigClient(t, kubeconfig)
	if err := waitFor(t.Context(), 30*time.Second, "carol's RBAC", func() (bool, error) {
		var r v1alpha1.Remediation
		err := carol.Get(t.Context(), key, &r)
		return err == nil, err
	}); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), bin, "approve", key.Name, "--namespace", saNamespace, "--kubeconfig", kubeconfig).CombinedOutput()
	if err != nil {
		t.Fatalf("alertmedic approve: %v\n%s", err, out)
	}
	if rec := record(t, key); rec.Status.Phase != v1alpha1.PhaseApproved || rec.Status.DecidedBy != "kubernetes:carol" {
		t.Errorf("after 'alertmedic approve' as carol: phase %s, decidedBy %q; want Approved by kubernetes:carol\n%s", rec.Status.Phase, rec.Status.DecidedBy, out)
	}
}

func kubeconfigClient(t *testing.T, path string) kube.Client {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := kube.New(cfg, kube.Options{Scheme: cluster.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
