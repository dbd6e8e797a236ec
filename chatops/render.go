package chatops

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
)

// The ids of the Approve and Deny buttons; their value is the record's name.
const (
	ActionApprove = "alertmedic.approve"
	ActionDeny    = "alertmedic.deny"
	blockDecision = "alertmedic.decision"
)

// Approvers are the Slack users and user groups whose members may decide.
type Approvers struct {
	Users  []string // U… or W… ids
	Groups []string // S… ids
}

// Empty reports whether nobody may decide from Slack.
func (a Approvers) Empty() bool { return len(a.Users) == 0 && len(a.Groups) == 0 }

// mention is how Slack shows the approvers: <@U…>, <!subteam^S…>.
func (a Approvers) mention() string {
	parts := make([]string, 0, len(a.Users)+len(a.Groups))
	for _, u := range a.Users {
		parts = append(parts, "<@"+u+">")
	}
	for _, g := range a.Groups {
		parts = append(parts, "<!subteam^"+g+">")
	}
	return strings.Join(parts, ", ")
}

// approversOf returns who may decide on rec: its rule's approvers, or the
// defaults when the rule names none (an action the circuit breaker holds).
func approversOf(rec *v1alpha1.Remediation, defaults Approvers) Approvers {
	if a := rec.Spec.Approval; a != nil && (len(a.Users) > 0 || len(a.Groups) > 0) {
		return Approvers{Users: a.Users, Groups: a.Groups}
	}
	return defaults
}

// Message is a rendered approval message.
type Message struct {
	Text   string // the notification and fallback text
	Blocks []slack.Block
}

// Digest identifies the message's content: equal digests, same message.
func (m Message) Digest() string {
	b, _ := json.Marshal(struct {
		Text   string
		Blocks []slack.Block
	}{m.Text, m.Blocks})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// Slack's limits on a message: the text of one block, a header's text, a
// field of a section, and the blocks of one message.
const (
	maxBlockText  = 3000
	maxHeaderText = 150
	maxFieldText  = 2000
	maxBlocks     = 50
)

// Render is the Slack message for rec in its current phase. It is a pure
// function of the record (and the default approvers), so every replica
// renders the same message, and the message is updated exactly when the
// record changes in a way that shows. Every text is kept within Slack's
// limits, cut with an ellipsis.
func Render(rec *v1alpha1.Remediation, defaults Approvers) Message {
	s, st := rec.Spec, rec.Status
	what := fmt.Sprintf("%s %s", describeAction(s), s.TargetRef)
	if q := s.Sequence; q != nil {
		what += fmt.Sprintf(" (sequence step %d of %d)", q.Step, q.Of)
	}
	icon, title := headline(rec)
	text := truncate(fmt.Sprintf("%s: %s (rule %s, alert %s)", title, what, s.Rule, s.Alert.Name), maxBlockText)

	blocks := []slack.Block{
		slack.NewHeaderBlock(plain(truncate(icon+" "+title+": "+what, maxHeaderText))),
	}
	alert := "`" + esc(s.Alert.Name) + "`"
	if s.Alert.Summary != "" {
		alert += " " + esc(truncate(s.Alert.Summary, 300))
	}
	blocks = append(blocks, slack.NewSectionBlock(nil, []*slack.TextBlockObject{
		mrkdwn(truncate("*Alert*\n"+alert, maxFieldText)),
		mrkdwn(truncate("*Rule*\n`"+esc(s.Rule)+"`", maxFieldText)),
		mrkdwn(truncate("*Target*\n`"+esc(s.TargetRef)+"`", maxFieldText)),
		mrkdwn(truncate("*Action*\n"+esc(describeAction(s)), maxFieldText)),
	}, nil))
	section := func(t string) {
		if t != "" {
			blocks = append(blocks, slack.NewSectionBlock(mrkdwn(truncate(t, maxBlockText)), nil, nil))
		}
	}
	if s.Alert.Description != "" {
		section("*Description* " + esc(truncate(s.Alert.Description, 1000)))
	}
	if s.EscalatedFrom != "" {
		section(":arrow_heading_up: *Escalation* of `" + esc(s.EscalatedFrom) + "`, which failed: this is the next step of its rule's `onFailure`.")
	}
	section(sequence(rec))
	section(preview(st.Plan))
	if l := labels(s.Alert.Labels); l != "" {
		section("*Labels* " + l)
	}
	section(outcome(rec))
	section(change(st))
	for _, d := range diagnosis(st.Verification, st.Phase.Final()) {
		section(d)
	}

	approvers := approversOf(rec, defaults)
	var ctx []string
	if st.Phase == v1alpha1.PhasePendingApproval {
		if approvers.Empty() {
			ctx = append(ctx, "No Slack approvers are configured for this: approve from a terminal with `alertmedic approve "+rec.Name+"`")
		} else {
			ctx = append(ctx, "May approve: "+approvers.mention()+" (or `alertmedic approve "+rec.Name+"`)")
		}
		if st.ApprovalExpiresAt != nil {
			ctx = append(ctx, "Expires "+date(st.ApprovalExpiresAt.Time))
		}
	}
	if s.DryRun {
		ctx = append(ctx, "Dry run: the API server checked the change, nothing was changed")
	}
	if s.Notify == v1alpha1.NotifyFailures {
		ctx = append(ctx, "This rule posts only its failures (`notify: failures`)")
	}
	if s.Alert.GeneratorURL != "" {
		ctx = append(ctx, "<"+esc(s.Alert.GeneratorURL)+"|Alert source>")
	}
	if s.Alert.RunbookURL != "" {
		ctx = append(ctx, "<"+esc(s.Alert.RunbookURL)+"|Runbook>")
	}
	ctx = append(ctx, "Record `"+rec.Name+"`")
	blocks = append(blocks, slack.NewContextBlock("", mrkdwn(truncate(strings.Join(ctx, " · "), maxBlockText))))

	if st.Phase == v1alpha1.PhasePendingApproval {
		approve := slack.NewButtonBlockElement(ActionApprove, rec.Name, plain("Approve")).WithStyle(slack.StylePrimary).
			WithConfirm(slack.NewConfirmationBlockObject(plain("Approve this action?"),
				mrkdwn(esc(truncate(describeAction(s)+" "+s.TargetRef, 250))+" runs as soon as you confirm."),
				plain("Approve"), plain("Cancel")))
		deny := slack.NewButtonBlockElement(ActionDeny, rec.Name, plain("Deny")).WithStyle(slack.StyleDanger)
		blocks = append(blocks, slack.NewActionBlock(blockDecision, approve, deny))
	}
	if len(blocks) > maxBlocks { // not reached today: a guard for sections added later
		blocks = append(blocks[:maxBlocks-1], blocks[len(blocks)-1])
	}
	return Message{Text: text, Blocks: blocks}
}

// change is the target's state before and after the action, once it ran;
// a succeeded record says it in its outcome.
func change(st v1alpha1.RemediationStatus) string {
	r := st.Result
	if r == nil || r.Before == "" && r.After == "" || st.Phase == v1alpha1.PhaseSucceeded {
		return ""
	}
	return fmt.Sprintf("*Change* `%s` → `%s`", esc(truncate(r.Before, 600)), esc(truncate(r.After, 600)))
}

// diagnosis is what the checks of a verification saw: the rollout (which
// pods are not ready, and why), the alert, and the last Warning Events of
// the target and its pods.
func diagnosis(v *v1alpha1.Verification, ended bool) []string {
	if v == nil {
		return nil
	}
	var out []string
	if c := v.Rollout; c != nil && c.Observed != "" {
		state := "*Rollout* (checking until " + date(c.Deadline.Time) + "): "
		switch {
		case c.PassedAt != nil:
			state = "*Rollout* finished: "
		case ended:
			state = "*Rollout* not finished, last seen: "
		}
		out = append(out, state+esc(truncate(c.Observed, 1500)))
	}
	if c := v.AlertResolved; c != nil && c.Observed != "" {
		out = append(out, "*Alert* "+esc(truncate(c.Observed, 500)))
	}
	if c := v.Rollout; c != nil && len(c.Warnings) > 0 {
		lines := make([]string, 0, len(c.Warnings))
		for _, w := range c.Warnings {
			lines = append(lines, "• "+esc(truncate(w, 500)))
		}
		out = append(out, "*Warning events*, newest first\n"+strings.Join(lines, "\n"))
	}
	return out
}

func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, true, false)
}
func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}

// esc escapes the characters Slack's mrkdwn gives meaning to.
func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// date renders t in each reader's time zone, with UTC as the fallback.
func date(t time.Time) string {
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", t.Unix(), t.UTC().Format("2006-01-02 15:04 UTC"))
}

// who renders DecidedBy: a Slack user as a mention, anyone else as written.
func who(s string) string {
	if id, ok := strings.CutPrefix(s, "slack:"); ok {
		id, _, _ = strings.Cut(id, " ")
		return "<@" + id + ">"
	}
	return "`" + esc(s) + "`"
}

func headline(rec *v1alpha1.Remediation) (icon, title string) {
	st := rec.Status
	switch st.Phase {
	case v1alpha1.PhasePendingApproval:
		return ":warning:", "Approval needed"
	case v1alpha1.PhaseApproved:
		return ":hourglass_flowing_sand:", "Approved"
	case v1alpha1.PhasePending:
		if approvedBy(st) {
			return ":hourglass_flowing_sand:", "Approved"
		}
		return ":clipboard:", "Planned"
	case v1alpha1.PhaseRunning:
		return ":gear:", "Running"
	case v1alpha1.PhaseVerifying:
		return ":mag:", "Verifying"
	case v1alpha1.PhaseSucceeded:
		if v := st.Verification; v != nil && st.Reason != "DryRun" {
			return ":white_check_mark:", "Verified"
		}
		return ":white_check_mark:", "Done"
	case v1alpha1.PhaseFailed:
		if e := st.Escalation; e != nil && e.Record != "" {
			return ":arrow_heading_up:", "Failed, escalated"
		}
		return ":x:", "Failed"
	case v1alpha1.PhaseDenied:
		return ":no_entry_sign:", "Denied"
	case v1alpha1.PhaseExpired:
		return ":alarm_clock:", "Expired"
	case v1alpha1.PhaseCancelled:
		return ":leftwards_arrow_with_hook:", "Cancelled"
	case v1alpha1.PhaseSkipped:
		return ":fast_forward:", "Skipped"
	}
	return ":grey_question:", string(st.Phase)
}

// approvedBy reports whether a person approved the record.
func approvedBy(st v1alpha1.RemediationStatus) bool {
	return st.DecidedBy != "" && st.DecidedAt != nil
}

// describeAction says what the action does, with its parameters.
func describeAction(s v1alpha1.RemediationSpec) string {
	var d string
	switch s.Action {
	case v1alpha1.ActionRestart:
		d = "rollout restart"
	case v1alpha1.ActionScale:
		if s.Scale == nil {
			d = "scale"
			break
		}
		switch s.Scale.Op {
		case v1alpha1.ScaleTo:
			d = fmt.Sprintf("scale to %d", s.Scale.N)
		case v1alpha1.ScaleBy:
			d = fmt.Sprintf("scale by %+d", s.Scale.N)
		case v1alpha1.ScaleMultiply:
			d = "scale ×" + string(s.Scale.Factor)
		}
		var bounds []string
		if s.Scale.Min > 0 {
			bounds = append(bounds, fmt.Sprintf("min %d", s.Scale.Min))
		}
		if s.Scale.Max > 0 {
			bounds = append(bounds, fmt.Sprintf("max %d", s.Scale.Max))
		}
		if len(bounds) > 0 {
			d += " (" + strings.Join(bounds, ", ") + ")"
		}
	case v1alpha1.ActionRollback:
		d = "roll back to the previous revision"
		if s.Rollback != nil && s.Rollback.ToRevision > 0 {
			d = fmt.Sprintf("roll back to revision %d", s.Rollback.ToRevision)
		}
	case v1alpha1.ActionEvictPod:
		d = "evict"
		if s.Evict != nil && s.Evict.MinAvailable > 0 {
			d = fmt.Sprintf("evict (keeping %d other ready pods)", s.Evict.MinAvailable)
		}
	case v1alpha1.ActionRunJob:
		d = "run a Job from"
	default:
		d = string(s.Action)
	}
	if s.DryRun {
		d += " (dry run)"
	}
	return d
}

// preview is the plan as the approver reads it.
func preview(p *v1alpha1.Plan) string {
	switch {
	case p == nil:
		return ""
	case p.Error != "":
		return "*Preview* not available: " + esc(truncate(p.Error, 500))
	case p.Outcome != "" && p.Outcome != "Succeeded":
		return fmt.Sprintf("*Preview* (dry run, %s): would be %s (%s): %s", date(p.PlannedAt.Time),
			strings.ToLower(p.Outcome), esc(p.Reason), esc(truncate(p.Message, 500)))
	}
	return fmt.Sprintf("*Preview* (dry run, %s): `%s` → `%s`", date(p.PlannedAt.Time), esc(p.Before), esc(p.After))
}

// labels lists the alert's labels other than alertname, sorted, at most 12.
func labels(l map[string]string) string {
	keys := slices.Sorted(maps.Keys(l))
	keys = slices.DeleteFunc(keys, func(k string) bool { return k == "alertname" })
	var parts []string
	for i, k := range keys {
		if i == 12 {
			parts = append(parts, fmt.Sprintf("and %d more", len(keys)-i))
			break
		}
		parts = append(parts, "`"+esc(k)+"="+esc(truncate(l[k], 80))+"`")
	}
	return strings.Join(parts, " ")
}

// approvedLead opens the outcome of an approved record with who approved.
func approvedLead(decided string) string {
	if decided == "" {
		return ""
	}
	return "*Approved*" + decided + ". "
}

// sequence shows where rec stands in its rule's sequence: at the first
// step, the whole plan (what an approval approves); at a later one, the
// step before and the steps left; and, once the step succeeded, what
// became of the next.
func sequence(rec *v1alpha1.Remediation) string {
	s, q := rec.Spec, rec.Spec.Sequence
	if q == nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, ":arrow_forward: *Sequence*, step %d of %d", q.Step, q.Of)
	if q.Previous != "" {
		fmt.Fprintf(&b, ", after `%s`, which succeeded", esc(q.Previous))
	}
	b.WriteString(". Each step runs once the one before it succeeded; the sequence stops at the first that does not.")
	if q.Step == 1 && s.Approval != nil {
		b.WriteString(" *Approving approves every step.*")
	}
	fmt.Fprintf(&b, "\n%d. %s: `%s` (this record)", q.Step, esc(describeAction(s)), esc(s.TargetRef))
	for i, st := range s.Then {
		t := s.Target
		if st.Target != nil {
			t = *st.Target
		}
		step := v1alpha1.RemediationSpec{Action: st.Action, Scale: st.Scale, Rollback: st.Rollback, Evict: st.Evict}
		fmt.Fprintf(&b, "\n%d. %s: `%s`", int(q.Step)+i+1, esc(describeAction(step)), esc(t.String()))
	}
	switch n := rec.Status.Next; {
	case n == nil:
	case n.Record != "":
		b.WriteString("\n:arrow_forward: *Next step* recorded as `" + esc(n.Record) + "`: its own message follows.")
	case n.Message != "":
		b.WriteString("\n*Sequence stopped*: " + esc(truncate(n.Message, 500)))
	}
	return b.String()
}

// escalation is what became of a failed record's onFailure.
func escalation(e *v1alpha1.EscalationStatus) string {
	switch {
	case e == nil:
		return ""
	case e.Record != "":
		return "\n:arrow_heading_up: *Escalated* to `" + esc(e.Record) + "`: its own message follows."
	case e.Message != "":
		return "\n*Not escalated*: " + esc(truncate(e.Message, 500))
	}
	return ""
}

// outcome is the line saying where the record stands and who did what.
func outcome(rec *v1alpha1.Remediation) string {
	st := rec.Status
	decided := ""
	if st.DecidedBy != "" && st.DecidedAt != nil {
		decided = " by " + who(st.DecidedBy) + " " + date(st.DecidedAt.Time)
	}
	msg := esc(truncate(st.Message, 1500))
	switch st.Phase {
	case v1alpha1.PhasePendingApproval:
		switch st.Reason {
		case "CircuitOpen":
			return "*Waiting for approval*: held back by the circuit breaker (too many actions recently); a person may let it run."
		case "PolicyRequiresApproval":
			return "*Waiting for approval*: alertmedic's policy requires a person's approval for this (`--require-approval`); nothing happens until someone approves."
		}
		return "*Waiting for approval*: nothing happens until someone approves."
	case v1alpha1.PhaseApproved, v1alpha1.PhasePending:
		if decided == "" {
			s := "*Planned*: the rule acts without approval; about to run."
			if st.Reason == "Retrying" {
				s = "*Planned*, trying again: " + msg
			}
			return s
		}
		return "*Approved*" + decided + "; about to run."
	case v1alpha1.PhaseRunning:
		if decided == "" {
			return "*Running* now."
		}
		return "*Approved*" + decided + "; running now."
	case v1alpha1.PhaseVerifying:
		return approvedLead(decided) + "*Done*, verifying that it worked: " + msg
	case v1alpha1.PhaseSucceeded:
		s := approvedLead(decided) + "*Succeeded*"
		if r := st.Result; r != nil && r.Before != "" {
			s += fmt.Sprintf(": `%s` → `%s`", esc(r.Before), esc(r.After))
		}
		if msg != "" {
			s += "\n" + msg
		}
		return s
	case v1alpha1.PhaseFailed:
		return approvedLead(decided) + "*Failed* (" + esc(st.Reason) + "): " + msg + escalation(st.Escalation)
	case v1alpha1.PhaseDenied:
		return "*Denied*" + decided + ". Nothing was done."
	case v1alpha1.PhaseExpired:
		return "*Expired*: nobody approved it in time. Nothing was done."
	case v1alpha1.PhaseCancelled:
		if st.Reason == "AlertResolved" {
			return "*Cancelled*: the alert resolved before anyone approved. Nothing was done."
		}
		return "*Cancelled* (" + esc(st.Reason) + "): " + msg
	case v1alpha1.PhaseSkipped:
		s := "*Skipped* (" + esc(st.Reason) + ")"
		if decided != "" {
			s = "*Approved*" + decided + ", then *skipped* (" + esc(st.Reason) + ")"
		}
		if st.Reason == "TargetChanged" {
			return s + ": the target changed after the plan was made, so the approved plan was not applied. Nothing was done.\n" + msg
		}
		return s + ": " + msg
	}
	return "*" + string(st.Phase) + "* " + msg
}
