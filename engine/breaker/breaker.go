// Package breaker keeps the circuit breaker's windows where every replica
// can read them: in the ConfigMap alertmedic-breaker of the records'
// namespace. The leader adds a window when its breaker opens; each replica
// reads the windows to leave unrecorded the alert episodes that started in
// one and would be skipped anyway, so that a storm of distinct alerts
// writes a bounded number of objects instead of one record each.
//
// A window is a commitment, not a hint: the leader skips an automatic
// action for an episode that started in a window it published, whatever
// its own book says later, so a replica that does not record such an
// episode loses nothing the leader would have run. Windows only grow, and
// are forgotten only long after they ended.
package breaker

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/alertmedic/alertmedic/internal/kube"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"

	"github.com/alertmedic/alertmedic/policy"
)

// ConfigMapName is the ConfigMap that holds the windows, in the records'
// namespace.
const ConfigMapName = "alertmedic-breaker"

// key is the ConfigMap's data key holding the windows, as JSON.
const key = "windows"

// budgetsKey is the ConfigMap's data key holding the rules' budget
// windows, as JSON: windows by policy.BudgetKey (a rule and its budget).
const budgetsKey = "budgets"

// Decode reads the windows of cm; nil for none.
func Decode(cm *corev1.ConfigMap) (policy.Windows, error) {
	data := cm.Data[key]
	if data == "" {
		return nil, nil
	}
	var ws policy.Windows
	if err := json.Unmarshal([]byte(data), &ws); err != nil {
		return nil, fmt.Errorf("configmap %s/%s: %s: %w", cm.Namespace, cm.Name, key, err)
	}
	return ws, nil
}

// Load reads the breaker's windows and the rules' budget windows from the
// API server (through r), with one read; none when the ConfigMap does not
// exist.
func Load(ctx context.Context, r kube.Reader, namespace string) (policy.Windows, map[string]policy.Windows, error) {
	var cm corev1.ConfigMap
	err := r.Get(ctx, kube.ObjectKey{Namespace: namespace, Name: ConfigMapName}, &cm)
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil, nil
	case err != nil:
		return nil, nil, fmt.Errorf("read configmap %s/%s: %w", namespace, ConfigMapName, err)
	}
	ws, err := Decode(&cm)
	if err != nil {
		return nil, nil, err
	}
	bs, err := DecodeBudgets(&cm)
	if err != nil {
		return nil, nil, err
	}
	return ws, bs, nil
}

// Publish adds w to the windows in the ConfigMap (created if missing),
// forgetting those that ended before keepSince, and returns the windows
// now stored.
func Publish(ctx context.Context, c kube.Client, namespace string, w policy.Window, keepSince time.Time) (policy.Windows, error) {
	var stored policy.Windows
	err := update(ctx, c, namespace, key, func(cm *corev1.ConfigMap) any {
		ws, err := Decode(cm)
		if err != nil {
			ws = nil // unreadable: replaced by what is known now
		}
		stored = ws.Add(w, keepSince)
		return stored
	})
	if err != nil {
		return nil, fmt.Errorf("publish circuit breaker window %s..%s in configmap %s/%s: %w",
			w.From.UTC().Format(time.RFC3339), w.Until.UTC().Format(time.RFC3339), namespace, ConfigMapName, err)
	}
	return stored, nil
}

// DecodeBudgets reads the rules' budget windows of cm, by
// policy.BudgetKey; nil for none.
func DecodeBudgets(cm *corev1.ConfigMap) (map[string]policy.Windows, error) {
	data := cm.Data[budgetsKey]
	if data == "" {
		return nil, nil
	}
	var bs map[string]policy.Windows
	if err := json.Unmarshal([]byte(data), &bs); err != nil {
		return nil, fmt.Errorf("configmap %s/%s: %s: %w", cm.Namespace, cm.Name, budgetsKey, err)
	}
	return bs, nil
}

// MaxTargetWindows bounds the target windows (policy.IsTargetKey: a
// target's budget or cooldown) kept in the ConfigMap, of which a storm
// over many workloads may publish one each: beyond it, those that end
// soonest are forgotten. At most about 400 bytes each (a target's name and
// namespace at their longest), they keep the ConfigMap far below its 1 MiB.
const MaxTargetWindows = 1000

// PublishBudget adds w to the budget windows of budget (a
// policy.BudgetKey, TargetBudgetKey or CooldownKey) in the ConfigMap, as
// Publish does for the breaker's, forgetting every window that ended
// before keepSince (and budgets left without one), and, beyond
// MaxTargetWindows target windows, those that end soonest (never w). It
// returns the budget windows now stored, and how many target windows were
// forgotten for the bound.
func PublishBudget(ctx context.Context, c kube.Client, namespace, budget string, w policy.Window, keepSince time.Time) (map[string]policy.Windows, int, error) {
	var (
		stored  map[string]policy.Windows
		dropped int
	)
	err := update(ctx, c, namespace, budgetsKey, func(cm *corev1.ConfigMap) any {
		bs, err := DecodeBudgets(cm)
		if err != nil {
			bs = nil // unreadable: replaced by what is known now
		}
		stored = map[string]policy.Windows{}
		for k, ws := range bs {
			if ws = ws.Since(keepSince); len(ws) > 0 {
				stored[k] = ws
			}
		}
		stored[budget] = bs[budget].Add(w, keepSince)
		dropped = boundTargets(stored, budget, w, MaxTargetWindows)
		return stored
	})
	if err != nil {
		return nil, 0, fmt.Errorf("publish the budget window of %s %s..%s in configmap %s/%s: %w",
			budget, w.From.UTC().Format(time.RFC3339), w.Until.UTC().Format(time.RFC3339), namespace, ConfigMapName, err)
	}
	return stored, dropped, nil
}

// boundTargets forgets, from bs, the target windows that end soonest
// beyond max of them, keeping the one that holds w of key; it returns how
// many it forgot. The rules' budget windows are bounded by the rules, and
// not counted.
func boundTargets(bs map[string]policy.Windows, key string, w policy.Window, max int) int {
	type at struct {
		key    string
		window policy.Window
	}
	var all []at
	for k, ws := range bs {
		if !policy.IsTargetKey(k) {
			continue
		}
		for _, x := range ws {
			if k == key && !x.Until.Before(w.Until) && !w.From.Before(x.From) {
				continue // the one just published, merged
			}
			all = append(all, at{k, x})
		}
	}
	n := len(all) + 1 // and w's
	if !policy.IsTargetKey(key) {
		n--
	}
	if n <= max {
		return 0
	}
	slices.SortFunc(all, func(a, b at) int { return a.window.Until.Compare(b.window.Until) })
	drop := all[:min(n-max, len(all))]
	for _, d := range drop {
		ws := slices.DeleteFunc(slices.Clone(bs[d.key]), func(x policy.Window) bool { return x.From.Equal(d.window.From) && x.Until.Equal(d.window.Until) })
		if len(ws) == 0 {
			delete(bs, d.key)
		} else {
			bs[d.key] = ws
		}
	}
	return len(drop)
}

// update sets data key k of the ConfigMap (created if missing) to the JSON
// of what edit makes of it as read, keeping its other keys. It is a
// read-modify-write retried on conflict, so what another writer added
// meanwhile is kept. An error may come after the write landed (its answer
// lost): the caller reads the ConfigMap again before relying on it.
func update(ctx context.Context, c kube.Client, namespace, k string, edit func(*corev1.ConfigMap) any) error {
	return retry.OnError(retry.DefaultRetry, func(err error) bool { return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) }, func() error {
		var cm corev1.ConfigMap
		err := c.Get(ctx, kube.ObjectKey{Namespace: namespace, Name: ConfigMapName}, &cm)
		create := apierrors.IsNotFound(err)
		if err != nil && !create {
			return err
		}
		b, err := json.Marshal(edit(&cm))
		if err != nil {
			return err
		}
		if create {
			cm = corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: ConfigMapName, Namespace: namespace,
				Labels: map[string]string{"app.kubernetes.io/name": "alertmedic"}}}
		}
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		cm.Data[k] = string(b)
		if create {
			return c.Create(ctx, &cm)
		}
		return c.Update(ctx, &cm)
	})
}

// Watcher keeps a replica's view of the windows current, through a watch
// of the one ConfigMap. Its view may lag the stored windows, never lead
// them: a replica that does not know a window yet records the episode, and
// the leader skips it.
type Watcher struct {
	informer cache.SharedIndexInformer

	mu      sync.Mutex
	version string // resourceVersion windows were decoded from
	windows policy.Windows
	budgets map[string]policy.Windows
}

// NewWatcher watches the ConfigMap in namespace with c (list and watch
// restricted to its name, which is all the RBAC allows).
func NewWatcher(c kube.WithWatch, namespace string) *Watcher {
	byName := func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", ConfigMapName).String()
	}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			byName(&o)
			return kube.List[corev1.ConfigMapList](ctx, c, namespace, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			byName(&o)
			return c.Watch(ctx, &corev1.ConfigMapList{}, &kube.ListOptions{Namespace: namespace, Raw: &o})
		},
	}
	return &Watcher{informer: cache.NewSharedIndexInformer(lw, &corev1.ConfigMap{}, 0, cache.Indexers{})}
}

// Start runs the watch until ctx ends (a kube.Runnable).
func (w *Watcher) Start(ctx context.Context) error {
	w.informer.RunWithContext(ctx)
	return nil
}

// NeedLeaderElection: every replica watches.
func (w *Watcher) NeedLeaderElection() bool { return false }

// Windows is the replica's current view of the windows: none until the
// watch has delivered the ConfigMap, or when it cannot be read.
func (w *Watcher) Windows() policy.Windows {
	ws, _ := w.current()
	return ws
}

// Budgets is the replica's current view of the rules' budget windows, by
// policy.BudgetKey, as Windows is of the breaker's.
func (w *Watcher) Budgets() map[string]policy.Windows {
	_, bs := w.current()
	return bs
}

func (w *Watcher) current() (policy.Windows, map[string]policy.Windows) {
	for _, o := range w.informer.GetStore().List() {
		cm, ok := o.(*corev1.ConfigMap)
		if !ok || cm.Name != ConfigMapName {
			continue
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		if cm.ResourceVersion != w.version {
			ws, err := Decode(cm)
			if err != nil {
				ws = nil
			}
			bs, err := DecodeBudgets(cm)
			if err != nil {
				bs = nil
			}
			w.version, w.windows, w.budgets = cm.ResourceVersion, ws, bs
		}
		return w.windows, w.budgets
	}
	return nil, nil
}
