package v1alpha1

import "time"

// NotifyWindow bounds how long after a record ended its first Slack
// message is still posted: a new leader, or a first start with Slack, does
// not post the records of the past week into the channel. A record never
// posted is left alone by the notifier once it ended longer ago.
const NotifyWindow = 15 * time.Minute

// AwaitsEscalation reports whether r failed with a step of spec.onFailure
// left to take and has not yet been escalated (or told why not).
func (r *Remediation) AwaitsEscalation() bool {
	return r.Status.Phase == PhaseFailed && len(r.Spec.OnFailure) > 0 && r.Status.Escalation == nil
}

// AwaitsNextStep reports whether r is a step of a sequence that succeeded
// and whose next step has not been recorded yet (or told why not).
func (r *Remediation) AwaitsNextStep() bool {
	return r.Status.Phase == PhaseSucceeded && len(r.Spec.Then) > 0 && r.Status.Next == nil
}

// Settled reports whether nothing more is done with r but notes on its
// status (its alert resolved, a silence expired, its Slack message) and,
// once its retention is over, its deletion: it is final, what it leads to
// (an escalation, the next step of its sequence) is recorded, and no raise
// of an HPA's minReplicas waits to be put back.
func (r *Remediation) Settled() bool {
	st := r.Status
	return st.Phase.Final() && !r.AwaitsEscalation() && !r.AwaitsNextStep() && (st.HPA == nil || st.HPA.RestoredAt != nil)
}

// TrimmedInCache reports whether a replica's cache of records holds r
// trimmed (TrimForCache): settled, and with no Slack message or one that
// is final (the message is rendered from the fields trimmed, and a final
// one is never rendered again). A reader of the cache that needs one of
// them reads such a record from the API server.
func (r *Remediation) TrimmedInCache() bool {
	return r.Settled() && (r.Status.Slack == nil || r.Status.Slack.Final)
}

// TrimForCache drops from r, a record as a replica's cache is about to hold
// it, what no reader of the cache needs once r is TrimmedInCache: its
// annotations, the alert's labels and texts, the action's parameters, its
// approval, verification and follow-up specs, and of its status the
// message, the change it sent and its plan, the result's details and the
// verification's; retained records are most of a replica's memory
// (docs/performance.md). What stays is what the runner, the notifier and
// the approvals gauge read of a settled record: its phase and times, the
// result's outcome, whether it was verified, its silence, Slack message,
// HPA, escalation and next-step links, rule, target and labels.
//
// A write from such a copy would erase what it lacks. Spec and metadata
// are not written by a status write (the API server keeps them from the
// stored object), and no plain update of a record is ever made; the spec
// could not be changed by one anyway. The status writes a settled record
// still gets are made from the API server's copy (the runner's silence
// expiry, a resolution passed on with ReadThrough), or are merge patches
// of one field (the notifier's status.slack).
func TrimForCache(r *Remediation) {
	if !r.TrimmedInCache() {
		return
	}
	r.Annotations = nil
	a := &r.Spec.Alert
	a.Labels, a.Summary, a.Description, a.GeneratorURL, a.RunbookURL = nil, "", "", "", ""
	sp := &r.Spec
	sp.Scale, sp.Rollback, sp.Evict, sp.Approval, sp.Verify, sp.OnFailure, sp.Then = nil, nil, nil, nil, nil, nil, nil
	st := &r.Status
	st.Message, st.ExecutedBy, st.Write, st.Plan = "", "", nil, nil
	if st.Result != nil {
		st.Result = &ActionResult{Outcome: st.Result.Outcome}
	}
	if st.Verification != nil {
		st.Verification = &Verification{} // verified: its silence is expired
	}
}

// CacheTransform is TrimForCache as an informer's transform
// (kube.CacheOptions.Transform): every replica's cache of records, and the
// tests' caches, trim the same way.
func CacheTransform(obj any) (any, error) {
	if r, ok := obj.(*Remediation); ok {
		TrimForCache(r)
	}
	return obj, nil
}
