package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/kube"
	"github.com/alertmedic/alertmedic/policy"
	"github.com/alertmedic/alertmedic/remediations"
)

// Archiving: a retained record nothing more is done with but its deletion
// is labelled v1alpha1.LabelArchived by the leader, and replicas' caches
// leave it out (a label selector), so that retained records cost a replica
// neither memory nor start-up time. The leader keeps an index of the
// archived records (name, UID, when retention ends: some 60 bytes each,
// archiveIndex), built from a list of their metadata when it starts
// leading and every archiveResync, and collects them from it.

// maxArchivePerSweep bounds the archive writes of one sweep: the first
// leader of a version that archives finds every retained record to do.
const maxArchivePerSweep = 500

// archiveResync is how often the leader lists the archived records again,
// to forget those deleted by others.
const archiveResync = 24 * time.Hour

// actedAt is when rec's action started, if it acted (a record that failed
// its verification acted all the same): what the policy book counts.
func actedAt(rec *v1alpha1.Remediation) (time.Time, bool) {
	st := rec.Status
	acted := st.Phase == v1alpha1.PhaseRunning || st.Phase == v1alpha1.PhaseVerifying || st.Phase == v1alpha1.PhaseSucceeded ||
		st.Result != nil && st.Result.Outcome == string(remediations.Succeeded)
	if st.StartedAt == nil || !acted || rec.Spec.DryRun {
		return time.Time{}, false
	}
	return st.StartedAt.Time, true
}

// bookHorizon is how long after an action the policy book may still
// count it: a new leader's book is seeded from the records in the cache,
// so a record that acted is not archived before.
func bookHorizon(pol Policy) time.Duration {
	return max(policy.MaxCooldown, policy.MaxBudgetWindow, pol.Limits.Cooldown, pol.Limits.BreakerWindow, pol.Limits.BudgetWindow)
}

// archivable reports whether rec may be archived at now: nothing more is
// done with it but its deletion. It is settled; its alert resolved, so
// the end of its retention is fixed (a resolved notification changes
// nothing any more); its silence, if it asked for one, is expired
// (alertmanager: whether one is configured); the Slack notifier is done
// with it (its message final, or none and it ended longer ago than
// NotifyWindow); and its action, if it acted, is older than the policy
// book looks back.
func archivable(rec *v1alpha1.Remediation, now time.Time, pol Policy, alertmanager bool) bool {
	st := rec.Status
	if rec.Labels[v1alpha1.LabelArchived] != "" || !rec.Settled() || st.AlertResolvedAt == nil || st.FinishedAt == nil {
		return false
	}
	if nextSilence(rec.Spec, st, now, alertmanager).Kind != silenceNone {
		return false
	}
	switch {
	case st.Slack != nil && !st.Slack.Final:
		return false
	case st.Slack == nil && now.Sub(st.FinishedAt.Time) <= v1alpha1.NotifyWindow:
		return false
	}
	if at, ok := actedAt(rec); ok && now.Sub(at) < bookHorizon(pol) {
		return false
	}
	return true
}

// retainedFrom is when rec's retention period started (retainedUntil
// less Retention), for a record whose alert resolved.
func retainedFrom(rec *v1alpha1.Remediation) time.Time {
	from := rec.Status.AlertResolvedAt.Time
	if f := rec.Status.FinishedAt; f != nil && f.After(from) {
		from = f.Time
	}
	return from
}

// archived is the leader's index of the archived records.
type archived struct {
	// listing: one list of the archived records at a time (the daily one
	// and a sweep's that found the index stale).
	listing sync.Mutex
	mu      sync.Mutex
	// built: the index holds every archived record (it was listed since
	// this replica started leading).
	built   bool
	entries *archiveIndex
	// added are the records archived while a list was being read.
	added *archiveIndex
}

// archive labels rec archived, with when its retention started, by a
// metadata patch conditional on the resourceVersion the cache read: a
// record changed since (Conflict) is looked at again at the next sweep.
// A patch whose answer was lost may have landed, and then the record is
// gone from the cache and only the index collects it; a Conflict may be
// the answer to a retry of a patch that landed. So rec is indexed
// whatever the answer but NotFound: if the patch did not land, the index
// deletes the record when its retention ends, as the cache would (that
// end is fixed: its alert resolved and it is final), and a later sweep
// archives it.
func (r *Runner) archive(ctx context.Context, rec *v1alpha1.Remediation) error {
	from := retainedFrom(rec)
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"resourceVersion": rec.ResourceVersion,
		"labels":          map[string]string{v1alpha1.LabelArchived: "true"},
		"annotations":     map[string]string{v1alpha1.AnnotationRetainedFrom: from.UTC().Format(time.RFC3339Nano)},
	}})
	if err != nil {
		return err
	}
	target := &v1alpha1.Remediation{ObjectMeta: metav1.ObjectMeta{Namespace: rec.Namespace, Name: rec.Name}}
	err = r.client.Patch(ctx, target, kube.RawPatch(types.MergePatchType, patch))
	if apierrors.IsNotFound(err) {
		return err
	}
	e := archivedEntry{uid: rec.UID, until: from.Add(r.opts.Policy.Retention).UnixNano()}
	r.arch.mu.Lock()
	defer r.arch.mu.Unlock()
	r.arch.entries.put(rec.Name, e)
	if r.arch.added != nil {
		r.arch.added.put(rec.Name, e)
	}
	r.noteArchived()
	return err
}

// indexArchived lists the archived records' metadata, page by page, and
// makes the index of them; it runs when this replica starts leading and
// every archiveResync after, and again after a failure, backing off.
func (r *Runner) indexArchived(ctx context.Context) {
	r.repeat(ctx, archiveResync, "list the archived records", r.listArchived)
}

// repeat runs fn now and then every interval until ctx ends; after a
// failure it runs fn again sooner, backing off from a second to a minute,
// and logs that it could not do what.
func (r *Runner) repeat(ctx context.Context, interval time.Duration, what string, fn func(context.Context) error) {
	retry := time.Second
	for {
		wait := interval
		if err := fn(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			r.opts.Logger.Warn("could not "+what+"; trying again", "in", retry, "err", err)
			wait, retry = retry, min(2*retry, time.Minute)
		} else {
			retry = time.Second
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (r *Runner) listArchived(ctx context.Context) error {
	r.arch.listing.Lock()
	defer r.arch.listing.Unlock()
	start := time.Now()
	r.arch.mu.Lock()
	r.arch.added = newArchiveIndex()
	r.arch.mu.Unlock()
	entries := newArchiveIndex()
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("RemediationList"))
	for cont := ""; ; {
		err := r.reader.List(ctx, list, kube.InNamespace(r.opts.Namespace), kube.HasLabels{v1alpha1.LabelArchived},
			kube.Limit(500), kube.Continue(cont))
		if err != nil {
			r.arch.mu.Lock()
			r.arch.added = nil
			r.arch.mu.Unlock()
			return fmt.Errorf("list archived records: %w", err)
		}
		for _, m := range list.Items {
			from, err := time.Parse(time.RFC3339Nano, m.Annotations[v1alpha1.AnnotationRetainedFrom])
			if err != nil {
				// Not one alertmedic archived as it does: kept until
				// --max-retention after it was made.
				from = m.CreationTimestamp.Add(r.opts.Policy.MaxRetention - r.opts.Policy.Retention)
			}
			entries.put(m.Name, archivedEntry{uid: m.UID, until: from.Add(r.opts.Policy.Retention).UnixNano()})
		}
		if cont = list.Continue; cont == "" {
			break
		}
	}
	r.arch.mu.Lock()
	entries.merge(r.arch.added)
	entries.trim()
	r.arch.entries, r.arch.added, r.arch.built = entries, nil, true
	n := entries.len()
	r.noteArchived()
	r.arch.mu.Unlock()
	// The pages read are garbage now, some 1 KB a record: given back to
	// the OS at once rather than held as the heap's headroom.
	debug.FreeOSMemory()
	r.opts.Logger.Info("archived records indexed", "records", n, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// archivedStale reports whether the index holds more records than the
// API server has archived: some were deleted by someone else. The API
// server counts every record of the namespace in one request (a list of
// one record's metadata, whose remainingItemCount is the rest); the
// archived ones are those beyond the cached records that were kept. A
// record created since the cache was read hides a stale entry until the
// next sweep; one deleted since costs a list of the index, no more.
// Without a count (an API server that does not give one) the index is
// trusted, as before.
func (r *Runner) archivedStale(ctx context.Context, cached int) (bool, error) {
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("RemediationList"))
	if err := r.reader.List(ctx, list, kube.InNamespace(r.opts.Namespace), kube.Limit(1)); err != nil {
		return false, err
	}
	total := int64(len(list.Items))
	if list.RemainingItemCount != nil {
		total += *list.RemainingItemCount
	} else if list.Continue != "" {
		return false, nil
	}
	indexed := r.archivedCount()
	if int64(indexed) > total-int64(cached) {
		r.opts.Logger.Info("the index of archived records holds records that are gone; listing them again",
			"indexed", indexed, "records", total, "cached", cached)
		return true, nil
	}
	return false, nil
}

// noteArchived sets the gauge of the index's size; r.arch.mu is held.
func (r *Runner) noteArchived() { r.opts.Metrics.Archived().Set(float64(r.arch.entries.len())) }

// archivedDue returns the archived records whose retention is over at now,
// and whether the index is built.
func (r *Runner) archivedDue(now time.Time) (due []archivedRecord, built bool) {
	r.arch.mu.Lock()
	defer r.arch.mu.Unlock()
	return r.arch.entries.records(func(until int64) bool { return now.UnixNano() >= until }), r.arch.built
}

// archivedCount is how many archived records the index holds.
func (r *Runner) archivedCount() int {
	r.arch.mu.Lock()
	defer r.arch.mu.Unlock()
	return r.arch.entries.len()
}

// archivedSnapshot is the index as a list, soonest retention end first.
func (r *Runner) archivedSnapshot() []archivedRecord {
	r.arch.mu.Lock()
	defer r.arch.mu.Unlock()
	return r.arch.entries.records(func(int64) bool { return true })
}

// deleteArchived deletes the archived record name if it is still the one
// indexed (its UID), and forgets it unless the delete failed otherwise.
// Archived records are not changed, so no resourceVersion is asked for.
func (r *Runner) deleteArchived(ctx context.Context, name string, e archivedEntry) (bool, error) {
	uid := e.uid
	rec := &v1alpha1.Remediation{ObjectMeta: metav1.ObjectMeta{Namespace: r.opts.Namespace, Name: name}}
	err := r.client.Delete(ctx, rec, kube.Preconditions{UID: &uid})
	switch {
	case err == nil, apierrors.IsNotFound(err), apierrors.IsConflict(err):
	default:
		return false, err
	}
	r.arch.mu.Lock()
	if cur, ok := r.arch.entries.get(name); ok && cur.uid == uid {
		r.arch.entries.remove(name)
		r.noteArchived()
	}
	r.arch.mu.Unlock()
	if err != nil {
		return false, nil
	}
	r.opts.Metrics.Collected().Inc()
	return true, nil
}
