package remediations_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/remediations"
)

// podsOf lists the pods of the Deployment (or other workload) labelled
// app=name that are not being deleted.
func podsOf(t *testing.T, ns, name string) []corev1.Pod {
	t.Helper()
	list, err := clientset().CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=" + name})
	if err != nil {
		t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

// createPDB creates a PodDisruptionBudget for app=name and waits until the
// disruption controller has worked it out: allowed disruptions are what
// the Eviction API decides by.
func createPDB(t *testing.T, ns, name string, minAvailable, wantAllowed int32) {
	t.Helper()
	pdb, err := clientset().PolicyV1().PodDisruptionBudgets(ns).Create(t.Context(), &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr(intstr.FromInt32(minAvailable)), Selector: selector(name)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitLong(t, "the PodDisruptionBudget worked out", func() (bool, error) {
		p, err := clientset().PolicyV1().PodDisruptionBudgets(ns).Get(t.Context(), pdb.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		s := p.Status
		return s.ObservedGeneration == p.Generation && s.ExpectedPods > 0 && s.DisruptionsAllowed == wantAllowed,
			fmt.Errorf("status %+v", s)
	})
}

func evictReq(ns, pod string, p *v1alpha1.EvictParams) remediations.Request {
	return remediations.Request{
		Action: v1alpha1.ActionEvictPod, Target: v1alpha1.Target{Kind: v1alpha1.KindPod, Namespace: ns, Name: pod},
		Evict: p, Rule: "evict-stuck", AlertName: "PodStuck",
	}
}

// An eviction that a PodDisruptionBudget forbids is refused by the API
// server (429), exactly as kubectl drain sees it: Failed as BlockedByPDB,
// not a transient failure to retry, and the pod stays.
func TestEvictPodBlockedByPDB(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	createDeployment(t, ns, "web", 2, "nginx:1")
	createPDB(t, ns, "web", 2, 0)
	victim := podsOf(t, ns, "web")[0]

	res, err := executor(t, medic()).Execute(t.Context(), evictReq(ns, victim.Name, nil))
	if err == nil || res.Outcome != remediations.Failed || res.Reason != remediations.ReasonBlockedByPDB {
		t.Fatalf("Execute = %+v, %v; want Failed BlockedByPDB", res, err)
	}
	if remediations.IsTransient(err) {
		t.Errorf("IsTransient(%v) = true; a PodDisruptionBudget's refusal is not retried as an outage", err)
	}
	if res.Write != nil {
		t.Errorf("Write = %+v; a refused eviction was certainly not applied", res.Write)
	}
	if !strings.Contains(res.Message, "disruption budget web needs 2 healthy pods") {
		t.Errorf("message %q does not name the budget and what it needs", res.Message)
	}
	p, err := clientset().CoreV1().Pods(ns).Get(t.Context(), victim.Name, metav1.GetOptions{})
	if err != nil || p.DeletionTimestamp != nil {
		t.Fatalf("pod after a refused eviction: %v, deletionTimestamp %v; want it untouched", err, p.DeletionTimestamp)
	}
	if ev := oneEvent(t, ns, victim.Name); ev.Type != corev1.EventTypeWarning || ev.Action != remediations.ReasonBlockedByPDB || ev.Reason != "AlertmedicEvictPod" {
		t.Errorf("event %s %s %s, want Warning AlertmedicEvictPod BlockedByPDB", ev.Type, ev.Reason, ev.Action)
	}
}

// Without a budget in the way (none, or one that allows a disruption), the
// pod is evicted, its owning Deployment named for the rollout check, and
// the Deployment replaces it.
func TestEvictPodAllowed(t *testing.T) {
	t.Parallel()
	for _, pdb := range []bool{false, true} {
		t.Run(fmt.Sprintf("pdb=%v", pdb), func(t *testing.T) {
			t.Parallel()
			ns := namespace(t)
			createDeployment(t, ns, "web", 2, "nginx:1")
			if pdb {
				createPDB(t, ns, "web", 1, 1)
			}
			victim := podsOf(t, ns, "web")[0]
			e := executor(t, medic())
			res, err := e.Execute(t.Context(), evictReq(ns, victim.Name, nil))
			if err != nil || res.Outcome != remediations.Succeeded || res.Reason != remediations.ReasonEvicted {
				t.Fatalf("Execute = %+v, %v; want Succeeded Evicted", res, err)
			}
			want := v1alpha1.Target{Kind: v1alpha1.KindDeployment, Namespace: ns, Name: "web"}
			if res.Owner == nil || *res.Owner != want {
				t.Errorf("Owner = %v, want %v", res.Owner, want)
			}
			if res.UID != string(victim.UID) {
				t.Errorf("UID = %q, want the pod's %q", res.UID, victim.UID)
			}
			waitLong(t, "the evicted pod gone or terminating", func() (bool, error) {
				p, err := clientset().CoreV1().Pods(ns).Get(t.Context(), victim.Name, metav1.GetOptions{})
				if apierrors.IsNotFound(err) {
					return true, nil
				}
				return err == nil && p.DeletionTimestamp != nil, err
			})
			waitLong(t, "the owner converged again", func() (bool, error) {
				r, err := e.RolloutStatus(t.Context(), want)
				return err == nil && r.Done && len(podsOf(t, ns, "web")) == 2, fmt.Errorf("%v: %s", err, r)
			})
		})
	}
}

// The rule's minAvailable counts the owner's other ready pods: evicting
// one of two pods leaves one, which is below 2 and not below 1.
func TestEvictPodMinAvailable(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	createDeployment(t, ns, "web", 2, "nginx:1")
	victim := podsOf(t, ns, "web")[0]
	e := executor(t, medic())
	res, err := e.Execute(t.Context(), evictReq(ns, victim.Name, &v1alpha1.EvictParams{MinAvailable: 2}))
	if err != nil || res.Outcome != remediations.Skipped || res.Reason != remediations.ReasonWouldGoBelowMinAvailable {
		t.Fatalf("Execute minAvailable 2 = %+v, %v; want Skipped WouldGoBelowMinAvailable", res, err)
	}
	if !strings.Contains(res.Message, "1 other ready pods, below the rule's minAvailable of 2") {
		t.Errorf("message %q", res.Message)
	}
	if p, err := clientset().CoreV1().Pods(ns).Get(t.Context(), victim.Name, metav1.GetOptions{}); err != nil || p.DeletionTimestamp != nil {
		t.Fatalf("pod after a guarded eviction: %v; want it untouched", err)
	}
	res, err = e.Execute(t.Context(), evictReq(ns, victim.Name, &v1alpha1.EvictParams{MinAvailable: 1}))
	if err != nil || res.Outcome != remediations.Succeeded {
		t.Fatalf("Execute minAvailable 1 = %+v, %v; want Succeeded", res, err)
	}
}

// A pod no controller owns comes back from nowhere: refused unless the
// rule allows it.
func TestEvictPodUnowned(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	pod, err := clientset().CoreV1().Pods(ns).Create(t.Context(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "lonely", Namespace: ns, Labels: map[string]string{"app": "lonely"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx:1"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e := executor(t, medic())
	res, err := e.Execute(t.Context(), evictReq(ns, pod.Name, nil))
	if err != nil || res.Outcome != remediations.Skipped || res.Reason != remediations.ReasonUnowned {
		t.Fatalf("Execute = %+v, %v; want Skipped Unowned", res, err)
	}
	if !strings.Contains(res.Message, "evict.allowUnowned: true") {
		t.Errorf("message %q does not say how to allow it", res.Message)
	}
	res, err = e.Execute(t.Context(), evictReq(ns, pod.Name, &v1alpha1.EvictParams{AllowUnowned: true}))
	if err != nil || res.Outcome != remediations.Succeeded || res.Owner != nil {
		t.Fatalf("Execute allowUnowned = %+v, %v; want Succeeded without an owner", res, err)
	}
}

// An eviction whose answer was lost is settled from the pod: the same pod
// still running was not evicted (the eviction is sent again); the pod
// gone or terminating was.
func TestEvictPodLostAnswer(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	createDeployment(t, ns, "web", 2, "nginx:1")
	victim := podsOf(t, ns, "web")[0]
	e := executor(t, medic())
	prior := &v1alpha1.Write{Attempt: 1, UID: string(victim.UID), Before: "pod=" + victim.Name, After: "evicted"}

	req := evictReq(ns, victim.Name, nil)
	req.Prior = prior
	sent := 0
	req.BeforeWrite = func(_ context.Context, w *v1alpha1.Write) error {
		sent++
		if w.UID != prior.UID {
			t.Errorf("resent eviction for uid %s, want %s", w.UID, prior.UID)
		}
		return nil
	}
	res, err := e.Execute(t.Context(), req)
	if err != nil || res.Outcome != remediations.Succeeded || sent != 1 {
		t.Fatalf("settle, not applied: %+v, %v, sent %d; want Succeeded after sending it once more", res, err, sent)
	}
	// Now it was: settled without sending anything.
	sent = 0
	res, err = e.Execute(t.Context(), req)
	if err != nil || res.Outcome != remediations.Succeeded || res.Reason != remediations.ReasonEvicted || sent != 0 {
		t.Fatalf("settle, applied: %+v, %v, sent %d; want Succeeded without sending", res, err, sent)
	}
	if !strings.Contains(res.Message, "whose answer was lost") {
		t.Errorf("message %q", res.Message)
	}
}

// An eviction planned (and approved) for one pod never evicts another of
// the same name: a StatefulSet's pod created again is a new UID.
func TestEvictPodTargetChanged(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	createDeployment(t, ns, "web", 2, "nginx:1")
	victim := podsOf(t, ns, "web")[0]
	req := evictReq(ns, victim.Name, nil)
	req.ExpectUID = "another-pod"
	res, err := executor(t, medic()).Execute(t.Context(), req)
	if err != nil || res.Outcome != remediations.Skipped || res.Reason != "TargetChanged" {
		t.Fatalf("Execute = %+v, %v; want Skipped TargetChanged", res, err)
	}
}
