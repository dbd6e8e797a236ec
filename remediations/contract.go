package remediations

import (
	"context"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
)

// Request is one action to perform, in the API's words. The executor
// checks the parameters itself (v1alpha1.ValidateAction) and acts on none
// that do not validate.
type Request struct {
	Action   v1alpha1.Action
	Target   v1alpha1.Target
	Scale    *v1alpha1.ScaleParams    // for a scale; required
	Rollback *v1alpha1.RollbackParams // for a rollback; nil: the previous revision
	Evict    *v1alpha1.EvictParams    // for evict-pod; nil: the defaults

	// Record is the name of the Remediation the request runs for: run-job
	// names its Job from it, so that a retry never creates a second one.
	Record string

	// Why: carried into the Event and log line on the target.
	Rule        string
	AlertName   string
	Fingerprint string

	// DryRun plans and records without changing the workload (server-side
	// dry-run where the API supports it).
	DryRun bool

	// GitOps is the rule's choice for a target Argo CD or Flux manages
	// ("": Options.GitOps, else the action's default).
	GitOps v1alpha1.GitOps

	// ExpectGeneration, when set, is the target's metadata.generation the
	// action was planned (and approved) against. If the target has changed
	// since, the action is Skipped as TargetChanged instead of being applied
	// to a workload nobody looked at. The write carries the resourceVersion
	// that was checked, so a change after the check is caught too.
	ExpectGeneration int64
	// ExpectUID, when set, is the target's UID the action was planned
	// against: an object deleted and created again under the same name
	// (its generation starts at 1 again) is not the one that was approved.
	ExpectUID string

	// Prior is a change an earlier attempt sent whose answer was lost (a
	// timeout, a 504, a cut connection, a replica that stopped): it may or
	// may not have been applied. The target is read first and the outcome
	// decided from it: applied (the target's generation moved and it shows
	// the state Prior sets) is Succeeded without sending anything; not
	// applied (the generation has not moved) sends exactly Prior again;
	// anything else (replaced, or changed by someone else) acts no further.
	Prior *v1alpha1.Write
	// BeforeWrite, when set, is called with the change about to be sent,
	// before it is sent; an error stops the action with nothing sent
	// (ErrNotSent). The caller records the change there, so that whoever
	// looks next can tell whether it was applied.
	BeforeWrite func(ctx context.Context, w *v1alpha1.Write) error
}

// Outcome is how an action ended.
type Outcome string

const (
	Succeeded Outcome = "Succeeded"
	Skipped   Outcome = "Skipped" // nothing to do or refused for a stated reason (paused, already at target)
	Failed    Outcome = "Failed"
)

// Result tells what an action did.
type Result struct {
	Outcome Outcome
	Reason  string // CamelCase machine reason, e.g. Restarted, Scaled, RolledBack, Paused, AlreadyAtRevision
	Message string // one human sentence
	Before  string // state before, e.g. "replicas=4", "revision=7"
	After   string // state after (or planned, on dry-run)
	DryRun  bool
	// Generation and UID are the target's as read for the action (before
	// it changed anything); zero when it was not read.
	Generation int64
	UID        string
	// Write is the change sent when the action failed after sending it: it
	// may have been applied, and is the next attempt's Request.Prior.
	Write *v1alpha1.Write
	// Owner is the workload that owned the pod evict-pod evicted (nil:
	// none alertmedic knows); Job is the Job run-job created.
	Owner *v1alpha1.Target
	Job   string
	// HPA is the HorizontalPodAutoscaler whose minReplicas a scale raised,
	// to be put back at HPA.RestoreAt (RestoreHPA).
	HPA *v1alpha1.HPAStatus
}
