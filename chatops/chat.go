package chatops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/kube"
)

// Options configures a Chat.
type Options struct {
	// API is Slack's Web API, with the bot token. Required.
	API API
	// Records reads and decides the Remediation records (uncached reads:
	// a click must see the record as it is). Required.
	Records kube.Client
	// Namespace holds the records. Required.
	Namespace string
	// DefaultChannel gets the approval messages of rules that name no
	// channel, and of actions the circuit breaker holds for approval.
	DefaultChannel string
	// DefaultApprovers may decide on records whose rule names none.
	DefaultApprovers Approvers
	// RuleApprovers says who may decide the actions of the named rule in
	// the rules loaded now: the approvers it names (none: DefaultApprovers
	// decide), and false when no rule of that name is loaded (then nobody
	// may decide from Slack). A click is checked against it, so a rule
	// change applies to requests already waiting. Nil: no rule set is
	// known, and the approvers copied into the record decide.
	RuleApprovers func(rule string) (Approvers, bool)
	// SigningSecret verifies the requests Slack sends to the interactions
	// endpoint. Required for ServeHTTP; Socket Mode does not use it.
	SigningSecret string
	// GroupTTL is how long a user group's members are cached; default 1m.
	GroupTTL time.Duration
	// AckWithin is how long a click waits for its decision to be recorded
	// before Slack gets its answer (Slack wants one within 3s); the work
	// goes on after the answer if it takes longer. Default 2s.
	AckWithin time.Duration
	Retry     Retry
	Logger    *slog.Logger
	Metrics   *Metrics
	Now       func() time.Time
}

// Chat mirrors the Remediation records that wait for approval to Slack
// messages with Approve and Deny buttons, and decides the records when the
// buttons are clicked. The records are the state: any replica can handle a
// click, and a message posted before a restart keeps working after it.
type Chat struct {
	api     API
	records kube.Client
	opts    Options
	retry   Retry
	logger  *slog.Logger
	metrics *Metrics

	mu     sync.Mutex
	groups map[string]*group // user group id -> members

	sent    sync.Map // record namespace/name -> sentMessage: what this replica wrote to Slack
	retryAt sync.Map // record namespace/name -> time.Time: no Slack call for it before then

	inflight sync.WaitGroup // interactions still being handled
}

// sentMessage is what this replica last wrote to Slack for a record, kept
// so that a record whose status has not caught up yet is not posted twice.
type sentMessage struct {
	uid                 types.UID
	channel, ts, digest string
	phase               v1alpha1.Phase // of the record as last written (unknown after a restart)
	at                  time.Time      // when it was written
}

// forget drops what is remembered of a deleted record.
func (c *Chat) forget(key string) {
	c.sent.Delete(key)
	c.retryAt.Delete(key)
}

// group is a user group's members as last read from Slack.
type group struct {
	ready   chan struct{} // closed once the read finished
	members []string
	err     error
	at      time.Time
}

// New returns a Chat.
func New(opts Options) (*Chat, error) {
	if opts.API == nil || opts.Records == nil || opts.Namespace == "" {
		return nil, errors.New("chatops: API, Records and Namespace are required")
	}
	if opts.GroupTTL <= 0 {
		opts.GroupTTL = time.Minute
	}
	if opts.AckWithin <= 0 {
		opts.AckWithin = 2 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.Retry.setDefaults()
	return &Chat{api: opts.API, records: opts.Records, opts: opts, retry: opts.Retry,
		logger: opts.Logger, metrics: opts.Metrics, groups: map[string]*group{}}, nil
}

// Wait blocks until the clicks being handled are done, or ctx ends.
func (c *Chat) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { c.inflight.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// allowed reports whether Slack user may decide for approvers: named, or a
// member of one of the groups.
func (c *Chat) allowed(ctx context.Context, user string, a Approvers) (bool, error) {
	if slices.Contains(a.Users, user) {
		return true, nil
	}
	for _, g := range a.Groups {
		members, err := c.members(ctx, g)
		if err != nil {
			return false, err
		}
		if slices.Contains(members, user) {
			return true, nil
		}
	}
	return false, nil
}

// members returns a user group's members, from the cache while it is fresh.
// Concurrent lookups of one group share one API call.
func (c *Chat) members(ctx context.Context, id string) ([]string, error) {
	c.mu.Lock()
	g := c.groups[id]
	fresh := false
	if g != nil {
		select {
		case <-g.ready:
			fresh = g.err == nil && c.opts.Now().Sub(g.at) < c.opts.GroupTTL
		default:
			fresh = true // being read: wait for it
		}
	}
	if fresh {
		c.mu.Unlock()
		select {
		case <-g.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		c.metrics.groupLookups.WithLabelValues("cache").Inc()
		return g.members, g.err
	}
	g = &group{ready: make(chan struct{})}
	c.groups[id] = g
	c.mu.Unlock()

	c.metrics.groupLookups.WithLabelValues("api").Inc()
	err := c.call(ctx, "usergroups.users.list", func(ctx context.Context) error {
		m, err := c.api.GetUserGroupMembersContext(ctx, id)
		g.members = m
		return err
	})
	if err != nil {
		g.members, g.err = nil, fmt.Errorf("read the members of Slack user group %s: %w", id, err)
	}
	g.at = c.opts.Now()
	close(g.ready)
	return g.members, g.err
}
