package controller

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
)

// collect deletes a finished record whose retention has passed.
func (r *Runner) collect(ctx context.Context, rec *v1alpha1.Remediation) (ctrl.Result, error) {
	deleted, err := r.deleteFinished(ctx, rec)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("delete expired record %s: %w", rec.Name, err)
	}
	if deleted {
		r.opts.Logger.Debug("record collected after its retention", "record", rec.Name, "phase", string(rec.Status.Phase))
	}
	return ctrl.Result{}, nil
}

// deleteFinished deletes rec as it was read (same UID, same
// resourceVersion), and reports whether it did. A record changed or gone
// since is left alone: its watch event brings it back to be decided again.
// A delete whose answer was lost is harmless to repeat: the record is then
// NotFound.
func (r *Runner) deleteFinished(ctx context.Context, rec *v1alpha1.Remediation) (bool, error) {
	uid, rv := rec.UID, rec.ResourceVersion
	err := r.client.Delete(ctx, rec, client.Preconditions{UID: &uid, ResourceVersion: &rv})
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
// before those of alerts that may still fire. Records that are not
// collectable count, but are never chosen.
func overCount(recs []v1alpha1.Remediation, max int, pol Policy) []*v1alpha1.Remediation {
	if max <= 0 {
		return nil
	}
	finished := 0
	for i := range recs {
		if recs[i].Status.Phase.Final() {
			finished++
		}
	}
	if finished <= max {
		return nil
	}
	type candidate struct {
		rec   *v1alpha1.Remediation
		until time.Time
	}
	var cands []candidate
	for i := range recs {
		if collectable(&recs[i]) {
			cands = append(cands, candidate{&recs[i], retainedUntil(&recs[i], pol)})
		}
	}
	slices.SortFunc(cands, func(a, b candidate) int {
		if c := a.until.Compare(b.until); c != 0 {
			return c
		}
		return cmp.Compare(a.rec.Name, b.rec.Name)
	})
	out := make([]*v1alpha1.Remediation, 0, min(finished-max, len(cands)))
	for _, c := range cands[:min(finished-max, len(cands))] {
		out = append(out, c.rec)
	}
	return out
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
	if err := r.client.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("list records: %w", err)
	}
	now := r.opts.Now()
	// The list's items are shallow copies of the cache's records: the
	// slice is filtered, the records are not changed.
	kept := list.Items[:0]
	expired := 0
	for _, rec := range list.Items {
		if nextStep(&rec, now, r.opts.Policy).Kind != stepCollect {
			kept = append(kept, rec)
			continue
		}
		ok, err := r.deleteFinished(ctx, rec.DeepCopy())
		if err != nil {
			return fmt.Errorf("delete expired record %s: %w", rec.Name, err)
		}
		if ok {
			expired++
		} else {
			kept = append(kept, rec)
		}
	}
	if expired > 0 {
		r.opts.Logger.Debug("records collected after their retention", "collected", expired)
	}
	excess := overCount(kept, r.opts.Policy.MaxRecords, r.opts.Policy)
	if len(excess) == 0 {
		return nil
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
	r.opts.Logger.Info("finished records collected before their retention: more than --max-records were kept",
		"collected", deleted, "max_records", r.opts.Policy.MaxRecords)
	return nil
}
