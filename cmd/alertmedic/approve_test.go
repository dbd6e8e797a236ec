package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/testlog"
)

// approvalRules restarts a Deployment only once a person approves.
func approvalRules(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rules.yaml")
	text := `rules:
  - name: restart-with-approval
    match: ['alertname="KubePodCrashLooping"']
    target: {kind: Deployment, namespace: '{{ .Labels.namespace }}', name: '{{ .Labels.deployment }}'}
    action: restart
    verify: {rollout: false} # this cluster runs no controllers: no rollout to see converge
    approval: {required: true, channel: C0123456, approvers: {users: [U0123]}, timeout: 30m}
`
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// cli runs one alertmedic command in process.
func cliRun(args ...string) (int, string, string) {
	var stdout, stderr testlog.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// pendingRecord waits for the single record of the test to await approval.
func pendingRecord(t *testing.T, records string) v1alpha1.Remediation {
	t.Helper()
	var rec v1alpha1.Remediation
	waitFor(t, "a record waiting for approval", func() bool {
		recs := recordsIn(t, records)
		for _, r := range recs {
			if r.Status.Phase == v1alpha1.PhasePendingApproval {
				rec = r
				return true
			}
		}
		return false
	})
	return rec
}

// From a terminal: pending lists it, approve runs it once, and a second
// approval is told who decided.
func TestApproveFromTerminal(t *testing.T) {
	work := deployments(t, 1)
	kc := kubeconfig(t)
	s := startServe(t, kc, "--rules", approvalRules(t))
	records := recordsNamespace(t)
	mustPost(t, s, notification(t, "{}:{}", crashLooping(work, "app-0", t0)))
	rec := pendingRecord(t, records)
	if n := restartEvents(t, work, "app-0"); n != 0 {
		t.Fatalf("restarted %d times before approval", n)
	}

	code, out, errOut := cliRun("pending", "--namespace", records, "--kubeconfig", kc)
	if code != 0 || !strings.Contains(out, rec.Name) || !strings.Contains(out, "restart-with-approval") || !strings.Contains(out, "ApprovalRequired") {
		t.Fatalf("pending: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = cliRun("approve", rec.Name, "--namespace", records, "--kubeconfig", kc)
	if code != 0 || !strings.Contains(out, "approved "+rec.Name+": restart") {
		t.Fatalf("approve: exit %d\n%s%s", code, out, errOut)
	}
	waitFor(t, "the approved restart", allFinal(t, records, 1))
	got := recordsIn(t, records)[0]
	if got.Status.Phase != v1alpha1.PhaseSucceeded || got.Status.DecidedBy != "kubernetes:alertmedic-test" || got.Status.DecidedAt == nil {
		t.Errorf("status = %+v, want Succeeded, decided by kubernetes:alertmedic-test", got.Status)
	}
	if n := restartEvents(t, work, "app-0"); n != 1 {
		t.Errorf("restarts = %d, want 1", n)
	}
	code, _, errOut = cliRun("approve", rec.Name, "--namespace", records, "--kubeconfig", kc)
	if code != 1 || !strings.Contains(errOut, rec.Name+" was already approved by kubernetes:alertmedic-test at ") {
		t.Errorf("approving a finished record: exit %d, %q; want who approved it and when", code, errOut)
	}
	code, out, _ = cliRun("pending", "--namespace", records, "--kubeconfig", kc)
	if code != 0 || !strings.Contains(out, "no remediation is waiting for approval") {
		t.Errorf("pending after: exit %d %q", code, out)
	}
}

// Many people approving at once: one approval, one action; everyone else is
// told who approved and when.
func TestConcurrentApprovalsActOnce(t *testing.T) {
	work := deployments(t, 1)
	kc := kubeconfig(t)
	s := startServe(t, kc, "--rules", approvalRules(t))
	records := recordsNamespace(t)
	mustPost(t, s, notification(t, "{}:{}", crashLooping(work, "app-0", t0)))
	rec := pendingRecord(t, records)
	var (
		wg             sync.WaitGroup
		mu             sync.Mutex
		won, toldWho   int
		unexpectedErrs []string
	)
	for range 10 {
		wg.Go(func() {
			code, _, errOut := cliRun("approve", rec.Name, "--namespace", records, "--kubeconfig", kc)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case code == 0:
				won++
			case strings.Contains(errOut, rec.Name+" was already approved by kubernetes:alertmedic-test at "):
				toldWho++
			default:
				unexpectedErrs = append(unexpectedErrs, errOut)
			}
		})
	}
	wg.Wait()
	if won != 1 || toldWho != 9 || len(unexpectedErrs) > 0 {
		t.Errorf("approvals: %d won, %d told who decided, unexpected: %q", won, toldWho, unexpectedErrs)
	}
	waitFor(t, "the approved restart", allFinal(t, records, 1))
	if n := restartEvents(t, work, "app-0"); n != 1 {
		t.Errorf("restarts = %d, want 1", n)
	}
}

func TestDenyFromTerminal(t *testing.T) {
	work := deployments(t, 1)
	kc := kubeconfig(t)
	s := startServe(t, kc, "--rules", approvalRules(t))
	records := recordsNamespace(t)
	mustPost(t, s, notification(t, "{}:{}", crashLooping(work, "app-0", t0)))
	rec := pendingRecord(t, records)
	code, out, errOut := cliRun("deny", "--namespace", records, "--kubeconfig", kc, rec.Name)
	if code != 0 || !strings.Contains(out, "denied "+rec.Name) {
		t.Fatalf("deny: exit %d\n%s%s", code, out, errOut)
	}
	got := recordsIn(t, records)[0]
	if got.Status.Phase != v1alpha1.PhaseDenied || got.Status.DecidedBy != "kubernetes:alertmedic-test" {
		t.Errorf("status = %+v, want Denied", got.Status)
	}
	code, _, errOut = cliRun("approve", rec.Name, "--namespace", records, "--kubeconfig", kc)
	if code != 1 || !strings.Contains(errOut, "was already denied by kubernetes:alertmedic-test at") {
		t.Errorf("approving a denied record: exit %d, %q", code, errOut)
	}
	if n := restartEvents(t, work, "app-0"); n != 0 {
		t.Errorf("restarts = %d after a denial, want 0", n)
	}
}

// Kubernetes RBAC decides who may approve: a user it grants nothing is
// refused, and the record is unchanged.
func TestApproveNeedsRBAC(t *testing.T) {
	work := deployments(t, 1)
	s := startServe(t, kubeconfig(t), "--rules", approvalRules(t))
	records := recordsNamespace(t)
	mustPost(t, s, notification(t, "{}:{}", crashLooping(work, "app-0", t0)))
	rec := pendingRecord(t, records)
	stranger, err := cluster.KubeconfigFor(t.TempDir(), "mallory")
	if err != nil {
		t.Fatal(err)
	}
	code, _, errOut := cliRun("approve", rec.Name, "--namespace", records, "--kubeconfig", stranger)
	if code != 1 || !strings.Contains(errOut, "forbidden") || !strings.Contains(errOut, "mallory") {
		t.Errorf("approve as a user without rights: exit %d, %q", code, errOut)
	}
	if got := recordsIn(t, records)[0]; got.Status.Phase != v1alpha1.PhasePendingApproval {
		t.Errorf("phase = %s, want still PendingApproval", got.Status.Phase)
	}
}

// With --breaker-hold=approval, actions the open breaker holds back wait for
// a person instead of being skipped; an approval lets one through.
func TestBreakerHoldsForApproval(t *testing.T) {
	work := deployments(t, 2)
	kc := kubeconfig(t)
	s := startServe(t, kc, "--rules", restartRules(t, ""), "--breaker-max", "1", "--breaker-hold", "approval")
	records := recordsNamespace(t)
	mustPost(t, s, notification(t, "{}:{}", crashLooping(work, "app-0", t0)))
	waitFor(t, "the first restart", allFinal(t, records, 1))
	mustPost(t, s, notification(t, "{}:{}", crashLooping(work, "app-1", t0)))
	held := pendingRecord(t, records)
	if held.Status.Reason != "CircuitOpen" || held.Status.ApprovalExpiresAt == nil || !strings.Contains(held.Status.Message, "alertmedic approve "+held.Name) {
		t.Fatalf("held record status = %+v", held.Status)
	}
	if code, out, errOut := cliRun("approve", held.Name, "--namespace", records, "--kubeconfig", kc); code != 0 {
		t.Fatalf("approve: exit %d\n%s%s", code, out, errOut)
	}
	waitFor(t, "the approved restart", allFinal(t, records, 2))
	if got := byPhase(t, records); got["Succeeded/Restarted"] != 2 {
		t.Errorf("records = %v, want both Succeeded", got)
	}
}

func TestDecideUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"approve"}, 2, "name the remediation"},
		{[]string{"deny", "a", "b"}, 2, `unexpected argument "b"`},
		{[]string{"pending", "x"}, 2, `unexpected argument "x"`},
	} {
		code, _, errOut := cliRun(tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, %q; want %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
	code, _, errOut := cliRun("approve", "rem-nope", "--namespace", "default", "--kubeconfig", kubeconfig(t))
	if code != 1 || !strings.Contains(errOut, "no remediation rem-nope in namespace default") {
		t.Errorf("approve a missing record: exit %d, %q", code, errOut)
	}
}
