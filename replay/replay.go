package replay

import (
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"

	"github.com/alertmedic/alertmedic/policy"
	"github.com/alertmedic/alertmedic/rules"
	"github.com/alertmedic/alertmedic/rules/ruletest"
)

// Input is what a replay plays: the episodes read from Prometheus and how
// they were read.
type Input struct {
	From, To time.Time
	// Step is the query's resolution; Gap the longest pause between samples
	// within one episode.
	Step, Gap time.Duration
	// Retention is how long the Prometheus read keeps ALERTS, as it reports
	// it (--storage.tsdb.retention.time); "" when it did not say.
	Retention string
	// PolicyFlags are the flags that set the policy limits, for people.
	PolicyFlags string
	Episodes    []Episode
}

// Result is what the rules and policy would have done with the episodes.
type Result struct {
	From     time.Time      `json:"from"`
	To       time.Time      `json:"to"`
	Step     model.Duration `json:"step"`
	Gap      model.Duration `json:"gap"`
	Policy   string         `json:"policy"` // the flags that set the limits
	Episodes int            `json:"episodes"`
	Alerts   int            `json:"alerts"` // distinct fingerprints
	// FiringAtStart counts the episodes that fired at the start of the
	// range: they are played as starting there.
	FiringAtStart int          `json:"firingAtStart"`
	Retention     string       `json:"retention,omitempty"`
	Rules         []RuleResult `json:"rules"`
	Unmatched     []Unmatched  `json:"unmatched"`
	// Limits are what the replay cannot tell, for people reading it.
	Limits []string `json:"limits"`
}

// RuleResult is what one rule would have done.
type RuleResult struct {
	Rule   string `json:"rule"`
	Action string `json:"action"`
	// Matched counts the episodes the rule matched; each is one record.
	Matched int `json:"matched"`
	// Run counts the actions that would have run (taken to succeed).
	Run int `json:"run"`
	// Skipped counts the actions policy would have refused, by reason.
	Skipped map[policy.Reason]int `json:"skipped"`
	// Approvals counts the actions that would have waited for a person.
	Approvals int `json:"approvals"`
	// TargetErrors counts the matches whose target did not render.
	TargetErrors int `json:"targetErrors"`
	// Targets are the workloads acted on, sorted.
	Targets []string `json:"targets"`
	// BusiestHour is the clock hour with the most matched episodes (the
	// earliest of equals); nil when the rule matched none.
	BusiestHour *Hour `json:"busiestHour,omitempty"`
}

// Hour is one clock hour (UTC) and the episodes that started in it.
type Hour struct {
	Start    time.Time `json:"start"`
	Episodes int       `json:"episodes"`
}

// Unmatched counts the episodes of one alertname that no rule matched.
type Unmatched struct {
	Alertname string `json:"alertname"`
	Episodes  int    `json:"episodes"`
}

// SkippedTotal is the number of actions policy would have refused.
func (r *RuleResult) SkippedTotal() int {
	n := 0
	for _, c := range r.Skipped {
		n += c
	}
	return n
}

// Run plays the episodes, in order of their start, through set and the
// policy limits as alertmedic serve would have received them: each episode
// as one firing alert (its labels, no annotations, startsAt its first
// firing sample), decided when it started (ruletest.Player).
func Run(set *rules.Set, limits policy.Limits, in Input) *Result {
	player := ruletest.NewPlayer(set, limits)
	res := &Result{From: in.From.UTC(), To: in.To.UTC(), Step: model.Duration(in.Step), Gap: model.Duration(max(in.Gap, in.Step)),
		Policy: in.PolicyFlags, Episodes: len(in.Episodes), Retention: in.Retention}
	byRule := map[string]*RuleResult{}
	for _, r := range set.Rules() {
		res.Rules = append(res.Rules, RuleResult{Rule: r.Name, Action: string(r.Action), Skipped: map[policy.Reason]int{}, Targets: []string{}})
	}
	for i := range res.Rules {
		byRule[res.Rules[i].Rule] = &res.Rules[i]
	}
	targets := map[string]map[string]bool{}
	hours := map[string]map[time.Time]int{}
	unmatched := map[string]int{}
	alerts := map[string]bool{}
	for _, ep := range in.Episodes {
		alerts[ep.Fingerprint] = true
		if ep.FiringAtStart {
			res.FiringAtStart++
		}
		a := &template.Alert{Status: "firing", Labels: template.KV(ep.Labels), Annotations: template.KV{},
			StartsAt: ep.Start, Fingerprint: ep.Fingerprint}
		outcomes := player.Play(a, ep.Start)
		if len(outcomes) == 0 {
			unmatched[ep.Labels["alertname"]]++
			continue
		}
		for _, o := range outcomes {
			rr := byRule[o.Match.Rule.Name]
			rr.Matched++
			if hours[rr.Rule] == nil {
				hours[rr.Rule] = map[time.Time]int{}
			}
			hours[rr.Rule][ep.Start.Truncate(time.Hour)]++
			switch o.Decision {
			case "":
				rr.TargetErrors++
			case ruletest.DecisionRun:
				rr.Run++
				if targets[rr.Rule] == nil {
					targets[rr.Rule] = map[string]bool{}
				}
				targets[rr.Rule][o.Match.Target.String()] = true
			case ruletest.DecisionPendingApproval:
				rr.Approvals++
			case ruletest.DecisionDuplicate:
				// One alert per episode: a re-send is not played.
			default:
				rr.Skipped[policy.Reason(o.Decision)]++
			}
		}
	}
	res.Alerts = len(alerts)
	for i := range res.Rules {
		rr := &res.Rules[i]
		rr.Targets = slices.Sorted(maps.Keys(targets[rr.Rule]))
		if rr.Targets == nil {
			rr.Targets = []string{}
		}
		rr.BusiestHour = busiest(hours[rr.Rule])
	}
	for name, n := range unmatched {
		res.Unmatched = append(res.Unmatched, Unmatched{Alertname: name, Episodes: n})
	}
	sort.Slice(res.Unmatched, func(i, j int) bool {
		a, b := res.Unmatched[i], res.Unmatched[j]
		if a.Episodes != b.Episodes {
			return a.Episodes > b.Episodes
		}
		return a.Alertname < b.Alertname
	})
	if res.Unmatched == nil {
		res.Unmatched = []Unmatched{}
	}
	res.Limits = limitsOf(res)
	return res
}

// busiest is the hour with the most episodes, the earliest of equals.
func busiest(hours map[time.Time]int) *Hour {
	var h *Hour
	for start, n := range hours {
		if h == nil || n > h.Episodes || n == h.Episodes && start.Before(h.Start) {
			h = &Hour{Start: start.UTC(), Episodes: n}
		}
	}
	return h
}
