package remediations

import (
	"context"
	"fmt"
	"math"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/util/retry"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
)

// Replicas computes the replica count scale parameters ask for from the
// current count, clamped to their bounds. clamp names the bound that
// applied ("min", "max") or is empty. s must be valid (ScaleParams.Validate):
// only a factor that does not read is an error here.
func Replicas(current int32, s v1alpha1.ScaleParams) (want int32, clamp string, err error) {
	var n float64
	switch s.Op {
	case v1alpha1.ScaleTo:
		n = float64(s.N)
	case v1alpha1.ScaleBy:
		n = float64(current) + float64(s.N)
	case v1alpha1.ScaleMultiply:
		f, err := s.Factor.Float64()
		if err != nil {
			return current, "", err
		}
		n = math.Ceil(float64(current) * f)
	default:
		n = float64(current)
	}
	if n < 0 {
		n = 0
	}
	if n > math.MaxInt32 {
		n = math.MaxInt32
	}
	want = int32(n)
	if s.Max > 0 && want > s.Max {
		return s.Max, "max", nil
	}
	if want < s.Min {
		return s.Min, "min", nil
	}
	return want, "", nil
}

// scale sets the replica count through the scale subresource, re-reading and
// re-computing on a conflict so that a relative change ("+2", "x2") applies to
// the count that is really there.
func (e *Executor) scale(ctx context.Context, k kind, req Request) (Result, *workload, error) {
	sc, ok := k.(scaler)
	if !ok {
		return Result{}, nil, fmt.Errorf("%w: a %s has no replica count to scale", errUnsupported, req.Target.Kind)
	}
	var (
		res Result
		w   *workload
	)
	if p := req.Prior; p != nil && p.HPA != "" {
		done, err := e.settleHPA(ctx, req, &res)
		if err != nil || done {
			return res, nil, err
		}
		req.Prior = nil // the raise was not applied: raise as planned
	}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		// A HorizontalPodAutoscaler would undo a scale of its target
		// (read again on a conflict: it may be the HPA that changed).
		h, err := e.hpaFor(ctx, req.Target)
		if err != nil {
			return err
		}
		// The workload itself: for the Event's reference (kubectl describe
		// finds Events by the object's UID) and its generation.
		w, err = k.get(ctx, req.Target.Namespace, req.Target.Name)
		if err != nil {
			return err
		}
		s, err := sc.getScale(ctx, req.Target.Namespace, req.Target.Name)
		if err != nil {
			return err
		}
		if s.ResourceVersion != w.meta.GetResourceVersion() {
			// Changed between the two reads: read both again.
			return apierrors.NewConflict(schema.GroupResource{Group: "apps", Resource: "scale"}, req.Target.Name,
				fmt.Errorf("changed while being read"))
		}
		res = Result{Generation: w.meta.GetGeneration(), UID: string(w.meta.GetUID())}
		current := s.Spec.Replicas
		var want int32
		bound := ""
		if p := req.Prior; p != nil {
			if p.Replicas == nil {
				return fmt.Errorf("%w: the change to settle sets no replica count", errUnsupported)
			}
			if settle(req, w, func() bool { return current == *p.Replicas }, "Scaled", &res) {
				return nil
			}
			want = *p.Replicas // not applied: send the very same change again
		} else {
			if changed(req, w, &res) || e.gitOpsManaged(req, w, &res) {
				return nil
			}
			if h != nil {
				return e.scaleThroughHPA(ctx, req, s, h, &res)
			}
			var clamp string
			want, clamp, err = Replicas(current, *req.Scale)
			if err != nil {
				return fmt.Errorf("%w: %w", errInvalid, err)
			}
			if clamp != "" {
				bound = fmt.Sprintf(" (held at the rule's %s of %d)", clamp, want)
			}
			if want == current {
				res.Before, res.After = fmt.Sprintf("replicas=%d", current), fmt.Sprintf("replicas=%d", want)
				res.Outcome, res.Reason = Skipped, "AlreadyAtReplicas"
				if clamp == "max" {
					res.Reason = "AtMaximum"
				} else if clamp == "min" {
					res.Reason = "AtMinimum"
				}
				res.Message = fmt.Sprintf("already at %d replicas%s", current, bound)
				return nil
			}
		}
		res.Before, res.After = fmt.Sprintf("replicas=%d", current), fmt.Sprintf("replicas=%d", want)
		s.Spec.Replicas = want
		change := &v1alpha1.Write{UID: res.UID, Generation: res.Generation, Replicas: &want, Before: res.Before, After: res.After}
		err = send(ctx, req, change, &res, func() error {
			_, err := sc.updateScale(ctx, req.Target.Namespace, req.Target.Name, s, e.updateOptions(req))
			return err
		})
		if err != nil {
			return err
		}
		res.Outcome, res.Reason = Succeeded, "Scaled"
		res.Message = fmt.Sprintf("scaled from %d to %d replicas%s", current, want, bound)
		return nil
	})
	return res, w, err
}
