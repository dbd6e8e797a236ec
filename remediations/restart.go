package remediations

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
)

// RestartedAtAnnotation is the pod template annotation 'kubectl rollout
// restart' sets; changing it rolls every pod of the workload.
const RestartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"

// restart does what 'kubectl rollout restart' does: it sets the restartedAt
// annotation of the pod template to the current time (RFC 3339, whole
// seconds), and refuses a paused Deployment. A second restart within the same
// second would be an empty patch; it is reported as skipped, not repeated.
// The patch carries the resourceVersion that was read, so a concurrent change
// is a conflict that is retried with a fresh read rather than overwritten.
func (e *Executor) restart(ctx context.Context, k kind, req Request) (Result, *workload, error) {
	var (
		res Result
		w   *workload
	)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var err error
		w, err = k.get(ctx, req.Target.Namespace, req.Target.Name)
		if err != nil {
			return err
		}
		before := w.template.Annotations[RestartedAtAnnotation]
		res = Result{Before: restartState(before), Generation: w.meta.GetGeneration(), UID: string(w.meta.GetUID())}
		now := e.opts.Now().Format(time.RFC3339)
		if p := req.Prior; p != nil {
			if settle(req, w, func() bool { return before == p.RestartedAt }, "Restarted", &res) {
				return nil
			}
			now = p.RestartedAt // not applied: send the very same change again
		} else {
			if changed(req, w, &res) || e.gitOpsManaged(req, w, &res) {
				return nil
			}
			if w.paused {
				res.Outcome, res.Reason = Skipped, "Paused"
				res.Message = "can't restart a paused Deployment (run 'kubectl rollout resume' first)"
				return nil
			}
			if before == now {
				res.Outcome, res.Reason = Skipped, "AlreadyRestarted"
				res.Message = "restarted less than a second ago; a second restart now would change nothing"
				res.After = res.Before
				return nil
			}
		}
		patch, err := json.Marshal(map[string]any{
			"metadata": map[string]any{"resourceVersion": w.meta.GetResourceVersion()},
			"spec": map[string]any{"template": map[string]any{
				"metadata": map[string]any{"annotations": map[string]string{RestartedAtAnnotation: now}},
			}},
		})
		if err != nil {
			return err
		}
		change := &v1alpha1.Write{UID: res.UID, Generation: res.Generation, RestartedAt: now, Before: res.Before, After: restartState(now)}
		err = send(ctx, req, change, &res, func() error {
			obj, err := k.patch(ctx, req.Target.Namespace, req.Target.Name, types.StrategicMergePatchType, patch, e.patchOptions(req))
			if err == nil {
				w.ref.ResourceVersion = obj.GetResourceVersion()
			}
			return err
		})
		if err != nil {
			return err
		}
		res.Outcome, res.Reason, res.After = Succeeded, "Restarted", restartState(now)
		res.Message = fmt.Sprintf("rollout restart: pod template annotated %s=%s", RestartedAtAnnotation, now)
		return nil
	})
	return res, w, err
}

func restartState(restartedAt string) string {
	if restartedAt == "" {
		return "restartedAt=never"
	}
	return "restartedAt=" + restartedAt
}
