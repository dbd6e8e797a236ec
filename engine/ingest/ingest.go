package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/alertmanager/template"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/engine"
	"github.com/alertmedic/alertmedic/engine/approval"
	"github.com/alertmedic/alertmedic/internal/kube"
	"github.com/alertmedic/alertmedic/policy"
	"github.com/alertmedic/alertmedic/rules"
	"github.com/alertmedic/alertmedic/webhook"
)

// ErrBusy is returned by Accept when a notification cannot be recorded now.
// It wraps the sentinel the webhook answers 503 for, given in Options.Busy.
var ErrBusy = errors.New("engine busy")

// DefaultSeenSize is how many recently recorded episodes an Ingester
// remembers unless Options.SeenSize says otherwise.
const DefaultSeenSize = 100_000

// Options configures an Ingester. Zero values take the defaults in New.
type Options struct {
	// Client writes the records. It must read from the API server, not from
	// a cache: Accept's answers depend on what is really there.
	Client kube.Client
	// Namespace holds the Remediation records.
	Namespace string
	Rules     *rules.Set
	// Busy is the error Accept wraps when it refuses work, so the HTTP edge
	// can recognise it (webhook.ErrBusy). Defaults to ErrBusy.
	Busy   error
	DryRun bool
	// Gate, when set, is asked before accepting a notification; an error
	// refuses it with Busy (e.g. the API server is unreachable, so the work
	// could not be recorded now and Alertmanager should retry).
	Gate func(ctx context.Context) error
	// Parallel is how many records one notification creates at once.
	Parallel int // default 8
	// SeenTTL is how long this replica remembers, without asking the API
	// server, an episode it has recorded. Re-sends within it cost no API call.
	SeenTTL time.Duration // default 1h
	// SeenSize bounds how many episodes are remembered so: beyond it the
	// one seen longest ago is forgotten (its next re-send costs one create
	// answered AlreadyExists, never a second action). About 100 bytes each.
	SeenSize int // default 100,000
	// Windows, when set, is this replica's view of the circuit breaker's
	// published windows (engine/breaker), and BreakerApplies says whether
	// the breaker decides a record's action (controller.BreakerApplies):
	// an episode that started in a window and whose action the breaker
	// decides is counted and not recorded, since the leader would skip it.
	Windows        func() policy.Windows
	BreakerApplies func(*v1alpha1.RemediationSpec) bool
	// Budgets, when set, is this replica's view of the published budget
	// and cooldown windows (engine/breaker), by key, and BudgetKeys names
	// those whose windows decide a record's action (controller.BudgetKeys:
	// its rule's budget, its target's budget, its target's cooldown): an
	// episode that started in one of them is counted and not recorded,
	// since the leader would skip it.
	Budgets    func() map[string]policy.Windows
	BudgetKeys func(*v1alpha1.RemediationSpec) []string
	// Namespaces, when set, are the deployment's --allow-namespaces and
	// --deny-namespaces: an episode whose action (or a step of whose
	// sequence) acts in a namespace they refuse is counted and not
	// recorded, since the leader, deciding by the same lists, would skip it.
	Namespaces *policy.Limits
	Logger     *slog.Logger
	Metrics    *engine.Metrics
	Now        func() time.Time
}

func (o *Options) setDefaults() {
	if o.Busy == nil {
		o.Busy = ErrBusy
	}
	if o.Parallel <= 0 {
		o.Parallel = 8
	}
	if o.SeenTTL <= 0 {
		o.SeenTTL = time.Hour
	}
	if o.SeenSize <= 0 {
		o.SeenSize = DefaultSeenSize
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = engine.NewMetrics(nil)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Ingester turns notifications into Remediation records: one per rule match
// of a firing alert episode, created in the Kubernetes API so that every
// replica, before and after a restart, agrees on what was planned. The
// controller's Runner on the leading replica executes them.
type Ingester struct {
	opts  Options
	rules atomic.Pointer[rules.Set]
	seen  *seenCache // record names this replica saw exist, or left unrecorded in a breaker window

	mu     sync.Mutex
	logged map[string]time.Time // window kind and rule -> the end of the window last logged for it
}

// New returns an Ingester.
func New(opts Options) *Ingester {
	opts.setDefaults()
	in := &Ingester{opts: opts, seen: newSeenCache(opts.SeenTTL, opts.SeenSize)}
	if opts.Rules != nil {
		in.rules.Store(opts.Rules)
	}
	return in
}

// SetRules swaps the rule set used for notifications accepted from now on.
func (in *Ingester) SetRules(s *rules.Set) { in.rules.Store(s) }

// Rules returns the rule set in force, nil before any was loaded.
func (in *Ingester) Rules() *rules.Set { return in.rules.Load() }

// Accept records a Remediation for every rule match of every firing alert of
// msg, and cancels the pending ones of resolved alerts. It returns nil once
// all of it is durably recorded. Otherwise it returns an error wrapping
// Options.Busy, so that the webhook answers 503 and Alertmanager retries the
// whole notification: what was recorded before the error is recognised then
// and not planned twice.
func (in *Ingester) Accept(ctx context.Context, msg *webhook.Message) error {
	set := in.rules.Load()
	if set == nil {
		return fmt.Errorf("%w: no rules loaded", in.opts.Busy)
	}
	now := in.opts.Now()
	var creates, resolves []*v1alpha1.Remediation
	var batch map[string]bool
	for i := range msg.Alerts {
		a := &msg.Alerts[i]
		for _, m := range in.matches(set, a) {
			name := recordName(m.Rule.Name, m.Target, a)
			switch {
			case a.Status != "firing":
				resolves = append(resolves, NewRecord(in.opts.Namespace, name, m, a, in.opts.DryRun, now))
			case batch[name] || in.seenRecently(name, now):
				// A re-send: known without building the record or asking
				// the API server.
				in.opts.Metrics.Decision(engine.DecisionDeduplicated).Inc()
			default:
				if batch == nil {
					batch = map[string]bool{}
				}
				batch[name] = true
				rec := NewRecord(in.opts.Namespace, name, m, a, in.opts.DryRun, now)
				if in.namespaceDenied(rec, now) || in.inBreakerWindow(rec, now) || in.inBudgetWindow(rec, now) {
					continue
				}
				creates = append(creates, rec)
			}
		}
	}
	if len(creates) == 0 && len(resolves) == 0 {
		// Nothing to write (no match, or only re-sends of episodes this
		// replica saw recorded): nothing the API server's state can change.
		return nil
	}
	// Asked only now: a notification that needs no write is answered
	// whether or not the API server can take writes.
	if in.opts.Gate != nil {
		if err := in.opts.Gate(ctx); err != nil {
			in.opts.Metrics.Decision(engine.DecisionNotReady).Inc()
			return fmt.Errorf("%w: %v", in.opts.Busy, err)
		}
	}
	errs := in.parallel(ctx, creates, func(ctx context.Context, rec *v1alpha1.Remediation) error {
		return in.create(ctx, rec, msg.GroupKey, now)
	})
	errs = append(errs, in.parallel(ctx, resolves, func(ctx context.Context, rec *v1alpha1.Remediation) error {
		return in.resolve(ctx, rec, now)
	})...)
	if len(errs) > 0 {
		in.opts.Logger.Warn("notification not fully recorded; refusing it so that Alertmanager retries",
			"group_key", msg.GroupKey, "errors", len(errs), "err", errs[0])
		return fmt.Errorf("%w: %d of %d records could not be written: %v", in.opts.Busy, len(errs), len(creates)+len(resolves), errs[0])
	}
	return nil
}

// matches returns the rule matches of one alert that can be acted on (for a
// resolved alert: those its firing episode had), counting the others.
func (in *Ingester) matches(set *rules.Set, a *template.Alert) []rules.Match {
	log := in.opts.Logger
	alertname := a.Labels["alertname"]
	matches := set.Match(a)
	if len(matches) == 0 {
		if a.Status == "firing" {
			in.opts.Metrics.Decision(engine.DecisionNoMatch).Inc()
		}
		return nil
	}
	ok := matches[:0]
	for _, m := range matches {
		if m.Err != nil {
			if a.Status == "firing" {
				in.opts.Metrics.Decision(engine.DecisionRenderError).Inc()
				log.Warn("rule matched but its target could not be rendered; no action taken",
					"rule", m.Rule.Name, "alertname", alertname, "fingerprint", a.Fingerprint, "err", m.Err)
			}
			continue
		}
		if a.Status == "firing" {
			in.opts.Metrics.Matched(m.Rule.Name).Inc()
		}
		ok = append(ok, m)
	}
	return ok
}

func (in *Ingester) seenRecently(name string, now time.Time) bool { return in.seen.contains(name, now) }

// namespaceDenied reports whether rec acts (or a step of its sequence
// does) in a namespace the deployment's lists refuse: the leader would skip
// it (NamespaceDenied), so it is counted, remembered and not recorded.
func (in *Ingester) namespaceDenied(rec *v1alpha1.Remediation, now time.Time) bool {
	l := in.opts.Namespaces
	if l == nil {
		return false
	}
	ns := rec.Spec.Target.Namespace
	allowed := policy.NamespaceAllowed(ns, l.AllowNamespaces, l.DenyNamespaces)
	for _, st := range rec.Spec.Then {
		if allowed && st.Target != nil {
			ns = st.Target.Namespace
			allowed = policy.NamespaceAllowed(ns, l.AllowNamespaces, l.DenyNamespaces)
		}
	}
	if allowed {
		return false
	}
	in.remember(rec.Name, now)
	in.opts.Metrics.Decision(engine.DecisionNamespaceDenied).Inc()
	in.opts.Logger.Info("alert episode not recorded: its action would act in a namespace alertmedic may not act in (--allow-namespaces / --deny-namespaces)",
		"record", rec.Name, "rule", rec.Spec.Rule, "target", rec.Spec.TargetRef, "namespace", ns, "fingerprint", rec.Spec.Alert.Fingerprint)
	return true
}

// inBreakerWindow reports whether rec's episode started in a published
// circuit breaker window and its action is one the breaker decides: the
// leader would skip it (CircuitOpen), so it is counted, remembered as
// handled, and not recorded. A storm of distinct alerts so writes a bounded
// number of records: those before the window was published.
func (in *Ingester) inBreakerWindow(rec *v1alpha1.Remediation, now time.Time) bool {
	if in.opts.Windows == nil || in.opts.BreakerApplies == nil || !in.opts.BreakerApplies(&rec.Spec) {
		return false
	}
	w, ok := in.opts.Windows().Contains(rec.Spec.Alert.StartsAt.Time)
	if !ok {
		return false
	}
	if in.notRecorded(rec, now, "breaker", w) {
		in.opts.Logger.Warn("circuit breaker open: alert episodes that start in its window are not acted on automatically, and not recorded (counted in alertmedic_engine_decisions_total{decision=\"not_recorded\"})",
			"rule", rec.Spec.Rule, "from", w.From, "until", w.Until, "first_record", rec.Name, "target", rec.Spec.TargetRef)
	}
	return true
}

// inBudgetWindow reports whether rec's episode started in a window
// published for its rule's budget, its target's budget or its target's
// cooldown, and its action runs without a person: the leader would skip
// it (RuleBudget, TargetBudget, Cooldown), so it is counted, remembered
// as handled, and not recorded. A storm of distinct alerts matching a
// rule with a budget, or acting on one workload with a budget or a
// cooldown, so writes a bounded number of records.
func (in *Ingester) inBudgetWindow(rec *v1alpha1.Remediation, now time.Time) bool {
	if in.opts.Budgets == nil || in.opts.BudgetKeys == nil {
		return false
	}
	keys := in.opts.BudgetKeys(&rec.Spec)
	if len(keys) == 0 {
		return false
	}
	budgets := in.opts.Budgets()
	for _, key := range keys {
		w, ok := budgets[key].Contains(rec.Spec.Alert.StartsAt.Time)
		if !ok {
			continue
		}
		if in.notRecorded(rec, now, key, w) {
			what := "rule out of budget"
			if policy.IsTargetKey(key) {
				what = "target out of budget or in its cooldown"
			}
			in.opts.Logger.Warn(what+": alert episodes that start in the window are not acted on automatically, and not recorded (counted in alertmedic_engine_decisions_total{decision=\"not_recorded\"})",
				"rule", rec.Spec.Rule, "budget", key, "from", w.From, "until", w.Until, "first_record", rec.Name, "target", rec.Spec.TargetRef)
		}
		return true
	}
	return false
}

// notRecorded counts and remembers rec as left unrecorded for window w of
// why (the breaker, or a budget), and reports whether it is the first of
// its rule in w (to log once).
func (in *Ingester) notRecorded(rec *v1alpha1.Remediation, now time.Time, why string, w policy.Window) bool {
	in.remember(rec.Name, now)
	in.opts.Metrics.Decision(engine.DecisionNotRecorded).Inc()
	in.mu.Lock()
	defer in.mu.Unlock()
	key := why + " " + rec.Spec.Rule
	if in.logged[key].Equal(w.Until) {
		return false
	}
	if in.logged == nil {
		in.logged = map[string]time.Time{}
	}
	if len(in.logged) >= maxLogged {
		// One per window and rule, and a storm over many workloads has a
		// window each: those that ended are not logged again anyway.
		for k, until := range in.logged {
			if until.Before(now) {
				delete(in.logged, k)
			}
		}
	}
	in.logged[key] = w.Until
	return true
}

// maxLogged is how many windows an Ingester remembers having logged
// before it forgets those that ended.
const maxLogged = 1000

func (in *Ingester) remember(name string, now time.Time) { in.seen.add(name, now) }

// parallel runs fn for each record, Options.Parallel at a time, and returns
// the errors.
func (in *Ingester) parallel(ctx context.Context, recs []*v1alpha1.Remediation, fn func(context.Context, *v1alpha1.Remediation) error) []error {
	switch len(recs) {
	case 0:
		return nil
	case 1:
		if err := fn(ctx, recs[0]); err != nil {
			return []error{err}
		}
		return nil
	}
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, in.opts.Parallel)
	)
	for _, rec := range recs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(ctx, rec); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errs
}

// create writes one record; AlreadyExists means another notification (or
// replica, or this one before a restart) recorded the episode already.
func (in *Ingester) create(ctx context.Context, rec *v1alpha1.Remediation, groupKey string, now time.Time) error {
	err := in.opts.Client.Create(ctx, rec)
	switch {
	case apierrors.IsAlreadyExists(err):
		in.remember(rec.Name, now)
		in.opts.Metrics.Decision(engine.DecisionDeduplicated).Inc()
		in.opts.Logger.Debug("alert episode already recorded; not planning it again",
			"record", rec.Name, "rule", rec.Spec.Rule, "target", rec.Spec.TargetRef, "fingerprint", rec.Spec.Alert.Fingerprint)
		return nil
	case err != nil:
		return fmt.Errorf("create Remediation %s: %w", rec.Name, err)
	}
	in.remember(rec.Name, now)
	in.opts.Metrics.Decision(engine.DecisionRecorded).Inc()
	in.opts.Logger.Info("remediation planned", "record", rec.Name, "rule", rec.Spec.Rule, "action", rec.Spec.Action,
		"target", rec.Spec.TargetRef, "alertname", rec.Spec.Alert.Name, "fingerprint", rec.Spec.Alert.Fingerprint,
		"starts_at", rec.Spec.Alert.StartsAt.Time, "group_key", groupKey, "dry_run", rec.Spec.DryRun)
	return nil
}

// resolve marks the record of a resolved alert episode, and the
// escalations it led to (approval.Resolve).
func (in *Ingester) resolve(ctx context.Context, planned *v1alpha1.Remediation, now time.Time) error {
	in.opts.Metrics.Decision(engine.DecisionResolvedIgnored).Inc()
	cancelled, err := approval.Resolve(ctx, in.opts.Client, kube.ObjectKeyFromObject(planned), now)
	for _, rec := range cancelled {
		in.opts.Metrics.Decision(engine.DecisionCancelled).Inc()
		in.opts.Logger.Info("alert resolved; pending remediation cancelled", "record", rec.Name,
			"rule", rec.Spec.Rule, "target", rec.Spec.TargetRef, "fingerprint", rec.Spec.Alert.Fingerprint)
	}
	return err
}
