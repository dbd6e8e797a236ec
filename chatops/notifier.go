package chatops

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/retry"

	"github.com/slack-go/slack"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/kube"
)

// Register adds the Slack mirror to mgr. Like the runner it works only on
// the replica that leads, so that one replica posts each message.
func (c *Chat) Register(mgr kube.Manager) error {
	return kube.AddController(mgr, &notifier{chat: c, client: mgr.GetClient(), reader: mgr.GetAPIReader()},
		kube.ControllerOptions{Name: "slack", Workers: 4, Logger: c.logger})
}

// notifier posts one message for each record its rule's spec.notify asks
// for (every record waiting for approval, whatever it says), and updates
// the message whenever the record renders differently: decided, running,
// verifying, its outcome, its escalation. The buttons go once the record is
// decided. It runs apart from the runner, which never waits for Slack.
type notifier struct {
	chat   *Chat
	client kube.Client // cached reads, API writes
	// reader reads a record the cache holds trimmed (TrimmedInCache) in
	// full, to render its message.
	reader kube.Reader
}

// errNoChannel is recorded when a record has nowhere to be posted.
var errNoChannel = errors.New("no Slack channel: set approval.channel in the rule or --slack-channel")

func (n *notifier) Reconcile(ctx context.Context, req kube.Request) (kube.Result, error) {
	c := n.chat
	var rec v1alpha1.Remediation
	if err := n.client.Get(ctx, req.NamespacedName, &rec); err != nil {
		if apierrors.IsNotFound(err) {
			c.forget(req.String())
		}
		return kube.Result{}, kube.IgnoreNotFound(err)
	}
	if st := rec.Status.Slack; st != nil && st.Final && rec.Settled() {
		// Its message shows it settled, and nothing left to do with it
		// changes that: the cache holds it trimmed, and it is not rendered.
		return kube.Result{}, nil
	}
	key := req.String()
	if v, ok := c.retryAt.Load(key); ok {
		if wait := v.(time.Time).Sub(c.opts.Now()); wait > 0 {
			return kube.Result{RequeueAfter: wait}, nil // backing off after a failure
		}
	}
	st := rec.Status.Slack
	sent := c.lastSent(&rec)
	if sent.ts == "" && !postable(&rec, c.opts.Now()) {
		return kube.Result{}, nil // not (yet) a record to tell the channel about
	}
	if rec.TrimmedInCache() {
		// Settled and never posted: the cache holds it without the alert's
		// labels and texts the message shows. Rare: a record that ended
		// within postedFinishedWithin unposted, or posted by this replica
		// but not yet noted as posted.
		if err := n.reader.Get(ctx, req.NamespacedName, &rec); err != nil {
			return kube.Result{}, kube.IgnoreNotFound(err)
		}
		st, sent = rec.Status.Slack, c.lastSent(&rec)
		if sent.ts == "" && !postable(&rec, c.opts.Now()) {
			return kube.Result{}, nil
		}
	}
	msg := Render(&rec, c.opts.DefaultApprovers)
	digest := msg.Digest()
	if sent.ts != "" && sent.digest == digest {
		if st == nil || st.Digest != digest || st.TS != sent.ts {
			return kube.Result{}, n.save(ctx, &rec, sent, rec.Settled(), nil) // Slack is up to date; the record was not
		}
		return kube.Result{}, nil
	}
	opts := []slack.MsgOption{slack.MsgOptionText(msg.Text, false), slack.MsgOptionBlocks(msg.Blocks...)}
	if sent.ts == "" {
		channel := c.opts.DefaultChannel
		if a := rec.Spec.Approval; a != nil && a.Channel != "" {
			channel = a.Channel
		}
		if channel == "" && rec.Status.Phase != v1alpha1.PhasePendingApproval {
			c.logger.Debug("no Slack channel for a record that needs no approval; not posted", "record", rec.Name)
			return kube.Result{}, nil
		}
		if channel == "" {
			if st == nil || st.Error != errNoChannel.Error() {
				c.metrics.failures.WithLabelValues("post").Inc()
				c.logger.Error("approval request not posted to Slack", "record", rec.Name, "err", errNoChannel)
				return kube.Result{}, n.save(ctx, &rec, sent, false, errNoChannel)
			}
			return kube.Result{}, nil
		}
		err := c.call(ctx, "chat.postMessage", func(ctx context.Context) error {
			ch, ts, err := c.api.PostMessageContext(ctx, channel, opts...)
			sent = sentMessage{uid: rec.UID, channel: ch, ts: ts, digest: digest, phase: rec.Status.Phase, at: c.opts.Now()}
			return err
		})
		if err != nil {
			return n.failed(ctx, &rec, "post", err)
		}
		c.sent.Store(key, sent)
		c.retryAt.Delete(key)
		c.logger.Info("message posted to Slack", "record", rec.Name, "phase", string(rec.Status.Phase), "channel", sent.channel, "ts", sent.ts)
		return kube.Result{}, n.save(ctx, &rec, sent, rec.Settled(), nil)
	}
	if p := rec.Status.Phase; p == v1alpha1.PhaseVerifying && sent.phase == p {
		// What the checks see changes at every look (restart counts, Event
		// counts): one update per verifyingUpdateEvery while it verifies.
		if wait := sent.at.Add(verifyingUpdateEvery).Sub(c.opts.Now()); wait > 0 {
			return kube.Result{RequeueAfter: wait}, nil
		}
	}
	err := c.call(ctx, "chat.update", func(ctx context.Context) error {
		_, _, _, err := c.api.UpdateMessageContext(ctx, sent.channel, sent.ts, opts...)
		return err
	})
	if err != nil {
		return n.failed(ctx, &rec, "update", err)
	}
	sent.digest, sent.phase, sent.at = digest, rec.Status.Phase, c.opts.Now()
	c.sent.Store(key, sent)
	c.retryAt.Delete(key)
	c.logger.Debug("message updated in Slack", "record", rec.Name, "phase", string(rec.Status.Phase))
	return kube.Result{}, n.save(ctx, &rec, sent, rec.Settled(), nil)
}

// verifyingUpdateEvery is how often at most a message is updated while its
// record stays Verifying; a change of phase is shown at once.
const verifyingUpdateEvery = 30 * time.Second

// postedFinishedWithin bounds how long after a record ended its first
// message is still posted (v1alpha1.NotifyWindow).
const postedFinishedWithin = v1alpha1.NotifyWindow

// postable reports whether rec, never posted yet, gets a message now:
//   - waiting for approval: always, whatever spec.notify says;
//   - notify none: never otherwise; notify failures: once it is Failed;
//   - notify all: once it is decided (Pending, Running...), except a record
//     Skipped before it ran (cooldown, budgets, a denied namespace, the
//     circuit breaker): it did nothing, the alert is in the channel already,
//     and a storm of them would bury the messages that matter; the
//     metrics, alertmedic report and kubectl get remediations count them.
//
// A record that ended more than postedFinishedWithin ago is not posted.
func postable(rec *v1alpha1.Remediation, now time.Time) bool {
	st := rec.Status
	if st.Phase == v1alpha1.PhasePendingApproval {
		return true
	}
	if st.Phase.Final() {
		ended := rec.CreationTimestamp.Time
		if st.FinishedAt != nil {
			ended = st.FinishedAt.Time
		}
		if now.Sub(ended) > postedFinishedWithin {
			return false
		}
	}
	switch rec.Spec.Notify {
	case v1alpha1.NotifyNone:
		return false
	case v1alpha1.NotifyFailures:
		return st.Phase == v1alpha1.PhaseFailed
	}
	switch st.Phase {
	case v1alpha1.PhaseNew:
		return false
	case v1alpha1.PhaseSkipped:
		return st.StartedAt != nil || st.DecidedBy != ""
	}
	return true
}

// failed records a Slack call that failed after its retries and tries
// again later, backing off per record up to five minutes.
func (n *notifier) failed(ctx context.Context, rec *v1alpha1.Remediation, op string, err error) (kube.Result, error) {
	c := n.chat
	c.metrics.failures.WithLabelValues(op).Inc()
	failures := int32(1)
	if st := rec.Status.Slack; st != nil {
		failures = st.Failures + 1
	}
	hint := ""
	var se slack.SlackErrorResponse
	if errors.As(err, &se) && se.Err == "not_in_channel" {
		hint = " (invite the app to the channel: /invite @alertmedic)"
	}
	wait := min(5*time.Second<<min(failures-1, 6), 5*time.Minute)
	c.retryAt.Store(kube.ObjectKeyFromObject(rec).String(), c.opts.Now().Add(wait))
	c.logger.Error("slack message failed; will try again", "op", op, "record", rec.Name, "in", wait, "failures", failures, "err", err)
	serr := n.save(ctx, rec, c.lastSent(rec), false, fmt.Errorf("%s: %w%s", op, err, hint))
	if serr != nil {
		c.logger.Warn("could not record the Slack failure on the record", "record", rec.Name, "err", serr)
	}
	return kube.Result{RequeueAfter: wait}, nil
}

// lastSent is what was last written to Slack for rec: as this replica
// remembers it, ahead of the record's status, or else as the status says.
func (c *Chat) lastSent(rec *v1alpha1.Remediation) sentMessage {
	if v, ok := c.sent.Load(kube.ObjectKeyFromObject(rec).String()); ok && v.(sentMessage).uid == rec.UID {
		return v.(sentMessage)
	}
	if st := rec.Status.Slack; st != nil {
		return sentMessage{uid: rec.UID, channel: st.Channel, ts: st.TS, digest: st.Digest}
	}
	return sentMessage{}
}

// save writes status.slack with a merge patch of that field alone, so it
// never overwrites what the runner writes at the same time. The write is
// retried for a while: a message posted but not recorded would be posted
// again by the next leader. final says that Slack shows rec as it renders
// now, and that rec is settled: it is never rendered differently again
// (SlackMessage.Final).
func (n *notifier) save(ctx context.Context, rec *v1alpha1.Remediation, sent sentMessage, final bool, failure error) error {
	orig := rec.DeepCopy()
	st := &v1alpha1.SlackMessage{Channel: sent.channel, TS: sent.ts, Digest: sent.digest, Final: final && failure == nil}
	if old := orig.Status.Slack; old != nil {
		st.Failures = old.Failures
	}
	if failure != nil {
		st.Error = failure.Error()
		st.Failures++
	}
	rec.Status.Slack = st
	patch := kube.MergeFrom(orig)
	backoff := retry.DefaultBackoff
	backoff.Steps = 8
	return retry.OnError(backoff, func(err error) bool { return !apierrors.IsNotFound(err) && ctx.Err() == nil }, func() error {
		return n.client.Status().Patch(ctx, rec, patch)
	})
}
