package leader

import (
	"context"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
)

// watch sends every version of the Lease it sees to out (nil when there is
// none) until ctx ends: a list by name, then a watch from the list's
// version. Whenever the watch ends or breaks it lists again, so nothing in
// between is missed; a list that shows the version already sent restarts
// no standby's clock (campaign.observe). A failed request is tried again
// after the retry period.
func (e *Elector) watch(ctx context.Context, out chan<- observed) {
	byName := fields.OneTermEqualSelector("metadata.name", e.cfg.Name).String()
	send := func(l *coordinationv1.Lease) bool {
		select {
		case out <- observed{lease: l}:
			return true
		case <-ctx.Done():
			return false
		}
	}
	pause := func() bool {
		t := time.NewTimer(e.cfg.RetryPeriod)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for ctx.Err() == nil {
		list, err := e.leases.List(ctx, metav1.ListOptions{FieldSelector: byName})
		if err != nil {
			e.log.Debug("cannot list the Lease", "err", err)
			if !pause() {
				return
			}
			continue
		}
		var l *coordinationv1.Lease
		if len(list.Items) > 0 {
			l = &list.Items[0]
		}
		if !send(l) {
			return
		}
		w, err := e.leases.Watch(ctx, metav1.ListOptions{FieldSelector: byName, ResourceVersion: list.ResourceVersion, AllowWatchBookmarks: true})
		if err != nil {
			e.log.Debug("cannot watch the Lease", "err", err)
			if !pause() {
				return
			}
			continue
		}
		ok := e.drain(ctx, w, send)
		w.Stop()
		if !ok {
			return
		}
	}
}

// drain passes on the Lease's events until the watch ends (true) or ctx
// does (false).
func (e *Elector) drain(ctx context.Context, w watch.Interface, send func(*coordinationv1.Lease) bool) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case ev, open := <-w.ResultChan():
			if !open {
				return true
			}
			switch ev.Type {
			case watch.Added, watch.Modified:
				e.leases.committed()
				if l, ok := ev.Object.(*coordinationv1.Lease); ok && !send(l) {
					return false
				}
			case watch.Deleted:
				e.leases.committed()
				if !send(nil) {
					return false
				}
			case watch.Error:
				e.log.Debug("the Lease's watch broke; listing it again", "status", ev.Object)
				return true
			}
		}
	}
}
