package controller

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/kube"
)

// collect deletes a finished record whose retention has passed.
func (r *Runner) collect(ctx context.Context, rec *v1alpha1.Remediation) (kube.Result, error) {
	deleted, err := r.deleteFinished(ctx, rec)
	if err != nil {
		return kube.Result{}, fmt.Errorf("delete expired record %s: %w", rec.Name, err)
	}
	if deleted {
		r.opts.Logger.Debug("record collected after its retention", "record", rec.Name, "phase", string(rec.Status.Phase))
	}
	return kube.Result{}, nil
}

// deleteFinished deletes rec as it was read (same UID, same
// resourceVersion), and reports whether it did. A record changed or gone
// since is left alone: its watch event brings it back to be decided again.
// A delete whose answer was lost is harmless to repeat: the record is then
// NotFound.
func (r *Runner) deleteFinished(ctx context.Context, rec *v1alpha1.Remediation) (bool, error) {
	uid, rv := rec.UID, rec.ResourceVersion
	err := r.client.Delete(ctx, rec, kube.Preconditions{UID: &uid, ResourceVersion: &rv})
	switch {
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		return false, nil
	case err != nil:
		return false, err
	}
	r.opts.Metrics.Collected().Inc()
	return true, nil
}

// collectable reports whether rec may be deleted before its retention is
// over: it is final, what it leads to (an escalation, the next step of its
// sequence) is recorded, and no raise of an HPA's minReplicas waits to be
// put back.
func collectable(rec *v1alpha1.Remediation) bool { return rec.Settled() }

// overCount returns the finished records to delete so that at most max are
// retained (max 0: no bound), those age retention would delete soonest
// first (retainedUntil): the records of alerts that resolved long ago go
// before those of alerts that may still fire. recs are the records in the
// cache; archived, the archived ones (all finished and collectable), or
// nil when they are not known. Records that are not collectable count,
// but are never chosen.
func overCount(recs []v1alpha1.Remediation, archived []archivedRecord, max int, pol Policy) ([]*v1alpha1.Remediation, []archivedRecord) {
	if max <= 0 {
		return nil, nil
	}
	finished := len(archived)
	for i := range recs {
		if recs[i].Status.Phase.Final() {
			finished++
		}
	}
	if finished <= max {
		return nil, nil
	}
	type candidate struct {
		rec   *v1alpha1.Remediation
		arch  *archivedRecord
		name  string
		until time.Time
	}
	var cands []candidate
	for i := range recs {
		if collectable(&recs[i]) {
			cands = append(cands, candidate{rec: &recs[i], name: recs[i].Name, until: retainedUntil(&recs[i], pol)})
		}
	}
	for i := range archived {
		cands = append(cands, candidate{arch: &archived[i], name: archived[i].name, until: time.Unix(0, archived[i].until)})
	}
	slices.SortFunc(cands, func(a, b candidate) int {
		if c := a.until.Compare(b.until); c != 0 {
			return c
		}
		return cmp.Compare(a.name, b.name)
	})
	var hot []*v1alpha1.Remediation
	var old []archivedRecord
	for _, c := range cands[:min(finished-max, len(cands))] {
		if c.rec != nil {
			hot = append(hot, c.rec)
		} else {
			old = append(old, *c.arch)
		}
	}
	return hot, old
}

// sweepRecords, while this replica leads, deletes every Policy.CountSweep
// the finished records of its cache whose retention is over, and beyond
// Policy.MaxRecords the excess (overCount).
func (r *Runner) sweepRecords(ctx context.Context) {
	t := time.NewTicker(r.opts.Policy.CountSweep)
	defer t.Stop()
	for {
		if err := r.sweepFinished(ctx); err != nil && ctx.Err() == nil {
			r.opts.Logger.Warn("could not collect finished records; trying again", "in", r.opts.Policy.CountSweep, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *Runner) sweepFinished(ctx context.Context) error {
	var list v1alpha1.RemediationList
	// Read only, and possibly tens of thousands: not copied out of the cache.
	if err := r.client.List(ctx, &list, kube.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("list records: %w", err)
	}
	now := r.opts.Now()
	// The list's items are shallow copies of the cache's records: the
	// slice is filtered, the records are not changed.
	kept := list.Items[:0]
	expired, archivedNow := 0, 0
	for _, rec := range list.Items {
		switch {
		case nextStep(&rec, now, r.opts.Policy).Kind == stepCollect:
			ok, err := r.deleteFinished(ctx, rec.DeepCopy())
			if err != nil {
				return fmt.Errorf("delete expired record %s: %w", rec.Name, err)
			}
			if ok {
				expired++
				continue
			}
		case r.opts.Namespace != "" && archivedNow < maxArchivePerSweep && archivable(&rec, now, r.opts.Policy, r.opts.Alertmanager != nil):
			// Indexed now, whatever the answer but NotFound (archive): the
			// index counts it, and collects it when its retention ends.
			err := r.archive(ctx, &rec)
			switch {
			case err == nil:
				archivedNow++
			case apierrors.IsNotFound(err), apierrors.IsConflict(err):
				// Gone; or changed since the cache read it, archived at a
				// later sweep.
			default:
				return fmt.Errorf("archive record %s: %w", rec.Name, err)
			}
			continue
		}
		kept = append(kept, rec)
	}
	if expired > 0 || archivedNow > 0 {
		r.opts.Logger.Debug("finished records swept", "collected", expired, "archived", archivedNow)
	}
	due, built := r.archivedDue(now)
	for _, a := range due {
		if _, err := r.deleteArchived(ctx, a.name, a.archivedEntry); err != nil {
			return fmt.Errorf("delete archived record %s: %w", a.name, err)
		}
	}
	// Until the archived records are listed, those in the cache are bounded
	// alone.
	bound := func() (excess []*v1alpha1.Remediation, excessArchived []archivedRecord, indexCounted bool) {
		var arch []archivedRecord
		if built && r.opts.Policy.MaxRecords > 0 && r.archivedCount()+len(kept) > r.opts.Policy.MaxRecords {
			arch = r.archivedSnapshot()
		}
		excess, excessArchived = overCount(kept, arch, r.opts.Policy.MaxRecords, r.opts.Policy)
		return excess, excessArchived, arch != nil
	}
	excess, excessArchived, indexCounted := bound()
	if len(excess)+len(excessArchived) == 0 {
		return nil
	}
	if indexCounted {
		// Before anything is deleted for the count, make sure the index
		// holds no record someone else deleted, which would make the
		// leader delete records still within their bound.
		stale, err := r.archivedStale(ctx, len(kept))
		if err != nil {
			return fmt.Errorf("count records: %w", err)
		}
		if stale {
			if err := r.listArchived(ctx); err != nil {
				return err
			}
			if excess, excessArchived, _ = bound(); len(excess)+len(excessArchived) == 0 {
				return nil
			}
		}
	}
	deleted := 0
	for _, rec := range excess {
		ok, err := r.deleteFinished(ctx, rec.DeepCopy())
		if err != nil {
			return fmt.Errorf("delete record %s: %w", rec.Name, err)
		}
		if ok {
			deleted++
		}
	}
	for _, a := range excessArchived {
		ok, err := r.deleteArchived(ctx, a.name, a.archivedEntry)
		if err != nil {
			return fmt.Errorf("delete archived record %s: %w", a.name, err)
		}
		if ok {
			deleted++
		}
	}
	r.opts.Logger.Info("finished records collected before their retention: more than --max-records were kept",
		"collected", deleted, "max_records", r.opts.Policy.MaxRecords)
	return nil
}
