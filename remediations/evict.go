package remediations

import (
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/kube"
)

// The reasons evict-pod ends with, besides the common ones.
const (
	ReasonEvicted                  = "Evicted"                  // Succeeded: the Eviction API accepted the eviction
	ReasonBlockedByPDB             = "BlockedByPDB"             // Failed: a PodDisruptionBudget does not allow the disruption now (HTTP 429)
	ReasonWouldGoBelowMinAvailable = "WouldGoBelowMinAvailable" // Skipped: the rule's evict.minAvailable guard
	ReasonUnowned                  = "Unowned"                  // Skipped: no controller owns the pod, and the rule does not allow that
	ReasonAlreadyTerminating       = "AlreadyTerminating"       // Skipped: the pod is being deleted already
)

// evict evicts the pod req names through the Eviction API (policy/v1), as
// kubectl drain does, so that the API server applies the pod's
// PodDisruptionBudgets: a budget that does not allow it answers 429, which
// is Failed as BlockedByPDB and not retried. Before that, alertmedic's own
// guards: a pod no controller owns is refused unless evict.allowUnowned,
// and evict.minAvailable counts the other ready pods of the owning
// workload. The eviction carries the pod's UID as a precondition, so a
// pod created again under the same name (a StatefulSet's) is never the one
// evicted. A lost answer is settled from the pod: gone, replaced or
// terminating is applied; the same pod still running was not.
func (e *Executor) evict(ctx context.Context, req Request) (Result, *workload, error) {
	ns, name := req.Target.Namespace, req.Target.Name
	var res Result
	pod, err := kube.Get[corev1.Pod](ctx, e.client, ns, name)
	if p := req.Prior; p != nil {
		switch {
		case apierrors.IsNotFound(err), err == nil && (string(pod.UID) != p.UID || pod.DeletionTimestamp != nil):
			res.Outcome, res.Reason, res.Before, res.After, res.Owner = Succeeded, ReasonEvicted, p.Before, p.After, p.Owner
			res.UID, res.Message = p.UID, fmt.Sprintf("evicted %s by attempt %d, whose answer was lost (the pod is gone or terminating now)", req.Target, p.Attempt)
			return res, nil, nil
		case err != nil:
			return res, nil, err
		}
		// The same pod, not terminating: the eviction was not applied.
	}
	if apierrors.IsNotFound(err) && req.ExpectUID == "" {
		res.Outcome, res.Reason = Skipped, "NotFound"
		res.Message = fmt.Sprintf("%s does not exist (any more): nothing to evict", req.Target)
		return res, nil, nil
	}
	if err != nil {
		return res, nil, err
	}
	w := &workload{meta: pod, ref: corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: name,
		UID: pod.UID, ResourceVersion: pod.ResourceVersion}}
	res.UID, res.Generation = string(pod.UID), pod.Generation
	if req.Prior == nil && changed(req, w, &res) {
		return res, w, nil
	}
	res.Before = "pod=" + name
	if pod.DeletionTimestamp != nil {
		res.Outcome, res.Reason = Skipped, ReasonAlreadyTerminating
		res.Message = fmt.Sprintf("%s is being deleted already (since %s): nothing to evict", req.Target, pod.DeletionTimestamp.UTC().Format("15:04:05"))
		return res, w, nil
	}
	o, err := e.podOwner(ctx, pod)
	if err != nil {
		return res, w, err
	}
	res.Owner = o.target
	params := v1alpha1.EvictParams{}
	if req.Evict != nil {
		params = *req.Evict
	}
	if o.desc == "" && !params.AllowUnowned {
		res.Outcome, res.Reason = Skipped, ReasonUnowned
		res.Message = fmt.Sprintf("%s has no controller, so nothing would create it again: not evicting it (set evict.allowUnowned: true in the rule to allow it)", req.Target)
		return res, w, nil
	}
	if m := params.MinAvailable; m > 0 && req.Prior == nil {
		ready, err := e.readyOthers(ctx, pod, o)
		if err != nil {
			return res, w, err
		}
		if ready < m {
			res.Outcome, res.Reason = Skipped, ReasonWouldGoBelowMinAvailable
			res.Message = fmt.Sprintf("evicting %s would leave %s with %d other ready pods, below the rule's minAvailable of %d: not evicting it", req.Target, o.name(), ready, m)
			return res, w, nil
		}
	}
	res.After = "evicted"
	uid := pod.UID
	ev := &policyv1.Eviction{
		ObjectMeta:    metav1.ObjectMeta{Name: name, Namespace: ns},
		DeleteOptions: &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}},
	}
	if req.DryRun {
		ev.DeleteOptions.DryRun = []string{metav1.DryRunAll}
	}
	change := &v1alpha1.Write{UID: res.UID, Generation: res.Generation, Before: res.Before, After: res.After, Owner: o.target}
	err = send(ctx, req, change, &res, func() error {
		return e.client.SubResource("eviction").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}, ev)
	})
	if err != nil {
		if blocked, msg := pdbRefusal(err); blocked {
			res.Write = nil // refused: certainly not applied
			return res, w, fmt.Errorf("%w: %s", errBlockedByPDB, msg)
		}
		return res, w, err
	}
	res.Outcome, res.Reason = Succeeded, ReasonEvicted
	res.Message = fmt.Sprintf("evicted %s", req.Target)
	if o.desc != "" {
		res.Message += " of " + o.name()
	}
	return res, w, nil
}

// pdbRefusal reports whether err is the Eviction API's refusal for a
// PodDisruptionBudget (429 with a DisruptionBudget cause), and its words:
// the budget that refused and why. Other 429s (the API server's priority
// and fairness) are transient, as every 429 is elsewhere.
func pdbRefusal(err error) (bool, string) {
	var st apierrors.APIStatus
	if !apierrors.IsTooManyRequests(err) || !errors.As(err, &st) {
		return false, ""
	}
	s := st.Status()
	if s.Details == nil {
		return false, ""
	}
	msg := s.Message
	found := false
	for _, c := range s.Details.Causes {
		if c.Type == policyv1.DisruptionBudgetCause {
			found = true
			msg += " " + c.Message
		}
	}
	return found, msg
}

// owner is the controller of a pod as evict-pod sees it: target is the
// workload alertmedic knows (Deployment through its ReplicaSet,
// StatefulSet, DaemonSet), desc names any controller ("" for none), and
// selector selects its pods when it is known.
type owner struct {
	target   *v1alpha1.Target
	desc     string
	selector *metav1.LabelSelector
}

func (o owner) name() string {
	if o.target != nil {
		return o.target.String()
	}
	return o.desc
}

// podOwner follows the pod's controller reference: ReplicaSet to its
// Deployment, a StatefulSet, a DaemonSet; another controller (a Job, a
// ReplicaSet of its own, a custom resource) is named but not a workload.
func (e *Executor) podOwner(ctx context.Context, pod *corev1.Pod) (owner, error) {
	ref := metav1.GetControllerOf(pod)
	if ref == nil {
		return owner{}, nil
	}
	ns := pod.Namespace
	o := owner{desc: ref.Kind + "/" + ns + "/" + ref.Name}
	known := func(k v1alpha1.Kind, name string, uid string, want string, sel *metav1.LabelSelector) owner {
		if uid != want {
			return o // a newer object of that name: not this pod's controller
		}
		return owner{target: &v1alpha1.Target{Kind: k, Namespace: ns, Name: name}, desc: string(k) + "/" + ns + "/" + name, selector: sel}
	}
	if ref.APIVersion != appsv1.SchemeGroupVersion.String() {
		return o, nil
	}
	switch ref.Kind {
	case "ReplicaSet":
		rs, err := kube.Get[appsv1.ReplicaSet](ctx, e.client, ns, ref.Name)
		if apierrors.IsNotFound(err) {
			return o, nil
		}
		if err != nil {
			return o, fmt.Errorf("read the owner of pod %s: %w", pod.Name, err)
		}
		o.selector = rs.Spec.Selector
		d := metav1.GetControllerOf(rs)
		if d == nil || d.Kind != "Deployment" {
			return o, nil
		}
		dep, err := kube.Get[appsv1.Deployment](ctx, e.client, ns, d.Name)
		if apierrors.IsNotFound(err) {
			return o, nil
		}
		if err != nil {
			return o, fmt.Errorf("read the owner of pod %s: %w", pod.Name, err)
		}
		return known(v1alpha1.KindDeployment, dep.Name, string(dep.UID), string(d.UID), dep.Spec.Selector), nil
	case "StatefulSet":
		s, err := kube.Get[appsv1.StatefulSet](ctx, e.client, ns, ref.Name)
		if apierrors.IsNotFound(err) {
			return o, nil
		}
		if err != nil {
			return o, fmt.Errorf("read the owner of pod %s: %w", pod.Name, err)
		}
		return known(v1alpha1.KindStatefulSet, s.Name, string(s.UID), string(ref.UID), s.Spec.Selector), nil
	case "DaemonSet":
		d, err := kube.Get[appsv1.DaemonSet](ctx, e.client, ns, ref.Name)
		if apierrors.IsNotFound(err) {
			return o, nil
		}
		if err != nil {
			return o, fmt.Errorf("read the owner of pod %s: %w", pod.Name, err)
		}
		return known(v1alpha1.KindDaemonSet, d.Name, string(d.UID), string(ref.UID), d.Spec.Selector), nil
	}
	return o, nil
}

// readyOthers counts the pods of the pod's owner, other than the pod,
// that are Ready and not being deleted. An owner whose pods alertmedic
// cannot select counts none, so the minAvailable guard refuses (fail
// closed).
func (e *Executor) readyOthers(ctx context.Context, pod *corev1.Pod, o owner) (int32, error) {
	if o.selector == nil {
		return 0, nil
	}
	pods, err := e.pods(ctx, pod.Namespace, o.selector, nil)
	if err != nil {
		return 0, fmt.Errorf("read the pods of %s: %w", o.name(), err)
	}
	var n int32
	for i := range pods {
		p := &pods[i]
		if p.UID == pod.UID || p.DeletionTimestamp != nil || !podReady(p) {
			continue
		}
		n++
	}
	return n, nil
}
