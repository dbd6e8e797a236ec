package controller

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
)

// collect deletes a finished record whose retention has passed.
func (r *Runner) collect(ctx context.Context, rec *v1alpha1.Remediation) (ctrl.Result, error) {
	uid, rv := rec.UID, rec.ResourceVersion
	err := r.client.Delete(ctx, rec, client.Preconditions{UID: &uid, ResourceVersion: &rv})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil
		}
		if apierrors.IsConflict(err) {
			return ctrl.Result{}, nil // changed under us: its watch event brings it back
		}
		return ctrl.Result{}, fmt.Errorf("delete expired record %s: %w", rec.Name, err)
	}
	r.opts.Metrics.Collected().Inc()
	r.opts.Logger.Debug("record collected after its retention", "record", rec.Name, "phase", string(rec.Status.Phase))
	return ctrl.Result{}, nil
}
