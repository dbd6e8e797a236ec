package chatops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/slack-go/slack"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/engine/approval"
	"github.com/alertmedic/alertmedic/internal/kube"
)

// MaxInteractionBytes caps an interaction request's body. Slack's
// block_actions payloads carry the message clicked, a few kilobytes.
const MaxInteractionBytes = 1 << 20

// recordName is the shape of the names ingest gives records (ingest.RecordName).
var recordName = regexp.MustCompile(`^rem-[0-9a-f]{20}$`)

// ServeHTTP handles POST /slack/interactions, Slack's request URL for
// interactivity. The request must carry Slack's signature of its raw body,
// made with the app's signing secret within the last five minutes;
// anything else is refused with 401 and never acted on. A valid click is
// decided before the answer when that takes under AckWithin, and after it
// otherwise: Slack wants its answer within three seconds.
func (c *Chat) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "use POST", http.StatusMethodNotAllowed)
		return
	}
	if c.opts.SigningSecret == "" {
		http.Error(w, "interactions are not configured (no signing secret)", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxInteractionBytes+1))
	if err != nil {
		http.Error(w, "could not read the request", http.StatusBadRequest)
		return
	}
	if len(body) > MaxInteractionBytes {
		c.refuse(w, r, http.StatusRequestEntityTooLarge, "malformed", "request body too large")
		return
	}
	sv, err := slack.NewSecretsVerifier(r.Header, c.opts.SigningSecret)
	if errors.Is(err, slack.ErrExpiredTimestamp) {
		c.refuse(w, r, http.StatusUnauthorized, "stale_timestamp", "request timestamp is more than 5 minutes off")
		return
	}
	if err != nil {
		c.refuse(w, r, http.StatusUnauthorized, "bad_signature", "missing or malformed Slack signature headers")
		return
	}
	_, _ = sv.Write(body)
	if sv.Ensure() != nil {
		c.refuse(w, r, http.StatusUnauthorized, "bad_signature", "invalid Slack signature")
		return
	}
	cb, err := ParseInteraction(body)
	if err != nil {
		c.refuse(w, r, http.StatusBadRequest, "malformed", err.Error())
		return
	}
	c.handleWithin(r.Context(), cb)
	w.WriteHeader(http.StatusOK)
}

// ParseInteraction decodes the body of a (verified) interaction request: a
// form whose payload field is the interaction as JSON.
func ParseInteraction(body []byte) (slack.InteractionCallback, error) {
	var cb slack.InteractionCallback
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("payload") == "" {
		return cb, errors.New("no payload form field")
	}
	if err := json.Unmarshal([]byte(form.Get("payload")), &cb); err != nil {
		return cb, errors.New("payload is not an interaction")
	}
	return cb, nil
}

// refuse answers a request that is not acted on. What is logged names the
// reason and the sender's address, never the body, headers or secret.
func (c *Chat) refuse(w http.ResponseWriter, r *http.Request, code int, result, why string) {
	c.metrics.interactions.WithLabelValues(result).Inc()
	c.logger.Warn("slack request refused", "reason", why, "remote", r.RemoteAddr)
	http.Error(w, why, code)
}

// handleWithin handles cb, returning once it is done or AckWithin has
// passed, whichever is first; in the latter case the work goes on.
func (c *Chat) handleWithin(ctx context.Context, cb slack.InteractionCallback) {
	done := make(chan struct{})
	c.inflight.Add(1)
	go func() {
		defer c.inflight.Done()
		defer close(done)
		// Not the request's context: the decision must not be abandoned
		// because Slack got its answer.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		c.Handle(ctx, cb)
	}()
	t := time.NewTimer(c.opts.AckWithin)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// Handle acts on one interaction, whichever way it came (HTTP or Socket
// Mode): an Approve or Deny click decides the record named by the button,
// if the user may; everyone else is told why nothing happened, in a message
// only they see.
func (c *Chat) Handle(ctx context.Context, cb slack.InteractionCallback) {
	if cb.Type != slack.InteractionTypeBlockActions {
		c.metrics.interactions.WithLabelValues("ignored").Inc()
		return
	}
	for _, a := range cb.ActionCallback.BlockActions {
		switch a.ActionID {
		case ActionApprove:
			c.decide(ctx, cb, a.Value, true)
		case ActionDeny:
			c.decide(ctx, cb, a.Value, false)
		default:
			c.metrics.interactions.WithLabelValues("ignored").Inc()
		}
	}
}

func (c *Chat) decide(ctx context.Context, cb slack.InteractionCallback, name string, approve bool) {
	user := cb.User.ID
	log := c.logger.With("record", name, "user", user, "approve", approve)
	if !recordName.MatchString(name) {
		c.metrics.interactions.WithLabelValues("malformed").Inc()
		log.Warn("slack click names no alertmedic record")
		return
	}
	key := kube.ObjectKey{Namespace: c.opts.Namespace, Name: name}
	var rec v1alpha1.Remediation
	if err := c.records.Get(ctx, key, &rec); err != nil {
		if apierrors.IsNotFound(err) {
			c.metrics.interactions.WithLabelValues("not_found").Inc()
			c.tell(ctx, cb, fmt.Sprintf("Remediation `%s` no longer exists (finished records are deleted after their retention). Nothing was changed.", name))
			return
		}
		c.metrics.interactions.WithLabelValues("error").Inc()
		log.Error("could not read the record of a slack click", "err", err)
		c.tell(ctx, cb, "Could not read this remediation from Kubernetes, so your click was not recorded. Nothing was changed; please try again.")
		return
	}
	approvers, loaded := c.approvers(&rec)
	if !loaded {
		c.metrics.interactions.WithLabelValues("unauthorized").Inc()
		log.Warn("slack click on a remediation whose rule is no longer loaded", "rule", rec.Spec.Rule)
		c.tell(ctx, cb, "Rule `"+rec.Spec.Rule+"`, which asked for this approval, is no longer in the loaded rules, so nobody may approve or deny it from Slack. Nothing was changed. It expires unless decided with `alertmedic approve "+name+"` (or `deny`) from a terminal.")
		return
	}
	ok, err := c.allowed(ctx, user, approvers)
	if err != nil {
		c.metrics.interactions.WithLabelValues("error").Inc()
		log.Error("could not check a slack user's approver groups", "err", err)
		c.tell(ctx, cb, "Could not check whether you may decide this (Slack's user group lookup failed). Nothing was changed; please try again.")
		return
	}
	if !ok {
		c.metrics.interactions.WithLabelValues("unauthorized").Inc()
		log.Warn("slack user may not decide this remediation")
		who := "nobody in Slack: use `alertmedic approve " + name + "` from a terminal"
		if !approvers.Empty() {
			who = approvers.mention()
		}
		c.tell(ctx, cb, "You are not allowed to approve or deny this remediation under the rules in force now; it may be decided by "+who+". Nothing was changed.")
		return
	}
	by := "slack:" + user
	if cb.User.Name != "" {
		by += " (" + cb.User.Name + ")"
	}
	_, err = approval.Decide(ctx, c.records, key, approve, by, c.opts.Now())
	var de *approval.DecidedError
	switch {
	case errors.As(err, &de):
		c.metrics.interactions.WithLabelValues("already_decided").Inc()
		log.Info("slack click on a remediation already decided", "phase", string(de.Phase))
		c.tell(ctx, cb, alreadyDecided(de))
	case err != nil:
		c.metrics.interactions.WithLabelValues("error").Inc()
		log.Error("could not record a slack decision", "err", err)
		c.tell(ctx, cb, "Could not record your decision in Kubernetes. Nothing was changed; please try again.")
	case approve:
		c.metrics.interactions.WithLabelValues("approved").Inc()
		log.Info("remediation approved in slack", "target", rec.Spec.TargetRef)
	default:
		c.metrics.interactions.WithLabelValues("denied").Inc()
		log.Info("remediation denied in slack", "target", rec.Spec.TargetRef)
	}
}

// approvers returns who may decide rec at this moment: the approvers its
// rule names in the rules loaded now, or the default approvers when that
// rule names none. The approvers copied into the record when it was made
// decide only when no rule set is known (Options.RuleApprovers is nil).
// loaded is false when the record's rule is no longer loaded: nobody may
// decide it from Slack.
func (c *Chat) approvers(rec *v1alpha1.Remediation) (a Approvers, loaded bool) {
	if c.opts.RuleApprovers == nil {
		return approversOf(rec, c.opts.DefaultApprovers), true
	}
	a, loaded = c.opts.RuleApprovers(rec.Spec.Rule)
	if !loaded {
		return Approvers{}, false
	}
	if a.Empty() {
		return c.opts.DefaultApprovers, true
	}
	return a, true
}

// alreadyDecided tells a late clicker who decided and when.
func alreadyDecided(de *approval.DecidedError) string {
	switch {
	case de.DecidedBy != "" && de.DecidedAt != nil:
		v := "approved"
		if de.Phase == v1alpha1.PhaseDenied {
			v = "denied"
		}
		return fmt.Sprintf("Already %s by %s %s. Your click changed nothing.", v, who(de.DecidedBy), date(de.DecidedAt.Time))
	case de.Phase == v1alpha1.PhaseExpired && de.ExpiredAt != nil:
		return fmt.Sprintf("This request expired %s, unapproved. Your click changed nothing.", date(de.ExpiredAt.Time))
	case de.Phase == v1alpha1.PhaseExpired:
		return "This request expired, unapproved. Your click changed nothing."
	case de.Phase == v1alpha1.PhaseCancelled:
		return "This request was cancelled (" + de.Reason + ": the alert resolved before anyone decided). Your click changed nothing."
	}
	return fmt.Sprintf("This remediation is not waiting for approval: it is %s (%s). Your click changed nothing.", de.Phase, de.Reason)
}

// tell posts a message only the clicking user sees, in the channel of the
// click.
func (c *Chat) tell(ctx context.Context, cb slack.InteractionCallback, text string) {
	channel := cb.Channel.ID
	if channel == "" {
		channel = cb.Container.ChannelID
	}
	if channel == "" || cb.User.ID == "" {
		return
	}
	err := c.call(ctx, "chat.postEphemeral", func(ctx context.Context) error {
		_, err := c.api.PostEphemeralContext(ctx, channel, cb.User.ID, slack.MsgOptionText(text, false))
		return err
	})
	if err != nil {
		c.logger.Warn("could not tell a slack user why their click changed nothing", "user", cb.User.ID, "err", err)
	}
}
