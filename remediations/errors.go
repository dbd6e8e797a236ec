package remediations

import (
	"context"
	"errors"
	"net"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// ErrNotSent is returned by Execute when Request.BeforeWrite refused the
// change: nothing was sent to the target.
var ErrNotSent = errors.New("change not sent")

var (
	errUnsupported      = errors.New("unsupported")
	errInvalid          = errors.New("invalid parameters")
	errRevisionNotFound = errors.New("revision not found")
	errNoHistory        = errors.New("no rollout history")
	errBlockedByPDB     = errors.New("blocked by a PodDisruptionBudget")
	errJobNameTaken     = errors.New("job name taken")
)

// IsTransient reports whether err may go away if the same action is tried
// again later: the API server unreachable, overloaded, timing out or failing
// internally. It does not say that nothing was changed: a timeout, a 504 or
// a connection cut after the request was sent may come after the change was
// applied. Result.Write says what was sent; the next attempt passes it as
// Request.Prior and decides from the target whether it was applied.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	if apierrors.IsServiceUnavailable(err) || apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) ||
		apierrors.IsTooManyRequests(err) || apierrors.IsInternalError(err) || apierrors.IsUnexpectedServerError(err) {
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	var opErr *net.OpError
	return errors.As(err, &opErr)
}

// reason names err for a Result, an Event and a metric label.
func reason(err error) string {
	switch {
	case errors.Is(err, errUnsupported):
		return "Unsupported"
	case errors.Is(err, errInvalid):
		return "InvalidParameters"
	case errors.Is(err, errRevisionNotFound):
		return "RevisionNotFound"
	case errors.Is(err, errNoHistory):
		return "NoRolloutHistory"
	case errors.Is(err, errBlockedByPDB):
		return ReasonBlockedByPDB
	case errors.Is(err, errJobNameTaken):
		return "JobNameTaken"
	case apierrors.IsNotFound(err):
		return "NotFound"
	case apierrors.IsForbidden(err):
		return "Forbidden"
	case apierrors.IsUnauthorized(err):
		return "Unauthorized"
	case apierrors.IsInvalid(err):
		return "Invalid"
	case apierrors.IsConflict(err):
		return "Conflict"
	case IsTransient(err):
		return "APIUnavailable"
	}
	return "Error"
}
