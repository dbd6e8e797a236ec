package approval

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/kube"
)

// DecidedError is returned by Decide for a record that is not waiting for
// approval (any more): it says who decided, or what became of it.
type DecidedError struct {
	Name      string
	Phase     v1alpha1.Phase
	DecidedBy string
	DecidedAt *metav1.Time
	Reason    string
	// ExpiredAt is the deadline that passed, for a record that expired.
	ExpiredAt *metav1.Time
}

func (e *DecidedError) Error() string {
	if e.DecidedBy != "" && e.DecidedAt != nil {
		return fmt.Sprintf("%s was already %s by %s at %s", e.Name, verb(e.Phase), e.DecidedBy, e.DecidedAt.UTC().Format(time.RFC3339))
	}
	if e.Phase == v1alpha1.PhaseExpired && e.ExpiredAt != nil {
		return fmt.Sprintf("%s expired unapproved at %s", e.Name, e.ExpiredAt.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("%s is not waiting for approval: it is %s (%s)", e.Name, e.Phase, e.Reason)
}

func verb(p v1alpha1.Phase) string {
	if p == v1alpha1.PhaseDenied {
		return "denied"
	}
	return "approved"
}

// Decide approves (or denies) a record waiting for approval, on behalf of
// who. The update is guarded by the record's resourceVersion, so of two
// people deciding at once exactly one succeeds; the other, like anyone
// deciding later, gets a *DecidedError naming who decided and when. An
// approved record is run by the leader; a denied one is final.
func Decide(ctx context.Context, c kube.Client, key kube.ObjectKey, approve bool, who string, now time.Time) (*v1alpha1.Remediation, error) {
	var rec v1alpha1.Remediation
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := c.Get(ctx, key, &rec); err != nil {
			return err
		}
		if rec.Status.Phase != v1alpha1.PhasePendingApproval {
			return &DecidedError{Name: rec.Name, Phase: rec.Status.Phase, DecidedBy: rec.Status.DecidedBy,
				DecidedAt: rec.Status.DecidedAt, Reason: rec.Status.Reason}
		}
		if exp := rec.Status.ApprovalExpiresAt; exp != nil && !now.Before(exp.Time) {
			// Past its deadline; the leader will record it as Expired.
			return &DecidedError{Name: rec.Name, Phase: v1alpha1.PhaseExpired, Reason: "ApprovalTimeout", ExpiredAt: exp}
		}
		t := metav1.NewTime(now)
		rec.Status.DecidedBy, rec.Status.DecidedAt = who, &t
		if approve {
			rec.Status.Phase, rec.Status.Reason = v1alpha1.PhaseApproved, "Approved"
			rec.Status.Message = "approved by " + who
		} else {
			rec.Status.Phase, rec.Status.Reason = v1alpha1.PhaseDenied, "Denied"
			rec.Status.Message = "denied by " + who
			rec.Status.FinishedAt = &t
		}
		return c.Status().Update(ctx, &rec)
	})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("no remediation %s in namespace %s (list them with 'alertmedic pending'): %w", key.Name, key.Namespace, err)
	}
	return &rec, err
}

// Waiting reports whether a record in phase p has not started and may still
// be cancelled.
func Waiting(p v1alpha1.Phase) bool {
	return p == v1alpha1.PhaseNew || p == v1alpha1.PhasePending || p == v1alpha1.PhasePendingApproval || p == v1alpha1.PhaseApproved
}
