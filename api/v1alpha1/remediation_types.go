package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the API group and version of this package.
var GroupVersion = schema.GroupVersion{Group: "alertmedic.io", Version: "v1alpha1"}

// AddToScheme registers the types of this package.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &Remediation{}, &RemediationList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

// Phase is where a Remediation stands.
// +kubebuilder:validation:Enum="";Pending;PendingApproval;Approved;Denied;Expired;Cancelled;Running;Verifying;Succeeded;Failed;Skipped
type Phase string

const (
	// PhaseNew is a record just accepted; no decision taken yet.
	PhaseNew             Phase = ""
	PhasePending         Phase = "Pending" // accepted by policy, waiting for the executor
	PhasePendingApproval Phase = "PendingApproval"
	PhaseApproved        Phase = "Approved"
	PhaseDenied          Phase = "Denied"
	PhaseExpired         Phase = "Expired"
	PhaseCancelled       Phase = "Cancelled"
	PhaseRunning         Phase = "Running"
	PhaseVerifying       Phase = "Verifying" // the action succeeded; its checks (spec.verify) are watched until they pass or a deadline passes
	PhaseSucceeded       Phase = "Succeeded" // the action succeeded, and so did its checks if it had any
	PhaseFailed          Phase = "Failed"    // the action failed, or a check did not pass by its deadline
	PhaseSkipped         Phase = "Skipped"
)

// Final reports whether nothing more will happen to a record in phase p.
func (p Phase) Final() bool {
	switch p {
	case PhaseDenied, PhaseExpired, PhaseCancelled, PhaseSucceeded, PhaseFailed, PhaseSkipped:
		return true
	}
	return false
}

// Target names the workload to act on.
type Target struct {
	Kind Kind `json:"kind"`
	// Namespace is a DNS-1123 label, as every namespace is.
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Namespace string `json:"namespace"`
	// Name is a DNS-1123 subdomain, as every workload's name is.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`
}

// String is Kind/namespace/name.
func (t Target) String() string { return string(t.Kind) + "/" + t.Namespace + "/" + t.Name }

// ScaleParams are a scale action's parameters. The API server refuses a
// record whose parameters could be read more than one way: a "multiply"
// without a positive factor, a negative count for "to", min above max.
//
// +kubebuilder:validation:XValidation:rule="self.op != 'multiply' || has(self.factor)",message="scale.factor is required for op multiply"
// +kubebuilder:validation:XValidation:rule="self.op == 'multiply' || !has(self.factor)",message="scale.factor is only for op multiply"
// +kubebuilder:validation:XValidation:rule="!has(self.factor) || double(self.factor) > 0.0",message="scale.factor must be greater than 0"
// +kubebuilder:validation:XValidation:rule="self.op != 'to' || !has(self.n) || self.n >= 0",message="scale.n must be 0 or more for op to"
// +kubebuilder:validation:XValidation:rule="!has(self.min) || !has(self.max) || self.min <= self.max",message="scale.min must not be above scale.max"
type ScaleParams struct {
	Op ScaleOp `json:"op"`
	// N is the count for "to" and the delta for "by".
	N int32 `json:"n,omitempty"`
	// Factor is the multiplier for "multiply", as a decimal string ("1.5").
	Factor Factor `json:"factor,omitempty"`
	// Min is the lower bound of the result; 0 is none.
	// +kubebuilder:validation:Minimum=0
	Min int32 `json:"min,omitempty"`
	// Max is the upper bound of the result; 0 is none.
	// +kubebuilder:validation:Minimum=0
	Max int32 `json:"max,omitempty"`
	// HPA is what to do when a HorizontalPodAutoscaler scales the target:
	// refuse (the default: Skipped, HPAManaged), or raise its minReplicas
	// to the count the scale asks for (within the HPA's maxReplicas) for
	// HPAFor, then put it back.
	// +optional
	HPA HPAMode `json:"hpa,omitempty"`
	// HPAFor is how long a raised minReplicas stays raised.
	// +optional
	HPAFor *metav1.Duration `json:"hpaFor,omitempty"`
}

// HPAMode is what a scale does to a target a HorizontalPodAutoscaler
// scales.
// +kubebuilder:validation:Enum="";refuse;raise
type HPAMode string

const (
	HPARefuse HPAMode = "refuse"
	HPARaise  HPAMode = "raise"
)

// HPAStatus is a HorizontalPodAutoscaler whose minReplicas a scale raised,
// and when and how it is put back. It is in the record, not in memory, so
// whichever replica leads at RestoreAt puts it back.
type HPAStatus struct {
	Name string `json:"name"`
	UID  string `json:"uid"`
	// MinReplicas is the HPA's minReplicas before the raise, put back at
	// RestoreAt; RaisedTo is what the scale set.
	MinReplicas int32            `json:"minReplicas"`
	RaisedTo    int32            `json:"raisedTo"`
	RestoreAt   metav1.MicroTime `json:"restoreAt"`
	// RestoredAt is when it was put back (or found changed by someone
	// else and left: Message says which).
	// +optional
	RestoredAt *metav1.MicroTime `json:"restoredAt,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
}

// RollbackParams are a rollback action's parameters.
type RollbackParams struct {
	// ToRevision is the revision to go back to; 0 is the previous one.
	// +kubebuilder:validation:Minimum=0
	ToRevision int64 `json:"toRevision,omitempty"`
}

// EvictParams are an evict-pod action's parameters.
type EvictParams struct {
	// AllowUnowned lets the action evict a pod that no controller owns:
	// nothing brings such a pod back, so it is refused unless the rule
	// says so.
	// +optional
	AllowUnowned bool `json:"allowUnowned,omitempty"`
	// MinAvailable is the number of other ready pods the owning workload
	// must keep: an eviction that would leave fewer is Skipped as
	// WouldGoBelowMinAvailable. 0 is no guard beyond the pod's
	// PodDisruptionBudgets, which the Eviction API applies anyway.
	// +optional
	// +kubebuilder:validation:Minimum=0
	MinAvailable int32 `json:"minAvailable,omitempty"`
}

// AlertRef is the alert episode a Remediation answers.
type AlertRef struct {
	Name        string `json:"name"`
	Fingerprint string `json:"fingerprint"`
	// StartsAt is when the episode started, kept to the microsecond
	// (Alertmanager's timestamps carry milliseconds): the episode is
	// (fingerprint, startsAt), so whole seconds would not tell two
	// episodes of one second apart.
	StartsAt metav1.MicroTime  `json:"startsAt"`
	Labels   map[string]string `json:"labels,omitempty"`
	Summary  string            `json:"summary,omitempty"`
	// Description is the alert's description annotation.
	// +optional
	Description string `json:"description,omitempty"`
	// +optional
	GeneratorURL string `json:"generatorURL,omitempty"`
	// +optional
	RunbookURL string `json:"runbookURL,omitempty"`
}

// ApprovalSpec says who must approve the action before it runs.
type ApprovalSpec struct {
	Channel string          `json:"channel,omitempty"`
	Users   []string        `json:"users,omitempty"`
	Groups  []string        `json:"groups,omitempty"`
	Timeout metav1.Duration `json:"timeout"`
}

// RemediationSpec is the planned action; it does not change once created:
// the API server refuses any update of it, so what was approved is what runs.
//
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable: a Remediation's planned action cannot be changed once created"
// +kubebuilder:validation:XValidation:rule="self.action != 'scale' || has(self.scale)",message="action scale needs spec.scale"
// +kubebuilder:validation:XValidation:rule="self.action == 'scale' || !has(self.scale)",message="spec.scale is only for action scale"
// +kubebuilder:validation:XValidation:rule="self.action == 'rollback' || !has(self.rollback)",message="spec.rollback is only for action rollback"
// +kubebuilder:validation:XValidation:rule="self.action == 'evict-pod' || !has(self.evict)",message="spec.evict is only for action evict-pod"
// +kubebuilder:validation:XValidation:rule="(self.action == 'evict-pod') == (self.target.kind == 'Pod')",message="action evict-pod acts on a target of kind Pod, and only it does"
// +kubebuilder:validation:XValidation:rule="(self.action == 'run-job') == (self.target.kind == 'CronJob')",message="action run-job acts on a target of kind CronJob, and only it does"
// +kubebuilder:validation:XValidation:rule="!has(self.then) || has(self.sequence)",message="spec.then needs spec.sequence"
// +kubebuilder:validation:XValidation:rule="!has(self.then) || !has(self.onFailure)",message="a sequence stops at its first failure: spec.then and spec.onFailure do not go together"
// +kubebuilder:validation:XValidation:rule="!has(self.sequence) || self.sequence.step + (has(self.then) ? size(self.then) : 0) == self.sequence.of",message="spec.sequence.of must be spec.sequence.step plus the steps in spec.then"
// +kubebuilder:validation:XValidation:rule="!has(self.silence) || !self.silence || (has(self.verify) && has(self.verify.rollout) && !has(self.verify.alertResolved))",message="spec.silence needs spec.verify.rollout and no spec.verify.alertResolved: the silence lasts the rollout's check, and would mute the resolved notification alertResolved waits for"
type RemediationSpec struct {
	// Rule is the name of the rule that planned the action.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Rule   string `json:"rule"`
	Action Action `json:"action"`
	Target Target `json:"target"`
	// TargetRef is Target as Kind/namespace/name, for display.
	TargetRef string `json:"targetRef"`
	// +optional
	Scale *ScaleParams `json:"scale,omitempty"`
	// +optional
	Rollback *RollbackParams `json:"rollback,omitempty"`
	// +optional
	Evict *EvictParams `json:"evict,omitempty"`
	Alert AlertRef     `json:"alert"`
	// Approval, when set, holds the action until a permitted person approves.
	// +optional
	Approval *ApprovalSpec `json:"approval,omitempty"`
	// +optional
	DryRun bool `json:"dryRun,omitempty"`
	// Cooldown is the rule's: no second action on the same target within
	// it, whichever rule or alert asks. Zero takes the global default.
	// +optional
	Cooldown *metav1.Duration `json:"cooldown,omitempty"`
	// Budget is the rule's maxPerWindow; unset takes the global defaults.
	// +optional
	Budget *BudgetSpec `json:"budget,omitempty"`
	// Verify is what must be seen after a successful action before the
	// record is Succeeded; unset: nothing, the action's success is the
	// record's.
	// +optional
	Verify *VerifySpec `json:"verify,omitempty"`
	// Silence asks for an Alertmanager silence of the alert, on its labels
	// exactly, while the record is Verifying: it ends at the rollout check's
	// deadline at the latest, and is expired as soon as the record ends.
	// +optional
	Silence bool `json:"silence,omitempty"`
	// OnFailure is the rule's escalation chain: when this record ends
	// Failed, OnFailure[0] becomes a new record on the same target for the
	// same alert (spec.escalatedFrom names this one), carrying
	// OnFailure[1:] as its own chain. Each step has its own approval and
	// checks.
	// +optional
	// +kubebuilder:validation:MaxItems=3
	OnFailure []Step `json:"onFailure,omitempty"`
	// EscalatedFrom is the record whose failure this one answers; empty
	// for a record planned from an alert.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	EscalatedFrom string `json:"escalatedFrom,omitempty"`
	// Then is the rest of the rule's sequence: when this record ends
	// Succeeded, Then[0] becomes a new record (the next step, on its own
	// target, for the same alert), carrying Then[1:]. A step that does not
	// succeed stops the sequence. The steps were approved with the first,
	// as one plan: they carry no approval of their own.
	// +optional
	// +kubebuilder:validation:MaxItems=4
	Then []Step `json:"then,omitempty"`
	// Sequence places the record in its rule's sequence; unset for a rule
	// that is not one.
	// +optional
	Sequence *SequenceRef `json:"sequence,omitempty"`
	// Notify says which records of the rule get a Slack message when Slack
	// is configured (a record waiting for approval always does):
	// "" or all, every record, updated through its life; failures, only
	// records that end Failed; none, no other.
	// +optional
	Notify Notify `json:"notify,omitempty"`
	// GitOps is the rule's choice for a target that Argo CD or Flux
	// manages: refuse or allow; empty takes serve's --gitops, else refuse
	// for scale and rollback and allow for restart.
	// +optional
	GitOps GitOps `json:"gitops,omitempty"`
}

// Step is one escalation (an action on the record's target with its own
// parameters, approval and checks, taken when the record before it failed)
// or one later step of a sequence (an action on its own target with its
// own parameters and checks, taken when the record before it succeeded).
//
// +kubebuilder:validation:XValidation:rule="self.action != 'scale' || has(self.scale)",message="action scale needs scale"
// +kubebuilder:validation:XValidation:rule="self.action == 'scale' || !has(self.scale)",message="scale is only for action scale"
// +kubebuilder:validation:XValidation:rule="self.action == 'rollback' || !has(self.rollback)",message="rollback is only for action rollback"
// +kubebuilder:validation:XValidation:rule="self.action == 'evict-pod' || !has(self.evict)",message="evict is only for action evict-pod"
// +kubebuilder:validation:XValidation:rule="!has(self.silence) || !self.silence || (has(self.verify) && has(self.verify.rollout) && !has(self.verify.alertResolved))",message="silence needs verify.rollout and no verify.alertResolved"
// +kubebuilder:validation:XValidation:rule="!has(self.target) || (self.action == 'evict-pod') == (self.target.kind == 'Pod')",message="action evict-pod acts on a target of kind Pod, and only it does"
// +kubebuilder:validation:XValidation:rule="!has(self.target) || (self.action == 'run-job') == (self.target.kind == 'CronJob')",message="action run-job acts on a target of kind CronJob, and only it does"
type Step struct {
	Action Action `json:"action"`
	// Target is a sequence step's own target; unset, an escalation's,
	// which acts on its record's target.
	// +optional
	Target *Target `json:"target,omitempty"`
	// +optional
	Scale *ScaleParams `json:"scale,omitempty"`
	// +optional
	Rollback *RollbackParams `json:"rollback,omitempty"`
	// +optional
	Evict *EvictParams `json:"evict,omitempty"`
	// +optional
	Approval *ApprovalSpec `json:"approval,omitempty"`
	// +optional
	Verify *VerifySpec `json:"verify,omitempty"`
	// +optional
	Silence bool `json:"silence,omitempty"`
}

// VerifySpec is what a record checks after its action succeeded. Each
// check has its own deadline, counted from the action's end; the record is
// Succeeded when every check passed, Failed when one is past its deadline.
//
// +kubebuilder:validation:XValidation:rule="has(self.rollout) || has(self.alertResolved)",message="verify needs rollout or alertResolved"
type VerifySpec struct {
	// Rollout waits for the target to converge as kubectl rollout status
	// says it does.
	// +optional
	Rollout *RolloutCheck `json:"rollout,omitempty"`
	// AlertResolved waits for a resolved notification of the alert's
	// episode (status.alertResolvedAt).
	// +optional
	AlertResolved *AlertResolvedCheck `json:"alertResolved,omitempty"`
}

// RolloutCheck waits for the target's rollout to finish within Timeout.
//
// +kubebuilder:validation:XValidation:rule="duration(self.timeout) >= duration('1s') && duration(self.timeout) <= duration('24h')",message="verify.rollout.timeout must be between 1s and 24h"
type RolloutCheck struct {
	Timeout metav1.Duration `json:"timeout"`
}

// AlertResolvedCheck waits for the alert's episode to resolve within Within.
//
// +kubebuilder:validation:XValidation:rule="duration(self.within) >= duration('1s') && duration(self.within) <= duration('24h')",message="verify.alertResolved.within must be between 1s and 24h"
type AlertResolvedCheck struct {
	Within metav1.Duration `json:"within"`
}

// BudgetSpec bounds how many actions run within Window: PerRule by the rule
// on any target, PerTarget on one target by any rule. 0 takes the default.
type BudgetSpec struct {
	// +optional
	// +kubebuilder:validation:Minimum=0
	PerRule int32 `json:"perRule,omitempty"`
	// +optional
	// +kubebuilder:validation:Minimum=0
	PerTarget int32           `json:"perTarget,omitempty"`
	Window    metav1.Duration `json:"window"`
}

// ActionResult is what the action did.
type ActionResult struct {
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
	Before  string `json:"before,omitempty"`
	After   string `json:"after,omitempty"`
	// Owner is the workload that owned a pod evict-pod evicted: the
	// rollout check (spec.verify.rollout) waits for it to converge again.
	// Unset for a pod no workload alertmedic knows owns.
	// +optional
	Owner *Target `json:"owner,omitempty"`
	// Job is the Job run-job created (or found already created).
	// +optional
	Job string `json:"job,omitempty"`
}

// RemediationStatus tells where the Remediation stands and why.
type RemediationStatus struct {
	// +optional
	Phase Phase `json:"phase,omitempty"`
	// Reason is a CamelCase word for the phase: Cooldown, RuleBudget,
	// TargetBudget, CircuitOpen, NamespaceDenied, AlertResolved, Restarted...
	// +optional
	Reason string `json:"reason,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
	// DecidedBy is who approved or denied: a Slack user or a Kubernetes user.
	// +optional
	DecidedBy string `json:"decidedBy,omitempty"`
	// +optional
	DecidedAt *metav1.Time `json:"decidedAt,omitempty"`
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
	// ExecutedBy is the replica that ran the action.
	// +optional
	ExecutedBy string `json:"executedBy,omitempty"`
	// +optional
	Attempts int32 `json:"attempts,omitempty"`
	// +optional
	Result *ActionResult `json:"result,omitempty"`
	// AlertResolvedAt is when a resolved notification of the alert episode
	// arrived; a finished record is kept for the retention period after it.
	// +optional
	AlertResolvedAt *metav1.Time `json:"alertResolvedAt,omitempty"`
	// NextAttemptAt is when the next attempt is due after a transient
	// failure; nothing is tried before it. Kept to the microsecond, so that
	// a wait is never cut short by rounding.
	// +optional
	NextAttemptAt *metav1.MicroTime `json:"nextAttemptAt,omitempty"`
	// Write is the change to the target that the last attempt sent. While
	// the record is Running, or after an attempt whose answer was lost (a
	// timeout, a 504, a cut connection), it may or may not have been
	// applied: the next attempt reads the target and decides which before
	// it sends anything again.
	// +optional
	Write *Write `json:"write,omitempty"`
	// ApprovalExpiresAt is when a record waiting for approval expires.
	// +optional
	ApprovalExpiresAt *metav1.Time `json:"approvalExpiresAt,omitempty"`
	// Plan is what the action would do, worked out by a server-side dry run
	// when approval was requested. It is what the approver sees, and an
	// approved action runs only while the target is as it was planned.
	// +optional
	Plan *Plan `json:"plan,omitempty"`
	// Slack is the message mirroring this record in Slack.
	// +optional
	Slack *SlackMessage `json:"slack,omitempty"`
	// Verification is where the checks of spec.verify stand, while the
	// record is Verifying and after. Its deadlines are here, not in any
	// replica's memory, so a new leader continues where the last stopped.
	// +optional
	Verification *Verification `json:"verification,omitempty"`
	// Silence is the Alertmanager silence spec.silence asked for.
	// +optional
	Silence *SilenceStatus `json:"silence,omitempty"`
	// HPA is the HorizontalPodAutoscaler whose minReplicas the action
	// raised (spec.scale.hpa: raise), until it is put back.
	// +optional
	HPA *HPAStatus `json:"hpa,omitempty"`
	// Escalation is what became of spec.onFailure once the record failed:
	// the record that took the next step, or why there is none.
	// +optional
	Escalation *EscalationStatus `json:"escalation,omitempty"`
	// Next is what became of spec.then once the record succeeded: the
	// record that took the next step, or why there is none.
	// +optional
	Next *NextStatus `json:"next,omitempty"`
}

// SequenceRef places a record in its rule's sequence of steps.
type SequenceRef struct {
	// Step is the record's place in the sequence, from 1.
	// +kubebuilder:validation:Minimum=1
	Step int32 `json:"step"`
	// Of is the number of steps in the sequence.
	// +kubebuilder:validation:Minimum=2
	Of int32 `json:"of"`
	// Previous is the record of the step before, which succeeded; empty
	// for the first step.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Previous string `json:"previous,omitempty"`
}

// NextStatus links a succeeded step of a sequence to the record of the
// next step.
type NextStatus struct {
	// Record is the name of the record that takes the next step.
	// +optional
	Record string `json:"record,omitempty"`
	// Message says why the sequence stopped here, or what last went wrong
	// creating the next step's record.
	// +optional
	Message string `json:"message,omitempty"`
}

// EscalationStatus links a failed record to its escalation.
type EscalationStatus struct {
	// Record is the name of the record that takes the next step.
	// +optional
	Record string `json:"record,omitempty"`
	// Message says why the record was not escalated, or what last went
	// wrong creating its escalation.
	// +optional
	Message string `json:"message,omitempty"`
}

// SilenceStatus is the Alertmanager silence of a record's alert while it is
// verified. Its ID is recorded once Alertmanager answered; an answer lost
// is recovered by finding the silence by its comment, which names the
// record.
type SilenceStatus struct {
	// ID is Alertmanager's id of the silence.
	// +optional
	ID string `json:"id,omitempty"`
	// EndsAt is when the silence ends by itself: the verification's
	// deadline, never later.
	// +optional
	EndsAt *metav1.MicroTime `json:"endsAt,omitempty"`
	// ExpiredAt is when alertmedic expired it, the record having ended.
	// +optional
	ExpiredAt *metav1.MicroTime `json:"expiredAt,omitempty"`
	// Message says why there is no silence, or what last went wrong.
	// +optional
	Message string `json:"message,omitempty"`
}

// Verification is the progress of a record's checks after its action.
type Verification struct {
	// StartedAt is when the action ended and the checks began. The times
	// of a verification are kept to the microsecond: a deadline is never
	// moved by rounding, and a check is looked at no sooner than due.
	StartedAt metav1.MicroTime `json:"startedAt"`
	// +optional
	Rollout *CheckStatus `json:"rollout,omitempty"`
	// +optional
	AlertResolved *CheckStatus `json:"alertResolved,omitempty"`
	// LastCheckedAt is when the checks were last looked at.
	// +optional
	LastCheckedAt *metav1.MicroTime `json:"lastCheckedAt,omitempty"`
}

// CheckStatus is one check: its deadline, when it passed, and what was last
// seen ("2/4 ready; new ReplicaSet pods: 2 Pending (Unschedulable: ...)").
type CheckStatus struct {
	Deadline metav1.MicroTime `json:"deadline"`
	// PassedAt is when the check was first seen to pass.
	// +optional
	PassedAt *metav1.MicroTime `json:"passedAt,omitempty"`
	// AbsentSince, for alertResolved with an Alertmanager configured, is
	// when Alertmanager's API was first seen not listing the alert, in a
	// run of looks that all did not; the check passes once that run has
	// lasted the serve's --alertmanager-absent-for.
	// +optional
	AbsentSince *metav1.MicroTime `json:"absentSince,omitempty"`
	// +optional
	Observed string `json:"observed,omitempty"`
	// Warnings are the last Warning Events of the target and its pods and
	// ReplicaSets, newest first, alike ones counted together ("BackOff
	// (x12, Pod/web-7d9f-abc): Back-off restarting failed container"), as
	// read while the check was open and when it ended. At most five.
	// +optional
	// +kubebuilder:validation:MaxItems=5
	Warnings []string `json:"warnings,omitempty"`
}

// Write is one change alertmedic sends to a target, recorded before it is
// sent. The change moves the target's spec, so its metadata.generation;
// whether it was applied is decided from the target itself: the same UID, a
// generation past Generation, and the state the write sets. An eviction is
// settled by whether the pod of UID is gone or terminating, a run-job by
// whether Job exists.
type Write struct {
	// Attempt is the attempt that sent it.
	Attempt int32 `json:"attempt"`
	// UID and Generation are the target's as read for the write.
	UID        string `json:"uid"`
	Generation int64  `json:"generation"`
	// RestartedAt is the restartedAt annotation a restart sets.
	// +optional
	RestartedAt string `json:"restartedAt,omitempty"`
	// Replicas is the count a scale sets (the minReplicas, when HPA is set).
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`
	// HPA is the HorizontalPodAutoscaler a scale raised the minReplicas of
	// instead of scaling the target; UID and Generation are then its.
	// +optional
	HPA string `json:"hpa,omitempty"`
	// Revision is the revision a rollback goes back to.
	// +optional
	Revision int64 `json:"revision,omitempty"`
	// Job is the Job a run-job creates, named from the record.
	// +optional
	Job string `json:"job,omitempty"`
	// Owner is the workload owning the pod an evict-pod evicts.
	// +optional
	Owner *Target `json:"owner,omitempty"`
	// RevisionName is the ReplicaSet or ControllerRevision holding that
	// revision. Its controller renumbers a revision that becomes live again
	// (revision 2 of 3 becomes revision 4) but keeps its name, so a retry
	// settles the rollback by it.
	// +optional
	RevisionName string `json:"revisionName,omitempty"`
	// Before and After are the target's state before and after the write.
	// +optional
	Before string `json:"before,omitempty"`
	// +optional
	After string `json:"after,omitempty"`
}

// Plan is a dry run of a record's action, frozen when approval is requested.
type Plan struct {
	PlannedAt metav1.Time `json:"plannedAt"`
	// UID is the target's: an approved plan is never applied to an object
	// deleted and created again under the same name.
	// +optional
	UID string `json:"uid,omitempty"`
	// Generation is the target's metadata.generation when planned. Any
	// change of its spec (a new image, a scale, a restart) moves it; an
	// approved action whose target has moved on is not run.
	// +optional
	Generation int64 `json:"generation,omitempty"`
	// Outcome and Reason are what the dry run said would happen
	// (Succeeded, or Skipped with a reason such as Paused).
	// +optional
	Outcome string `json:"outcome,omitempty"`
	// +optional
	Reason string `json:"reason,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
	// Before and After are the target's state now and after the action,
	// e.g. "replicas=4" and "replicas=8".
	// +optional
	Before string `json:"before,omitempty"`
	// +optional
	After string `json:"after,omitempty"`
	// Error says why no plan could be made (the target is missing...).
	// +optional
	Error string `json:"error,omitempty"`
}

// SlackMessage is where a record's message is in Slack and how far
// it is up to date.
type SlackMessage struct {
	// +optional
	Channel string `json:"channel,omitempty"`
	// TS is the message's timestamp, Slack's id of the message.
	// +optional
	TS string `json:"ts,omitempty"`
	// Digest identifies the content last written to Slack; the message is
	// updated when the record renders differently.
	// +optional
	Digest string `json:"digest,omitempty"`
	// Error is the last Slack API error, cleared once a call succeeds.
	// +optional
	Error string `json:"error,omitempty"`
	// Failures counts Slack API calls for this message that failed after
	// their retries.
	// +optional
	Failures int32 `json:"failures,omitempty"`
	// Final: the message shows the record settled, and nothing done with
	// the record since changes what it shows. The notifier has nothing more
	// to do with it, and replicas cache the record trimmed.
	// +optional
	Final bool `json:"final,omitempty"`
}

// Remediation is one planned action of alertmedic: created when a firing
// alert matches a rule, named from (rule, target, alert fingerprint,
// startsAt) so that creating it is the exactly-once gate.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=rem,categories=alertmedic
// +kubebuilder:printcolumn:name="Rule",type=string,JSONPath=`.spec.rule`
// +kubebuilder:printcolumn:name="Action",type=string,JSONPath=`.spec.action`
// +kubebuilder:printcolumn:name="Target",type=string,JSONPath=`.spec.targetRef`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.reason`
// +kubebuilder:printcolumn:name="Alert",type=string,JSONPath=`.spec.alert.name`,priority=1
// +kubebuilder:printcolumn:name="Decided-By",type=string,JSONPath=`.status.decidedBy`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Remediation struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   RemediationSpec   `json:"spec"`
	Status RemediationStatus `json:"status,omitempty"`
}

// RemediationList is a list of Remediations.
//
// +kubebuilder:object:root=true
type RemediationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Remediation `json:"items"`
}
