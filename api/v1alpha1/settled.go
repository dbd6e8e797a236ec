package v1alpha1

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
// annotations and the alert's labels and texts, the bulk of a retained
// record in memory (docs/performance.md). Status is kept whole: a status
// write sends all of it back, and settled records still get them. Spec and
// metadata are not written back by one (the API server keeps them from the
// stored object), and no plain update of a record is ever made; the spec
// could not be changed by one anyway.
func TrimForCache(r *Remediation) {
	if !r.TrimmedInCache() {
		return
	}
	r.Annotations = nil
	a := &r.Spec.Alert
	a.Labels, a.Summary, a.Description, a.GeneratorURL, a.RunbookURL = nil, "", "", "", ""
}

// CacheTransform is TrimForCache as an informer's transform (for
// controller-runtime's cache.ByObject): every replica's cache of records,
// and the tests' caches, trim the same way.
func CacheTransform(obj any) (any, error) {
	if r, ok := obj.(*Remediation); ok {
		TrimForCache(r)
	}
	return obj, nil
}
