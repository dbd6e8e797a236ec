package remediations

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/kube"
)

// HPARaisedAnnotation is on a HorizontalPodAutoscaler whose minReplicas a
// scale raised: which record raised it, from what, to what and until when,
// so that a lost answer is settled from the HPA itself and a second record
// does not raise it again meanwhile.
const HPARaisedAnnotation = "alertmedic.io/raised-min-replicas"

// hpaRaise is the value of HPARaisedAnnotation.
type hpaRaise struct {
	Record string    `json:"record"`
	From   int32     `json:"from"`
	To     int32     `json:"to"`
	Until  time.Time `json:"until"`
}

func readRaise(h *autoscalingv2.HorizontalPodAutoscaler) (hpaRaise, bool) {
	var r hpaRaise
	v, ok := h.Annotations[HPARaisedAnnotation]
	if !ok || json.Unmarshal([]byte(v), &r) != nil {
		return hpaRaise{}, false
	}
	return r, true
}

func minReplicas(h *autoscalingv2.HorizontalPodAutoscaler) int32 {
	if h.Spec.MinReplicas == nil {
		return 1
	}
	return *h.Spec.MinReplicas
}

// hpaFor returns the HorizontalPodAutoscaler that scales target, or nil.
func (e *Executor) hpaFor(ctx context.Context, target v1alpha1.Target) (*autoscalingv2.HorizontalPodAutoscaler, error) {
	list, err := kube.List[autoscalingv2.HorizontalPodAutoscalerList](ctx, e.client, target.Namespace, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list the HorizontalPodAutoscalers of %s: %w", target.Namespace, err)
	}
	for i := range list.Items {
		ref := list.Items[i].Spec.ScaleTargetRef
		if ref.Kind == string(target.Kind) && ref.Name == target.Name && (ref.APIVersion == "apps/v1" || ref.APIVersion == "") {
			return &list.Items[i], nil
		}
	}
	return nil, nil
}

// scaleThroughHPA answers a scale of a target that h scales: scaling the
// target would be undone by h within seconds, so the scale is refused
// (HPAManaged), or, with scale.hpa: raise, h's minReplicas is raised to
// the count the scale asks for (within h's maxReplicas) until hpaFor from
// now, and h's controller scales the target. The raise is put back by
// RestoreHPA.
func (e *Executor) scaleThroughHPA(ctx context.Context, req Request, s *autoscalingv1.Scale, h *autoscalingv2.HorizontalPodAutoscaler, res *Result) error {
	sc := req.Scale
	from := minReplicas(h)
	if sc.HPA != v1alpha1.HPARaise {
		res.Outcome, res.Reason = Skipped, "HPAManaged"
		res.Message = fmt.Sprintf("%s is scaled by HorizontalPodAutoscaler %s (minReplicas %d, maxReplicas %d), which would undo a scale within seconds; set scale.hpa: raise to raise its minReplicas for a while instead (docs/rules.md#horizontalpodautoscalers)",
			req.Target, h.Name, from, h.Spec.MaxReplicas)
		return nil
	}
	if r, ok := readRaise(h); ok && r.Record != req.Record {
		res.Outcome, res.Reason = Skipped, "HPAAlreadyRaised"
		res.Message = fmt.Sprintf("HorizontalPodAutoscaler %s has its minReplicas raised from %d to %d by %s until %s; not raising it again",
			h.Name, r.From, r.To, r.Record, r.Until.UTC().Format(time.RFC3339))
		return nil
	}
	current := s.Spec.Replicas
	want, clamp, err := Replicas(current, *sc)
	if err != nil {
		return fmt.Errorf("%w: %w", errInvalid, err)
	}
	bound := ""
	if clamp != "" {
		bound = fmt.Sprintf(", held at the rule's %s of %d", clamp, want)
	}
	if want > h.Spec.MaxReplicas {
		want, bound = h.Spec.MaxReplicas, fmt.Sprintf(", held at the HPA's maxReplicas of %d", h.Spec.MaxReplicas)
	}
	res.Before, res.After = fmt.Sprintf("minReplicas=%d", from), fmt.Sprintf("minReplicas=%d", want)
	if want <= from {
		res.Outcome, res.Reason, res.After = Skipped, "AlreadyAtHPAMinimum", res.Before
		res.Message = fmt.Sprintf("HorizontalPodAutoscaler %s keeps %s at %d replicas or more already (%d asked%s)", h.Name, req.Target, from, want, bound)
		return nil
	}
	until := e.opts.Now().Add(sc.HPAFor.Duration)
	raise, err := json.Marshal(hpaRaise{Record: req.Record, From: from, To: want, Until: until.UTC()})
	if err != nil {
		return err
	}
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": h.ResourceVersion, "annotations": map[string]string{HPARaisedAnnotation: string(raise)}},
		"spec":     map[string]any{"minReplicas": want},
	})
	if err != nil {
		return err
	}
	change := &v1alpha1.Write{UID: string(h.UID), Generation: h.Generation, Replicas: &want, HPA: h.Name, Before: res.Before, After: res.After}
	err = send(ctx, req, change, res, func() error {
		_, err := kube.PatchNamed[autoscalingv2.HorizontalPodAutoscaler](ctx, e.client, h.Namespace, h.Name, types.MergePatchType, patch, e.patchOptions(req))
		return err
	})
	if err != nil {
		return err
	}
	e.raised(req, h, from, want, until, res)
	res.Message = fmt.Sprintf("raised HorizontalPodAutoscaler %s's minReplicas from %d to %d until %s (%d asked%s); it scales %s to at least %d",
		h.Name, from, want, until.UTC().Format(time.RFC3339), want, bound, req.Target, want)
	return nil
}

func (e *Executor) raised(req Request, h *autoscalingv2.HorizontalPodAutoscaler, from, to int32, until time.Time, res *Result) {
	res.Outcome, res.Reason = Succeeded, "HPAMinRaised"
	if req.DryRun {
		return
	}
	res.HPA = &v1alpha1.HPAStatus{Name: h.Name, UID: string(h.UID), MinReplicas: from, RaisedTo: to, RestoreAt: metav1.NewMicroTime(until)}
}

// settleHPA decides what became of a raise whose answer was lost, from the
// HPA: it carries this record's annotation (the patch sets it with the
// minReplicas, at once) or it does not, and the raise is sent again.
func (e *Executor) settleHPA(ctx context.Context, req Request, res *Result) (bool, error) {
	p := req.Prior
	h, err := kube.Get[autoscalingv2.HorizontalPodAutoscaler](ctx, e.client, req.Target.Namespace, p.HPA)
	if apierrors.IsNotFound(err) || err == nil && string(h.UID) != p.UID {
		res.Outcome, res.Reason = Skipped, "TargetChanged"
		res.Message = fmt.Sprintf("HorizontalPodAutoscaler %s was deleted after attempt %d raised it: nothing to act on", p.HPA, p.Attempt)
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if r, ok := readRaise(h); ok && r.Record == req.Record && minReplicas(h) == r.To {
		res.Before, res.After = p.Before, p.After
		e.raised(req, h, r.From, r.To, r.Until, res)
		res.Message = fmt.Sprintf("%s -> %s on HorizontalPodAutoscaler %s, applied by attempt %d, whose answer was lost", p.Before, p.After, h.Name, p.Attempt)
		return true, nil
	}
	return false, nil
}

// RestoreHPA puts back the minReplicas of the HPA record raised (r), and
// says what it did. It is idempotent: a restore whose answer was lost finds
// the HPA put back. An HPA changed since (another minReplicas, or gone) is
// left as it is, and the message says so.
func (e *Executor) RestoreHPA(ctx context.Context, namespace, record string, r v1alpha1.HPAStatus) (string, error) {
	h, err := kube.Get[autoscalingv2.HorizontalPodAutoscaler](ctx, e.client, namespace, r.Name)
	switch {
	case apierrors.IsNotFound(err) || err == nil && string(h.UID) != r.UID:
		return fmt.Sprintf("HorizontalPodAutoscaler %s is gone: nothing to put back", r.Name), nil
	case err != nil:
		return "", fmt.Errorf("read HorizontalPodAutoscaler %s: %w", r.Name, err)
	}
	raise, mine := readRaise(h)
	mine = mine && raise.Record == record
	cur := minReplicas(h)
	switch {
	case !mine && cur == r.MinReplicas:
		return fmt.Sprintf("minReplicas of %s is back at %d", r.Name, r.MinReplicas), nil
	case !mine:
		return fmt.Sprintf("minReplicas of %s was changed by someone else since (now %d): left as it is", r.Name, cur), nil
	}
	spec := map[string]any{"minReplicas": r.MinReplicas}
	msg := fmt.Sprintf("minReplicas of %s put back from %d to %d", r.Name, r.RaisedTo, r.MinReplicas)
	if cur != r.RaisedTo {
		spec = map[string]any{} // someone set another value: theirs stays; only the mark goes
		msg = fmt.Sprintf("minReplicas of %s was changed by someone else since (now %d, raised to %d): left as it is", r.Name, cur, r.RaisedTo)
	}
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": h.ResourceVersion, "annotations": map[string]any{HPARaisedAnnotation: nil}},
		"spec":     spec,
	})
	if err != nil {
		return "", err
	}
	if _, err := kube.PatchNamed[autoscalingv2.HorizontalPodAutoscaler](ctx, e.client, namespace, r.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: e.opts.FieldManager}); err != nil {
		return "", fmt.Errorf("put back the minReplicas of HorizontalPodAutoscaler %s: %w", r.Name, err)
	}
	return msg, nil
}
