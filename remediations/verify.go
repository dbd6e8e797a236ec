package remediations

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/kube"
)

// Rollout is a target's rollout as read at one moment: whether it has
// converged the way `kubectl rollout status` says it has (the statuses of
// k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go, followed rule
// for rule), and, while it has not, why its pods are not ready.
type Rollout struct {
	// Done: the controller observed the latest spec and every replica is
	// updated and available (ready, for a StatefulSet).
	Done bool
	// Stuck: waiting will not make it converge: a Deployment past its
	// progressDeadlineSeconds, or an update strategy (OnDelete) that
	// replaces no pod by itself.
	Stuck bool
	// Reason, when set, is the CamelCase word for how it ended: a Job's
	// JobSucceeded or JobFailed. A verification ends with it instead of
	// the generic Verified or RolloutStalled.
	Reason string
	// Status is kubectl's sentence for it, e.g. "2 of 4 updated replicas
	// are available".
	Status string
	// Ready and Desired are the ready and wanted replicas (pods scheduled,
	// for a DaemonSet).
	Ready, Desired int32
	// Pods says which pods of the newest revision are not ready and why,
	// grouped: "2 Pending (Unschedulable: 0/1 nodes are available: ...),
	// 1 Waiting (CrashLoopBackOff, 7 restarts, last OOMKilled)". Empty when
	// Done or when every such pod is ready.
	Pods string
	// PodsOf names the pods Pods is about: "new ReplicaSet pods", "pods at
	// revision web-7d9f", "pods".
	PodsOf string
}

// String is what was seen, for a record: "2/4 ready: 2 of 4 updated
// replicas are available; new ReplicaSet pods: 2 Pending (...)".
func (r Rollout) String() string {
	s := fmt.Sprintf("%d/%d ready: %s", r.Ready, r.Desired, r.Status)
	if r.Pods != "" {
		s += "; " + r.PodsOf + ": " + r.Pods
	}
	return s
}

// RolloutStatus reads target and says whether its rollout has converged,
// and when it has not, what its newest pods are doing. It changes nothing.
func (e *Executor) RolloutStatus(ctx context.Context, target v1alpha1.Target) (Rollout, error) {
	var (
		r        Rollout
		sel      *metav1.LabelSelector
		onlyWith map[string]string // labels of the newest revision's pods
	)
	switch target.Kind {
	case v1alpha1.KindDeployment:
		d, err := kube.Get[appsv1.Deployment](ctx, e.client, target.Namespace, target.Name)
		if err != nil {
			return r, fmt.Errorf("read %s: %w", target, err)
		}
		r, sel = deploymentRollout(d), d.Spec.Selector
		r.PodsOf = "pods"
		if hash, err := e.newReplicaSetHash(ctx, d); err != nil {
			return r, err
		} else if hash != "" {
			onlyWith, r.PodsOf = map[string]string{appsv1.DefaultDeploymentUniqueLabelKey: hash}, "new ReplicaSet pods"
		}
	case v1alpha1.KindStatefulSet:
		s, err := kube.Get[appsv1.StatefulSet](ctx, e.client, target.Namespace, target.Name)
		if err != nil {
			return r, fmt.Errorf("read %s: %w", target, err)
		}
		r, sel = statefulSetRollout(s), s.Spec.Selector
		r.PodsOf = "pods"
		if rev := s.Status.UpdateRevision; rev != "" {
			onlyWith, r.PodsOf = map[string]string{appsv1.ControllerRevisionHashLabelKey: rev}, "pods at revision "+rev
		}
	case v1alpha1.KindDaemonSet:
		d, err := kube.Get[appsv1.DaemonSet](ctx, e.client, target.Namespace, target.Name)
		if err != nil {
			return r, fmt.Errorf("read %s: %w", target, err)
		}
		r, sel = daemonSetRollout(d), d.Spec.Selector
		r.PodsOf = "pods"
	default:
		return r, fmt.Errorf("%w: kind %q", errUnsupported, target.Kind)
	}
	if r.Done {
		return r, nil
	}
	pods, err := e.pods(ctx, target.Namespace, sel, onlyWith)
	if err != nil {
		return r, fmt.Errorf("read the pods of %s: %w", target, err)
	}
	r.Pods = DiagnosePods(pods)
	return r, nil
}

// newReplicaSetHash is the pod-template-hash of d's newest ReplicaSet (the
// one at d's revision), or "" when there is none yet.
func (e *Executor) newReplicaSetHash(ctx context.Context, d *appsv1.Deployment) (string, error) {
	rev := d.Annotations[RevisionAnnotation]
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || rev == "" {
		return "", nil // no selector or revision yet: no newest ReplicaSet to name
	}
	list, err := kube.List[appsv1.ReplicaSetList](ctx, e.client, d.Namespace, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return "", fmt.Errorf("list the ReplicaSets of %s: %w", d.Name, err)
	}
	for _, rs := range list.Items {
		if metav1.IsControlledBy(&rs, d) && rs.Annotations[RevisionAnnotation] == rev {
			return rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey], nil
		}
	}
	return "", nil
}

// pods lists the pods of sel that also carry the labels only (none: all).
func (e *Executor) pods(ctx context.Context, ns string, sel *metav1.LabelSelector, only map[string]string) ([]corev1.Pod, error) {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, err
	}
	for k, v := range only {
		req, err := labels.NewRequirement(k, "=", []string{v})
		if err != nil {
			return nil, err
		}
		s = s.Add(*req)
	}
	list, err := kube.List[corev1.PodList](ctx, e.client, ns, metav1.ListOptions{LabelSelector: s.String()})
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

// deploymentRollout is kubectl's DeploymentStatusViewer.
func deploymentRollout(d *appsv1.Deployment) Rollout {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	st := d.Status
	r := Rollout{Ready: st.ReadyReplicas, Desired: want}
	if d.Generation > st.ObservedGeneration {
		r.Status = "waiting for the deployment spec update to be observed"
		return r
	}
	for _, c := range st.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
			r.Stuck, r.Status = true, "exceeded its progress deadline: "+c.Message
			return r
		}
	}
	switch {
	case d.Spec.Replicas != nil && st.UpdatedReplicas < *d.Spec.Replicas:
		r.Status = fmt.Sprintf("%d of %d new replicas updated", st.UpdatedReplicas, *d.Spec.Replicas)
	case st.Replicas > st.UpdatedReplicas:
		r.Status = fmt.Sprintf("%d old replicas pending termination", st.Replicas-st.UpdatedReplicas)
	case st.AvailableReplicas < st.UpdatedReplicas:
		r.Status = fmt.Sprintf("%d of %d updated replicas available", st.AvailableReplicas, st.UpdatedReplicas)
	default:
		r.Done, r.Status = true, "successfully rolled out"
	}
	return r
}

// statefulSetRollout is kubectl's StatefulSetStatusViewer.
func statefulSetRollout(s *appsv1.StatefulSet) Rollout {
	want := int32(1)
	if s.Spec.Replicas != nil {
		want = *s.Spec.Replicas
	}
	st := s.Status
	r := Rollout{Ready: st.ReadyReplicas, Desired: want}
	if s.Spec.UpdateStrategy.Type != "" && s.Spec.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType {
		r.Stuck, r.Status = true, fmt.Sprintf("update strategy %s: its pods are replaced only when deleted, so no rollout can be seen to finish", s.Spec.UpdateStrategy.Type)
		return r
	}
	if st.ObservedGeneration == 0 || s.Generation > st.ObservedGeneration {
		r.Status = "waiting for the statefulset spec update to be observed"
		return r
	}
	if st.ReadyReplicas < want {
		r.Status = fmt.Sprintf("waiting for %d pods to be ready", want-st.ReadyReplicas)
		return r
	}
	if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil {
		if ru.Partition != nil && st.UpdatedReplicas < want-*ru.Partition {
			r.Status = fmt.Sprintf("partitioned roll out: %d of %d new pods updated", st.UpdatedReplicas, want-*ru.Partition)
			return r
		}
		r.Done, r.Status = true, fmt.Sprintf("partitioned roll out complete: %d new pods updated", st.UpdatedReplicas)
		return r
	}
	if st.UpdateRevision != st.CurrentRevision {
		r.Status = fmt.Sprintf("rolling update: %d pods at revision %s", st.UpdatedReplicas, st.UpdateRevision)
		return r
	}
	r.Done, r.Status = true, fmt.Sprintf("rolling update complete: %d pods at revision %s", st.CurrentReplicas, st.CurrentRevision)
	return r
}

// daemonSetRollout is kubectl's DaemonSetStatusViewer.
func daemonSetRollout(d *appsv1.DaemonSet) Rollout {
	st := d.Status
	r := Rollout{Ready: st.NumberReady, Desired: st.DesiredNumberScheduled}
	if d.Spec.UpdateStrategy.Type != "" && d.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType {
		r.Stuck, r.Status = true, fmt.Sprintf("update strategy %s: its pods are replaced only when deleted, so no rollout can be seen to finish", d.Spec.UpdateStrategy.Type)
		return r
	}
	switch {
	case d.Generation > st.ObservedGeneration:
		r.Status = "waiting for the daemon set spec update to be observed"
	case st.UpdatedNumberScheduled < st.DesiredNumberScheduled:
		r.Status = fmt.Sprintf("%d of %d new pods updated", st.UpdatedNumberScheduled, st.DesiredNumberScheduled)
	case st.NumberAvailable < st.DesiredNumberScheduled:
		r.Status = fmt.Sprintf("%d of %d updated pods available", st.NumberAvailable, st.DesiredNumberScheduled)
	default:
		r.Done, r.Status = true, "successfully rolled out"
	}
	return r
}

// DiagnosePods says, grouped and most frequent first, why the pods that
// are not ready are not: "2 Pending (Unschedulable: 0/1 nodes are
// available: ...), 1 Waiting (CrashLoopBackOff, 7 restarts, last
// OOMKilled), 1 Running not ready". Terminating pods are left out.
func DiagnosePods(pods []corev1.Pod) string {
	counts := map[string]int{}
	for i := range pods {
		p := &pods[i]
		if p.DeletionTimestamp != nil || podReady(p) {
			continue
		}
		counts[podProblem(p)]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		return cmp.Or(cmp.Compare(counts[b], counts[a]), strings.Compare(a, b))
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d %s", counts[k], k)
	}
	return strings.Join(parts, ", ")
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podProblem is why one pod is not ready, in the words kubectl get pods and
// describe use.
func podProblem(p *corev1.Pod) string {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason != "" {
			return fmt.Sprintf("Pending (%s: %s)", c.Reason, truncate(c.Message, 200))
		}
	}
	statuses := append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...)
	for _, cs := range statuses {
		w := cs.State.Waiting
		if w == nil || w.Reason == "" || w.Reason == "ContainerCreating" || w.Reason == "PodInitializing" {
			continue
		}
		s := w.Reason
		if cs.RestartCount > 0 {
			s += fmt.Sprintf(", %d restarts", cs.RestartCount)
		}
		if t := cs.LastTerminationState.Terminated; t != nil && t.Reason != "" {
			s += ", last " + t.Reason
		}
		return "Waiting (" + s + ")"
	}
	for _, cs := range statuses {
		if t := cs.State.Terminated; t != nil && t.Reason != "" {
			return fmt.Sprintf("%s (container %s terminated: %s)", p.Status.Phase, cs.Name, t.Reason)
		}
	}
	if p.Status.Phase == corev1.PodRunning {
		return "Running not ready"
	}
	if p.Status.Phase == "" {
		return "Pending"
	}
	return string(p.Status.Phase)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
