package remediations

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/util/retry"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/kube"
)

// Annotations the deployment controller keeps on a Deployment and its
// ReplicaSets (k8s.io/kubectl/pkg/util/deployment).
const (
	RevisionAnnotation        = "deployment.kubernetes.io/revision"
	revisionHistoryAnnotation = "deployment.kubernetes.io/revision-history"
	desiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas"
	maxReplicasAnnotation     = "deployment.kubernetes.io/max-replicas"
)

// rollbackPlan is what a rollback would do to one workload, as read now.
type rollbackPlan struct {
	w         *workload
	from, to  int64  // revisions; from is 0 when unknown
	toName    string // the ReplicaSet or ControllerRevision of revision to
	fromState string // images now
	toState   string // images of the revision rolled back to
	same      bool   // the live template already is the revision's
	patchType types.PatchType
	patch     []byte // carries the resourceVersion read, for optimistic concurrency
}

// rollback does what 'kubectl rollout undo' does, kind by kind (see the
// planRollback methods). A target already at the revision is skipped, not
// failed; a paused Deployment is refused. The patch is conditional on the
// resourceVersion that was read, so a concurrent change is re-planned.
func (e *Executor) rollback(ctx context.Context, k kind, req Request) (Result, *workload, error) {
	rb, ok := k.(rollbacker)
	if !ok {
		return Result{}, nil, fmt.Errorf("%w: a %s cannot be rolled back", errUnsupported, req.Target.Kind)
	}
	var (
		res Result
		w   *workload
	)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var to revisionRef // the previous revision
		if req.Rollback != nil {
			to.number = req.Rollback.ToRevision
		}
		if req.Prior != nil {
			// Settle the change sent: that revision, not "the previous one"
			// now, found by its name: once live again its controller has
			// renumbered it (revision 2 of 3 is revision 4 now).
			to = revisionRef{number: req.Prior.Revision, name: req.Prior.RevisionName}
		}
		p, err := rb.planRollback(ctx, req.Target.Namespace, req.Target.Name, to)
		if err != nil {
			return err
		}
		w = p.w
		res = Result{Before: revisionState(p.from, p.fromState), After: revisionState(p.to, p.toState),
			Generation: w.meta.GetGeneration(), UID: string(w.meta.GetUID())}
		if req.Prior != nil {
			if settle(req, w, func() bool { return p.same }, "RolledBack", &res) {
				return nil
			}
		} else {
			if changed(req, w, &res) || e.gitOpsManaged(req, w, &res) {
				return nil
			}
			switch {
			case p.w.paused:
				res.Outcome, res.Reason, res.After = Skipped, "Paused", res.Before
				res.Message = "can't roll back a paused Deployment (run 'kubectl rollout resume' first)"
				return nil
			case p.same:
				res.Outcome, res.Reason, res.After = Skipped, "AlreadyAtRevision", res.Before
				res.Message = fmt.Sprintf("current template already matches revision %d", p.to)
				return nil
			}
		}
		change := &v1alpha1.Write{UID: res.UID, Generation: res.Generation, Revision: p.to, RevisionName: p.toName,
			Before: res.Before, After: res.After}
		err = send(ctx, req, change, &res, func() error {
			obj, err := k.patch(ctx, req.Target.Namespace, req.Target.Name, p.patchType, p.patch, e.patchOptions(req))
			if err == nil {
				w.ref.ResourceVersion = obj.GetResourceVersion()
			}
			return err
		})
		if err != nil {
			return err
		}
		res.Outcome, res.Reason = Succeeded, "RolledBack"
		res.Message = fmt.Sprintf("rolled back to revision %d (%s)", p.to, p.toState)
		if p.from > 0 {
			res.Message = fmt.Sprintf("rolled back from revision %d to revision %d (%s)", p.from, p.to, p.toState)
		}
		return nil
	})
	return res, w, err
}

func revisionState(rev int64, images string) string {
	s := "revision=unknown"
	if rev > 0 {
		s = "revision=" + strconv.FormatInt(rev, 10)
	}
	if images != "" {
		s += " " + images
	}
	return s
}

// images lists a pod template's containers as name=image, comma-separated.
func images(t *corev1.PodTemplateSpec) string {
	parts := make([]string, 0, len(t.Spec.Containers))
	for _, c := range t.Spec.Containers {
		parts = append(parts, c.Name+"="+c.Image)
	}
	return strings.Join(parts, ",")
}

// revisionRef is the revision a rollback goes back to: by number (0: the
// previous one), as kubectl's --to-revision, or, when name is set, the
// ReplicaSet or ControllerRevision of that name, whatever its number now.
// A retry settling a rollback already sent goes by name: the controller
// renumbers a revision that becomes live again, so by number it would not
// be found, and "the previous revision" would be the one rolled back from.
type revisionRef struct {
	number int64
	name   string
}

func (r revisionRef) is(name string, number int64) bool {
	if r.name != "" {
		return name == r.name
	}
	return number == r.number
}

func revisionNotFound(r revisionRef) error {
	if r.name != "" {
		return fmt.Errorf("%w: unable to find revision %d (%s) in the rollout history", errRevisionNotFound, r.number, r.name)
	}
	return fmt.Errorf("%w: unable to find revision %d in the rollout history", errRevisionNotFound, r.number)
}

// planRollback picks the ReplicaSet to go back to as kubectl does: among the
// ReplicaSets the Deployment controls, the one whose revision annotation is
// to.number, or for 0 the one with the second-highest revision (or the one
// named to.name, see revisionRef). The patch
// replaces the pod template (without the pod-template-hash label) and the
// annotations, keeping the Deployment's own revision bookkeeping.
func (k deployments) planRollback(ctx context.Context, ns, name string, to revisionRef) (*rollbackPlan, error) {
	d, err := kube.Get[appsv1.Deployment](ctx, k.c, ns, name)
	if err != nil {
		return nil, err
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("selector of Deployment %s/%s: %w", ns, name, err)
	}
	list, err := kube.List[appsv1.ReplicaSetList](ctx, k.c, ns, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, fmt.Errorf("list ReplicaSets of Deployment %s/%s: %w", ns, name, err)
	}
	var (
		latest, previous       *appsv1.ReplicaSet
		latestRev, previousRev int64 = -1, -1
		target                 *appsv1.ReplicaSet
		toRevision             int64
	)
	for i := range list.Items {
		rs := &list.Items[i]
		if !metav1.IsControlledBy(rs, d) {
			continue
		}
		v, err := strconv.ParseInt(rs.Annotations[RevisionAnnotation], 10, 64)
		if err != nil {
			continue
		}
		if to.number > 0 || to.name != "" {
			if to.is(rs.Name, v) {
				target, toRevision = rs, v
				break
			}
			continue
		}
		if v > latestRev {
			previous, previousRev = latest, latestRev
			latest, latestRev = rs, v
		} else if v > previousRev {
			previous, previousRev = rs, v
		}
	}
	switch {
	case (to.number > 0 || to.name != "") && target == nil:
		return nil, revisionNotFound(to)
	case target == nil && previous == nil:
		return nil, fmt.Errorf("%w: no earlier revision of Deployment %s/%s to roll back to", errNoHistory, ns, name)
	case target == nil:
		target, toRevision = previous, previousRev
	}
	from, _ := strconv.ParseInt(d.Annotations[RevisionAnnotation], 10, 64)
	p := &rollbackPlan{
		w:    &workload{meta: d, template: &d.Spec.Template, paused: d.Spec.Paused, ref: objectRef(v1alpha1.KindDeployment, d)},
		from: from, to: toRevision, toName: target.Name,
		fromState: images(&d.Spec.Template), toState: images(&target.Spec.Template),
		same: equalIgnoreHash(&target.Spec.Template, &d.Spec.Template),
	}
	tmpl := target.Spec.Template.DeepCopy()
	delete(tmpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	annotations := map[string]string{}
	for k, v := range d.Annotations {
		if deploymentOwnAnnotation(k) {
			annotations[k] = v
		}
	}
	for k, v := range target.Annotations {
		if !deploymentOwnAnnotation(k) {
			annotations[k] = v
		}
	}
	p.patchType = types.JSONPatchType
	p.patch, err = json.Marshal([]map[string]any{
		{"op": "replace", "path": "/metadata/resourceVersion", "value": d.ResourceVersion},
		{"op": "replace", "path": "/spec/template", "value": tmpl},
		{"op": "add", "path": "/metadata/annotations", "value": annotations},
	})
	return p, err
}

// deploymentOwnAnnotation reports annotations a rollback keeps from the
// Deployment rather than copying from the ReplicaSet (kubectl's list).
func deploymentOwnAnnotation(k string) bool {
	switch k {
	case corev1.LastAppliedConfigAnnotation, RevisionAnnotation, revisionHistoryAnnotation,
		desiredReplicasAnnotation, maxReplicasAnnotation, appsv1.DeprecatedRollbackTo:
		return true
	}
	return false
}

// equalIgnoreHash compares pod templates ignoring the pod-template-hash label
// the deployment controller adds to its ReplicaSets.
func equalIgnoreHash(a, b *corev1.PodTemplateSpec) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	delete(a.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	delete(b.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	return apiequality.Semantic.DeepEqual(a, b)
}

func (k statefulSets) planRollback(ctx context.Context, ns, name string, to revisionRef) (*rollbackPlan, error) {
	s, err := kube.Get[appsv1.StatefulSet](ctx, k.c, ns, name)
	if err != nil {
		return nil, err
	}
	w := &workload{meta: s, template: &s.Spec.Template, ref: objectRef(v1alpha1.KindStatefulSet, s)}
	return historyPlan(ctx, k.c, w, s.Spec.Selector, to, func(raw []byte) (*corev1.PodTemplateSpec, error) {
		var out appsv1.StatefulSet
		return &out.Spec.Template, applyPatch(s, raw, &out)
	})
}

func (k daemonSets) planRollback(ctx context.Context, ns, name string, to revisionRef) (*rollbackPlan, error) {
	d, err := kube.Get[appsv1.DaemonSet](ctx, k.c, ns, name)
	if err != nil {
		return nil, err
	}
	w := &workload{meta: d, template: &d.Spec.Template, ref: objectRef(v1alpha1.KindDaemonSet, d)}
	return historyPlan(ctx, k.c, w, d.Spec.Selector, to, func(raw []byte) (*corev1.PodTemplateSpec, error) {
		var out appsv1.DaemonSet
		return &out.Spec.Template, applyPatch(d, raw, &out)
	})
}

// applyPatch applies a ControllerRevision's strategic merge patch to obj and
// decodes the result into out (a pointer to obj's type).
func applyPatch(obj any, raw []byte, out any) error {
	orig, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	patched, err := strategicpatch.StrategicMergePatch(orig, raw, out)
	if err != nil {
		return fmt.Errorf("apply revision: %w", err)
	}
	return json.Unmarshal(patched, out)
}

// historyPlan plans a rollback of a StatefulSet or DaemonSet as kubectl does:
// from the ControllerRevisions the object controls, the one numbered
// to.number, or for 0 the second-highest (or the one named to.name, see
// revisionRef); the patch is the revision's data (a
// strategic merge patch replacing the pod template). applied returns the
// template the object would have with that patch applied.
func historyPlan(ctx context.Context, c kube.Client, w *workload, selector *metav1.LabelSelector,
	to revisionRef, applied func(raw []byte) (*corev1.PodTemplateSpec, error)) (*rollbackPlan, error) {
	ns, name, kindName := w.meta.GetNamespace(), w.meta.GetName(), w.ref.Kind
	sel, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		return nil, fmt.Errorf("selector of %s %s/%s: %w", kindName, ns, name, err)
	}
	list, err := kube.List[appsv1.ControllerRevisionList](ctx, c, ns, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, fmt.Errorf("list ControllerRevisions of %s %s/%s: %w", kindName, ns, name, err)
	}
	var history []*appsv1.ControllerRevision
	for i := range list.Items {
		if metav1.IsControlledBy(&list.Items[i], w.meta) {
			history = append(history, &list.Items[i])
		}
	}
	slices.SortFunc(history, func(a, b *appsv1.ControllerRevision) int { return int(min(max(a.Revision-b.Revision, -1), 1)) })
	var target *appsv1.ControllerRevision
	switch {
	case to.number == 0 && to.name == "" && len(history) <= 1:
		return nil, fmt.Errorf("%w: no earlier revision of %s %s/%s to roll back to", errNoHistory, kindName, ns, name)
	case to.number == 0 && to.name == "":
		target = history[len(history)-2]
	default:
		for _, h := range history {
			if to.is(h.Name, h.Revision) {
				target = h
			}
		}
		if target == nil {
			return nil, revisionNotFound(to)
		}
	}
	tmpl, err := applied(target.Data.Raw)
	if err != nil {
		return nil, fmt.Errorf("revision %d of %s %s/%s: %w", target.Revision, kindName, ns, name, err)
	}
	var patch map[string]any
	if err := json.Unmarshal(target.Data.Raw, &patch); err != nil {
		return nil, fmt.Errorf("revision %d of %s %s/%s: %w", target.Revision, kindName, ns, name, err)
	}
	meta, _ := patch["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
	}
	meta["resourceVersion"] = w.meta.GetResourceVersion()
	patch["metadata"] = meta
	p := &rollbackPlan{
		w: w, from: history[len(history)-1].Revision, to: target.Revision, toName: target.Name,
		fromState: images(w.template), toState: images(tmpl),
		same:      apiequality.Semantic.DeepEqual(tmpl, w.template),
		patchType: types.StrategicMergePatchType,
	}
	p.patch, err = json.Marshal(patch)
	return p, err
}
