package approval

import (
	"context"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/kube"
)

// Resolve notes on the record key that its alert episode resolved at at,
// and on each escalation or next step of a sequence it led to
// (status.escalation.record, status.next.record), in order: a
// record still waiting (for the executor or for approval) is cancelled;
// any record notes when its alert resolved, which starts its retention
// period. It returns the records it cancelled. A record that is not there
// (never planned, or collected) ends the walk without error.
func Resolve(ctx context.Context, c kube.Client, key kube.ObjectKey, at time.Time) ([]*v1alpha1.Remediation, error) {
	var cancelled []*v1alpha1.Remediation
	for range v1alpha1.MaxEscalations + v1alpha1.MaxSequenceSteps + 1 {
		var next string
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			var rec v1alpha1.Remediation
			if err := c.Get(ctx, key, &rec); err != nil {
				return err
			}
			if e := rec.Status.Escalation; e != nil {
				next = e.Record
			}
			if n := rec.Status.Next; n != nil {
				next = n.Record
			}
			if rec.Status.AlertResolvedAt != nil && !Waiting(rec.Status.Phase) {
				return nil
			}
			t := metav1.NewTime(at)
			rec.Status.AlertResolvedAt = &t
			cancel := Waiting(rec.Status.Phase)
			if cancel {
				rec.Status.Phase, rec.Status.Reason = v1alpha1.PhaseCancelled, "AlertResolved"
				rec.Status.Message = "the alert resolved before the action ran"
				rec.Status.FinishedAt = &t
			}
			if err := c.Status().Update(ctx, &rec); err != nil {
				return err
			}
			if cancel {
				cancelled = append(cancelled, &rec)
			}
			return nil
		})
		switch {
		case apierrors.IsNotFound(err):
			return cancelled, nil
		case err != nil:
			return cancelled, err
		case next == "":
			return cancelled, nil
		}
		key.Name = next
	}
	return cancelled, nil
}
