package controller

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/remediations"
)

// verifyPolicy looks at Verifying records often, so that short deadlines
// are seen close to when they pass.
func verifyPolicy() Policy {
	return Policy{VerifyInterval: 200 * time.Millisecond}
}

// waitLong waits up to two minutes (a rollout on a busy machine) for cond.
func waitLong(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func available(t *testing.T, ns, name string) func() bool {
	return func() bool {
		d, err := cluster.Client.AppsV1().Deployments(ns).Get(t.Context(), name, metav1.GetOptions{})
		return err == nil && d.Status.ObservedGeneration == d.Generation && d.Status.AvailableReplicas == *d.Spec.Replicas &&
			d.Status.UpdatedReplicas == *d.Spec.Replicas && d.Status.Replicas == *d.Spec.Replicas
	}
}

func withVerify(rec *v1alpha1.Remediation, v *v1alpha1.VerifySpec) *v1alpha1.Remediation {
	rec.Spec.Verify = v
	return rec
}

func final(t *testing.T, rec *v1alpha1.Remediation) func() bool {
	return func() bool { return get(t, cluster.Records, rec).Status.Phase.Final() }
}

// A restart on the full cluster is Verifying until the Deployment's new
// ReplicaSet has every pod ready and the old one none: then Succeeded,
// Verified, saying how long it took.
func TestRestartVerifiedOnceTheRolloutConverges(t *testing.T) {
	ns := cluster.Namespace(t, "records")
	workload(t, ns, "web", nil)
	waitLong(t, "web available before the restart", available(t, ns, "web"))
	m := startRunner(t, ns, remediations.NewExecutor(cluster.Records, remediations.Options{}), verifyPolicy(), nil)
	rec := put(t, cluster.Records, ns, withVerify(restartRecord("verified", ns, "web"),
		&v1alpha1.VerifySpec{Rollout: &v1alpha1.RolloutCheck{Timeout: metav1.Duration{Duration: 2 * time.Minute}}}), v1alpha1.RemediationStatus{})
	waitLong(t, "the record to end", final(t, rec))
	got := get(t, cluster.Records, rec)
	st := got.Status
	if st.Phase != v1alpha1.PhaseSucceeded || st.Reason != ReasonVerified || !strings.Contains(st.Message, "rollout finished after") ||
		!strings.Contains(st.Message, "2/2 ready") {
		t.Fatalf("record = %s %s %q, want Succeeded Verified, saying the rollout finished", st.Phase, st.Reason, st.Message)
	}
	if st.Result == nil || st.Result.Reason != "Restarted" || st.Verification == nil || st.Verification.Rollout.PassedAt == nil || st.FinishedAt == nil {
		t.Fatalf("status = %+v, want the restart's result, the check passed, finished", st)
	}
	// When it said Verified, the rollout had really finished: the new
	// ReplicaSet (the restartedAt template) holds every ready pod.
	rss, err := cluster.Client.AppsV1().ReplicaSets(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	var newReady, oldReplicas int32
	for _, rs := range rss.Items {
		if rs.Spec.Template.Annotations[remediations.RestartedAtAnnotation] != "" {
			newReady += rs.Status.ReadyReplicas
		} else {
			oldReplicas += rs.Status.Replicas
		}
	}
	if newReady != 2 || oldReplicas != 0 {
		t.Errorf("after Verified: %d ready pods of the restarted template, %d replicas of the old; want 2 and 0", newReady, oldReplicas)
	}
	if v := testutil.ToFloat64(m.Verification("restart", ReasonVerified)); v != 1 {
		t.Errorf("alertmedic_verifications_total{action=restart,result=Verified} = %v, want 1", v)
	}
}

// A restart whose new pods cannot be scheduled (the node no longer carries
// the label their nodeSelector asks for; the old pods keep running) does
// not converge: at the deadline the record is Failed, RolloutStalled,
// saying how many are ready and why the new pods are not.
func TestStalledRolloutFailsWithThePodsReasons(t *testing.T) {
	ns := cluster.Namespace(t, "records")
	nodes, err := cluster.Client.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{})
	if err != nil || len(nodes.Items) == 0 {
		t.Fatalf("nodes: %v %v", nodes, err)
	}
	node, key := nodes.Items[0].Name, "verify.alertmedic.io/"+ns
	ctx := context.WithoutCancel(t.Context()) // the label is removed after the test too
	labelNode := func(value *string) {
		t.Helper()
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]*string{key: value}}})
		if _, err := cluster.Client.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	yes := "yes"
	labelNode(&yes)
	t.Cleanup(func() { labelNode(nil) })
	workload(t, ns, "web", nil)
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := cluster.Client.AppsV1().Deployments(ns).Get(t.Context(), "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		d.Spec.Template.Spec.NodeSelector = map[string]string{key: "yes"}
		_, err = cluster.Client.AppsV1().Deployments(ns).Update(t.Context(), d, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	waitLong(t, "web available on the labelled node", available(t, ns, "web"))
	labelNode(nil) // running pods stay; new ones find no node

	startRunner(t, ns, remediations.NewExecutor(cluster.Records, remediations.Options{}), verifyPolicy(), nil)
	rec := put(t, cluster.Records, ns, withVerify(restartRecord("stalls", ns, "web"),
		&v1alpha1.VerifySpec{Rollout: &v1alpha1.RolloutCheck{Timeout: metav1.Duration{Duration: 8 * time.Second}}}), v1alpha1.RemediationStatus{})
	waitLong(t, "the record to end", final(t, rec))
	st := get(t, cluster.Records, rec).Status
	for _, want := range []string{"rollout not finished 8s after the action", "2/2 ready", "new ReplicaSet pods: 1 Pending (Unschedulable: 0/", "didn't match Pod's node affinity/selector"} {
		if !strings.Contains(st.Message, want) {
			t.Errorf("message %q does not say %q", st.Message, want)
		}
	}
	if st.Phase != v1alpha1.PhaseFailed || st.Reason != ReasonRolloutStalled || st.Result == nil || st.Result.Reason != "Restarted" {
		t.Fatalf("record = %s %s (result %+v), want Failed RolloutStalled after a restart that was applied", st.Phase, st.Reason, st.Result)
	}
	if v := st.Verification; v == nil || v.Rollout == nil || v.Rollout.PassedAt != nil || st.FinishedAt.Time.Before(v.Rollout.Deadline.Truncate(time.Second)) {
		t.Errorf("verification = %+v, finished %v: want the check unpassed, ended at its deadline", v, st.FinishedAt)
	}
}

// alertResolved passes on the resolved notification (status.alertResolvedAt,
// written by ingest), and fails when none comes within its window.
func TestAlertResolvedVerification(t *testing.T) {
	ns := cluster.Namespace(t, "records")
	workload(t, ns, "web", nil)
	workload(t, ns, "api", nil)
	startRunner(t, ns, remediations.NewExecutor(cluster.Records, remediations.Options{}), verifyPolicy(), nil)
	check := &v1alpha1.VerifySpec{AlertResolved: &v1alpha1.AlertResolvedCheck{Within: metav1.Duration{Duration: 6 * time.Second}}}

	resolved := put(t, cluster.Records, ns, withVerify(restartRecord("resolves", ns, "web"), check), v1alpha1.RemediationStatus{})
	waitFor(t, "the restart to be verifying", phaseIs(t, cluster.Records, resolved, v1alpha1.PhaseVerifying))
	// As ingest records a resolved notification of the episode.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		r := get(t, cluster.Records, resolved)
		now := metav1.Now()
		r.Status.AlertResolvedAt = &now
		return cluster.Records.Status().Update(t.Context(), r)
	}); err != nil {
		t.Fatal(err)
	}
	waitLong(t, "the resolved record to end", final(t, resolved))
	if st := get(t, cluster.Records, resolved).Status; st.Phase != v1alpha1.PhaseSucceeded || st.Reason != ReasonVerified || !strings.Contains(st.Message, "alert resolved") {
		t.Errorf("resolved record = %s %s %q, want Succeeded Verified, the alert resolved", st.Phase, st.Reason, st.Message)
	}

	firing := put(t, cluster.Records, ns, withVerify(restartRecord("keeps-firing", ns, "api"), check), v1alpha1.RemediationStatus{})
	waitLong(t, "the firing record to end", final(t, firing))
	st := get(t, cluster.Records, firing).Status
	if st.Phase != v1alpha1.PhaseFailed || st.Reason != ReasonAlertNotResolved || !strings.Contains(st.Message, "not resolved 6s after the action") {
		t.Errorf("firing record = %s %s %q, want Failed AlertNotResolved", st.Phase, st.Reason, st.Message)
	}
	if v := st.Verification; v == nil || v.AlertResolved == nil || st.FinishedAt.Time.Before(v.AlertResolved.Deadline.Truncate(time.Second)) {
		t.Errorf("verification = %+v, finished %v: want it to end at its deadline, not before", v, st.FinishedAt)
	}
}
