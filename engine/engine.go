package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	amwebhook "github.com/prometheus/alertmanager/notify/webhook"
	"github.com/prometheus/alertmanager/template"

	"github.com/alertmedic/alertmedic/remediations"
	"github.com/alertmedic/alertmedic/rules"
)

// ErrBusy is returned by Accept when the queue cannot take a whole
// notification or the engine is shutting down. It wraps the sentinel the
// webhook answers 503 for, given in Options.Busy.
var ErrBusy = errors.New("engine busy")

// Executor performs one remediation.
type Executor interface {
	Execute(ctx context.Context, req remediations.Request) (remediations.Result, error)
}

// Options configures an Engine. Zero values take the defaults in New.
type Options struct {
	Executor Executor
	Rules    *rules.Set
	// Busy is the error Accept wraps when it refuses work, so the HTTP edge
	// can recognise it (webhook.ErrBusy). Defaults to ErrBusy.
	Busy      error
	Workers   int // default 4
	QueueSize int // jobs waiting to run; default 1000
	DryRun    bool
	// Gate, when set, is asked before accepting a notification; an error
	// refuses it with Busy (e.g. the API server is unreachable, so the work
	// could not be done now and Alertmanager should retry).
	Gate func(ctx context.Context) error
	// DedupTTL is how long an episode (rule, target, fingerprint, startsAt)
	// is remembered so that re-sent notifications do not act twice.
	DedupTTL time.Duration // default 24h
	// Retry of transient API failures (server down, timeouts, 5xx, 429).
	RetryAttempts int           // default 5
	RetryBackoff  time.Duration // first wait, doubled each time; default 1s
	Logger        *slog.Logger
	Metrics       *Metrics
	Now           func() time.Time
}

func (o *Options) setDefaults() {
	if o.Busy == nil {
		o.Busy = ErrBusy
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 1000
	}
	if o.DedupTTL <= 0 {
		o.DedupTTL = 24 * time.Hour
	}
	if o.RetryAttempts <= 0 {
		o.RetryAttempts = 5
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// job is one planned remediation waiting for a worker.
type job struct {
	key      string
	req      remediations.Request
	accepted time.Time
	startsAt time.Time // of the alert episode, for the log
	groupKey string    // of the notification, for the log
}

// Engine matches alerts to rules and runs the resulting remediations.
type Engine struct {
	opts  Options
	rules atomic.Pointer[rules.Set]

	mu       sync.Mutex
	cond     *sync.Cond
	queue    []job
	running  int
	closed   bool
	episodes map[string]time.Time // dedup key -> when first accepted
}

// New returns an Engine; call Run to start its workers.
func New(opts Options) *Engine {
	opts.setDefaults()
	e := &Engine{opts: opts, episodes: make(map[string]time.Time)}
	e.cond = sync.NewCond(&e.mu)
	if opts.Rules != nil {
		e.rules.Store(opts.Rules)
	}
	opts.Metrics.queueCapacity.Set(float64(opts.QueueSize))
	return e
}

// SetRules swaps the rule set used for notifications accepted from now on.
func (e *Engine) SetRules(s *rules.Set) { e.rules.Store(s) }

// Rules returns the rule set in force, nil before any was loaded.
func (e *Engine) Rules() *rules.Set { return e.rules.Load() }

// Accept plans remediations for every firing alert of msg and queues them.
// It takes all of a notification or none: when the queue cannot hold every
// new job it returns an error wrapping Options.Busy and queues nothing, so
// Alertmanager's retry carries the whole notification again.
func (e *Engine) Accept(ctx context.Context, msg *amwebhook.Message) error {
	set := e.rules.Load()
	if set == nil {
		return fmt.Errorf("%w: no rules loaded", e.opts.Busy)
	}
	if e.opts.Gate != nil {
		if err := e.opts.Gate(ctx); err != nil {
			e.opts.Metrics.decisions.WithLabelValues(DecisionNotReady).Inc()
			return fmt.Errorf("%w: %v", e.opts.Busy, err)
		}
	}
	now := e.opts.Now()
	var jobs []job
	for i := range msg.Alerts {
		jobs = e.plan(ctx, set, &msg.Alerts[i], msg.GroupKey, now, jobs)
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return fmt.Errorf("%w: shutting down", e.opts.Busy)
	}
	// Drop jobs already queued or done for this episode; a notification may
	// also carry the same episode twice through two rules with continue.
	fresh := jobs[:0]
	batch := make(map[string]bool, len(jobs))
	for _, j := range jobs {
		if _, seen := e.episodes[j.key]; seen || batch[j.key] {
			e.opts.Metrics.decisions.WithLabelValues(DecisionDeduplicated).Inc()
			e.opts.Logger.Debug("alert episode already handled; not acting again",
				"rule", j.req.Rule, "target", j.req.Target.String(), "fingerprint", j.req.Fingerprint, "starts_at", j.startsAt)
			continue
		}
		batch[j.key] = true
		fresh = append(fresh, j)
	}
	if len(e.queue)+len(fresh) > e.opts.QueueSize {
		e.opts.Metrics.decisions.WithLabelValues(DecisionQueueFull).Add(float64(len(fresh)))
		e.opts.Logger.Warn("queue full, refusing notification for retry",
			"group_key", msg.GroupKey, "jobs", len(fresh), "queued", len(e.queue), "capacity", e.opts.QueueSize)
		return fmt.Errorf("%w: queue full (%d queued, capacity %d)", e.opts.Busy, len(e.queue), e.opts.QueueSize)
	}
	e.forgetExpired(now)
	for _, j := range fresh {
		e.episodes[j.key] = now
		e.queue = append(e.queue, j)
		e.opts.Metrics.decisions.WithLabelValues(DecisionQueued).Inc()
		e.opts.Logger.Info("remediation planned", "rule", j.req.Rule, "action", string(j.req.Action),
			"target", j.req.Target.String(), "alertname", j.req.AlertName, "fingerprint", j.req.Fingerprint,
			"starts_at", j.startsAt, "group_key", j.groupKey, "dry_run", j.req.DryRun)
	}
	e.opts.Metrics.queueDepth.Set(float64(len(e.queue)))
	e.cond.Broadcast()
	return nil
}

// plan appends the jobs one alert asks for.
func (e *Engine) plan(ctx context.Context, set *rules.Set, a *template.Alert, groupKey string, now time.Time, jobs []job) []job {
	log := e.opts.Logger
	alertname := a.Labels["alertname"]
	if a.Status != "firing" {
		e.opts.Metrics.decisions.WithLabelValues(DecisionResolvedIgnored).Inc()
		log.Debug("resolved alert ignored", "alertname", alertname, "fingerprint", a.Fingerprint)
		return jobs
	}
	matches := set.Match(a)
	if len(matches) == 0 {
		e.opts.Metrics.decisions.WithLabelValues(DecisionNoMatch).Inc()
		return jobs
	}
	for _, m := range matches {
		e.opts.Metrics.matched.WithLabelValues(m.Rule.Name).Inc()
		if m.Err != nil {
			e.opts.Metrics.decisions.WithLabelValues(DecisionRenderError).Inc()
			log.Warn("rule matched but its target could not be rendered; no action taken",
				"rule", m.Rule.Name, "alertname", alertname, "fingerprint", a.Fingerprint, "err", m.Err)
			continue
		}
		if m.Rule.Approval.Required {
			// Approval flows need chatops; without it a risky action never runs.
			e.opts.Metrics.decisions.WithLabelValues(DecisionApprovalUnavailable).Inc()
			log.Warn("rule requires approval and no approval channel is configured; no action taken",
				"rule", m.Rule.Name, "target", m.Target.String(), "alertname", alertname, "fingerprint", a.Fingerprint)
			continue
		}
		req := Request(m, a, e.opts.DryRun)
		jobs = append(jobs, job{key: EpisodeKey(m.Rule.Name, m.Target, a), req: req, accepted: now, startsAt: a.StartsAt, groupKey: groupKey})
	}
	return jobs
}

// EpisodeKey identifies one firing episode of one alert acted on by one rule
// on one target.
func EpisodeKey(rule string, t rules.Target, a *template.Alert) string {
	return rule + "|" + t.String() + "|" + a.Fingerprint + "|" + a.StartsAt.UTC().Format(time.RFC3339Nano)
}

// Request turns a rule match into a remediation request.
func Request(m rules.Match, a *template.Alert, dryRun bool) remediations.Request {
	r := m.Rule
	req := remediations.Request{
		Action:      remediations.Action(r.Action),
		Target:      remediations.Target{Kind: m.Target.Kind, Namespace: m.Target.Namespace, Name: m.Target.Name},
		Rule:        r.Name,
		AlertName:   a.Labels["alertname"],
		Fingerprint: a.Fingerprint,
		DryRun:      dryRun,
	}
	switch r.Action {
	case rules.ActionScale:
		req.Scale = remediations.ScaleSpec{
			Op: remediations.ScaleOp(r.Scale.Op), N: r.Scale.N, Factor: r.Scale.Factor,
			Min: r.Scale.Min, Max: r.Scale.Max,
		}
	case rules.ActionRollback:
		req.Rollback = remediations.RollbackSpec{ToRevision: r.Rollback.ToRevision}
	}
	return req
}

func (e *Engine) forgetExpired(now time.Time) {
	// Amortised: sweep only when the map has grown past a bound.
	if len(e.episodes) < 4096 {
		return
	}
	for k, t := range e.episodes {
		if now.Sub(t) > e.opts.DedupTTL {
			delete(e.episodes, k)
		}
	}
}

// Run starts the workers and blocks until they have stopped: after Shutdown,
// or once ctx is done and the queue is drained. No new work is accepted after
// either.
func (e *Engine) Run(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() {
		// Cancelled without Shutdown: refuse new work, let workers drain.
		e.mu.Lock()
		e.closed = true
		e.cond.Broadcast()
		e.mu.Unlock()
	})
	defer stop()
	var wg sync.WaitGroup
	for range e.opts.Workers {
		wg.Go(func() { e.work(ctx) })
	}
	wg.Wait()
}

// Shutdown stops accepting work and waits until the queue is drained and no
// job is running, or ctx ends. Jobs not started by then are abandoned and
// logged: nothing was done for them, and Alertmanager re-sends their alerts
// on its repeat_interval.
func (e *Engine) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	e.closed = true
	e.cond.Broadcast()
	e.mu.Unlock()

	done := make(chan struct{})
	go func() {
		e.mu.Lock()
		for len(e.queue) > 0 || e.running > 0 {
			e.cond.Wait()
		}
		e.mu.Unlock()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		e.mu.Lock()
		abandoned := e.queue
		e.queue = nil
		e.opts.Metrics.queueDepth.Set(0)
		e.cond.Broadcast()
		e.mu.Unlock()
		for _, j := range abandoned {
			e.opts.Logger.Warn("shutdown deadline reached; remediation abandoned before it started",
				"rule", j.req.Rule, "target", j.req.Target.String(), "fingerprint", j.req.Fingerprint)
		}
		return fmt.Errorf("shutdown: %d queued remediations abandoned: %w", len(abandoned), ctx.Err())
	}
}

// Idle reports whether nothing is queued or running.
func (e *Engine) Idle() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.queue) == 0 && e.running == 0
}

func (e *Engine) next() (job, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for len(e.queue) == 0 {
		if e.closed {
			return job{}, false
		}
		e.cond.Wait()
	}
	j := e.queue[0]
	e.queue[0] = job{}
	e.queue = e.queue[1:]
	e.running++
	e.opts.Metrics.queueDepth.Set(float64(len(e.queue)))
	return j, true
}

func (e *Engine) done() {
	e.mu.Lock()
	e.running--
	e.cond.Broadcast()
	e.mu.Unlock()
}

// work runs jobs until the engine is closed and the queue is empty. The
// execution context is detached from ctx's cancellation so that a job that
// has started finishes its API calls during a graceful shutdown.
func (e *Engine) work(ctx context.Context) {
	execCtx := context.WithoutCancel(ctx)
	for {
		j, ok := e.next()
		if !ok {
			return
		}
		e.execute(execCtx, j)
		e.done()
	}
}

func (e *Engine) execute(ctx context.Context, j job) {
	log := e.opts.Logger.With("rule", j.req.Rule, "action", string(j.req.Action),
		"target", j.req.Target.String(), "fingerprint", j.req.Fingerprint)
	backoff := e.opts.RetryBackoff
	var (
		res remediations.Result
		err error
	)
	for attempt := 1; ; attempt++ {
		res, err = e.opts.Executor.Execute(ctx, j.req)
		if err == nil || !remediations.IsTransient(err) || attempt >= e.opts.RetryAttempts {
			break
		}
		log.Warn("remediation failed transiently, retrying", "attempt", attempt, "in", backoff, "err", err)
		e.opts.Metrics.retries.Inc()
		t := time.NewTimer(backoff)
		<-t.C
		backoff *= 2
	}
	e.opts.Metrics.latency.WithLabelValues(string(j.req.Action), string(res.Outcome)).Observe(e.opts.Now().Sub(j.accepted).Seconds())
	if err != nil {
		if remediations.IsTransient(err) {
			// Nothing was done: forget the episode so that Alertmanager's
			// next re-send of the alert (repeat_interval) tries again.
			e.mu.Lock()
			delete(e.episodes, j.key)
			e.mu.Unlock()
			log.Error("remediation failed after retries; will try again when Alertmanager re-sends the alert",
				"reason", res.Reason, "err", err)
			return
		}
		log.Error("remediation failed", "reason", res.Reason, "err", err)
		return
	}
	log.Info("remediation finished", "outcome", string(res.Outcome), "reason", res.Reason,
		"before", res.Before, "after", res.After, "dry_run", res.DryRun, "message", res.Message)
}
