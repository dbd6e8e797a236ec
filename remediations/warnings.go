package remediations

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/kube"
)

// MaxWarnings is how many lines Warnings returns at most.
const MaxWarnings = 5

// Warnings reads the Warning Events of target, of its pods and, for a
// Deployment, of its ReplicaSets (FailedCreate: quota, admission), and says
// what they were: newest first, the Events with one reason and message
// counted together, at most MaxWarnings lines such as
// "BackOff (x12, Pod/web-7d9f-abc and 1 more): Back-off restarting failed
// container". The pods are the target's now, and for a Deployment those of
// any of its ReplicaSets, deleted ones included. Events last seen before
// since (to the second: Events keep whole seconds) are left out, so that
// what was wrong before an action is not taken for its result. It changes
// nothing.
func (e *Executor) Warnings(ctx context.Context, target v1alpha1.Target, since time.Time) ([]string, error) {
	ns := target.Namespace
	var (
		sel      *metav1.LabelSelector
		owner    metav1.Object
		podsFrom []string // name prefixes of the pods of its ReplicaSets
	)
	switch target.Kind {
	case v1alpha1.KindDeployment:
		d, err := kube.Get[appsv1.Deployment](ctx, e.client, ns, target.Name)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", target, err)
		}
		sel, owner = d.Spec.Selector, d
	case v1alpha1.KindStatefulSet:
		s, err := kube.Get[appsv1.StatefulSet](ctx, e.client, ns, target.Name)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", target, err)
		}
		sel, owner = s.Spec.Selector, s
	case v1alpha1.KindDaemonSet:
		d, err := kube.Get[appsv1.DaemonSet](ctx, e.client, ns, target.Name)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", target, err)
		}
		sel, owner = d.Spec.Selector, d
	default:
		return nil, fmt.Errorf("%w: kind %q", errUnsupported, target.Kind)
	}
	objects := map[string]bool{string(target.Kind) + "/" + target.Name: true}
	if target.Kind == v1alpha1.KindDeployment {
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil {
			return nil, fmt.Errorf("read the selector of %s: %w", target, err)
		}
		list, err := kube.List[appsv1.ReplicaSetList](ctx, e.client, ns, metav1.ListOptions{LabelSelector: s.String()})
		if err != nil {
			return nil, fmt.Errorf("list the ReplicaSets of %s: %w", target, err)
		}
		for i := range list.Items {
			if rs := &list.Items[i]; metav1.IsControlledBy(rs, owner) {
				objects["ReplicaSet/"+rs.Name] = true
				podsFrom = append(podsFrom, rs.Name+"-")
			}
		}
	}
	if target.Kind != v1alpha1.KindDeployment {
		pods, err := e.pods(ctx, ns, sel, nil)
		if err != nil {
			return nil, fmt.Errorf("read the pods of %s: %w", target, err)
		}
		for i := range pods {
			if metav1.IsControlledBy(&pods[i], owner) {
				objects["Pod/"+pods[i].Name] = true
			}
		}
	}
	list, err := kube.List[corev1.EventList](ctx, e.client, ns, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("type", corev1.EventTypeWarning).String(),
	})
	if err != nil {
		return nil, fmt.Errorf("list the Warning Events in %s: %w", ns, err)
	}
	var evs []corev1.Event
	since = since.Truncate(time.Second)
	for _, ev := range list.Items {
		if eventTime(&ev).Before(since) {
			continue
		}
		o := ev.InvolvedObject.Kind + "/" + ev.InvolvedObject.Name
		if objects[o] || ev.InvolvedObject.Kind == "Pod" && slices.ContainsFunc(podsFrom, func(p string) bool {
			return strings.HasPrefix(ev.InvolvedObject.Name, p)
		}) {
			evs = append(evs, ev)
		}
	}
	return summarizeWarnings(evs, MaxWarnings), nil
}

// summarizeWarnings groups evs by reason and message, newest group first,
// and says each group in one line; at most n lines.
func summarizeWarnings(evs []corev1.Event, n int) []string {
	type group struct {
		reason, message string
		count           int32
		last            time.Time
		newest          string // the object of the newest Event
		objects         map[string]bool
	}
	groups := map[string]*group{}
	for _, ev := range evs {
		key := ev.Reason + "\x00" + ev.Message
		g := groups[key]
		if g == nil {
			g = &group{reason: ev.Reason, message: ev.Message, objects: map[string]bool{}}
			groups[key] = g
		}
		count := max(ev.Count, 1)
		if ev.Series != nil {
			count = max(ev.Series.Count, count)
		}
		g.count += count
		o := ev.InvolvedObject.Kind + "/" + ev.InvolvedObject.Name
		g.objects[o] = true
		if t := eventTime(&ev); !t.Before(g.last) {
			g.last, g.newest = t, o
		}
	}
	sorted := make([]*group, 0, len(groups))
	for _, g := range groups {
		sorted = append(sorted, g)
	}
	slices.SortFunc(sorted, func(a, b *group) int {
		return cmp.Or(b.last.Compare(a.last), cmp.Compare(a.reason, b.reason), cmp.Compare(a.message, b.message))
	})
	var out []string
	for _, g := range sorted[:min(n, len(sorted))] {
		where := g.newest
		if len(g.objects) > 1 {
			where += fmt.Sprintf(" and %d more", len(g.objects)-1)
		}
		count := ""
		if g.count > 1 {
			count = fmt.Sprintf("x%d, ", g.count)
		}
		out = append(out, fmt.Sprintf("%s (%s%s): %s", g.reason, count, where, truncate(g.message, 300)))
	}
	return out
}

// eventTime is when ev was last seen, from whichever field its reporter set.
func eventTime(ev *corev1.Event) time.Time {
	switch {
	case ev.Series != nil && !ev.Series.LastObservedTime.IsZero():
		return ev.Series.LastObservedTime.Time
	case !ev.LastTimestamp.IsZero():
		return ev.LastTimestamp.Time
	case !ev.EventTime.IsZero():
		return ev.EventTime.Time
	case !ev.FirstTimestamp.IsZero():
		return ev.FirstTimestamp.Time
	}
	return ev.CreationTimestamp.Time
}
