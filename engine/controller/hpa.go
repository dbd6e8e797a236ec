package controller

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/kube"
)

// restoreHPA puts back the minReplicas rec's scale raised on a
// HorizontalPodAutoscaler (status.hpa), now that its time is up, and notes
// it. The raise and its deadline are in the record, so whichever replica
// leads then puts it back; a restore whose answer was lost is done again,
// and finds it done. A failure is returned and tried again.
func (r *Runner) restoreHPA(ctx context.Context, rec *v1alpha1.Remediation, now time.Time) (kube.Result, error) {
	h := *rec.Status.HPA
	msg, err := r.opts.Executor.RestoreHPA(ctx, rec.Spec.Target.Namespace, rec.Name, h)
	if err != nil {
		return kube.Result{}, fmt.Errorf("restore the HorizontalPodAutoscaler of %s: %w", rec.Name, err)
	}
	r.opts.Logger.Info("HorizontalPodAutoscaler minReplicas put back", "record", rec.Name, "hpa", h.Name, "message", msg)
	at := metav1.NewMicroTime(now)
	h.RestoredAt, h.Message = &at, msg
	if err := r.patchStatus(ctx, rec, func(st *v1alpha1.RemediationStatus) { st.HPA = &h }); err != nil {
		return kube.Result{}, fmt.Errorf("note the restore of %s's HorizontalPodAutoscaler: %w", rec.Name, err)
	}
	return kube.Result{}, nil
}
