package report

import (
	"encoding/json"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
)

// AllRules is the rule name of the row that sums every rule.
const AllRules = "(all rules)"

// Report is the rows of one window: records created in [From, To).
type Report struct {
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	Records int       `json:"records"`
	// Rules has one row per rule, by name, then the AllRules row (when
	// there is more than one rule).
	Rules []Row `json:"rules"`
}

// Row is what became of one rule's records. Each record counts once in
// Matched (a record planned for an alert episode), Escalated (a record
// taking an onFailure step after another failed) or LaterSteps (a record
// taking the next step of a sequence after another succeeded), and once
// in one of the
// outcome counts (Skipped, Cancelled, Denied, Expired, Verified,
// Unverified, Failed, InFlight); Acted and Approved count records at any
// phase.
type Row struct {
	Rule string `json:"rule"`
	// Matched is the alert episodes the rule matched: one record per
	// (rule, target, episode).
	Matched int `json:"matched"`
	// Acted is the records whose action was attempted (status.startedAt).
	Acted int `json:"acted"`
	// Skipped is by reason (Cooldown, RuleBudget, TargetBudget,
	// CircuitOpen, NamespaceDenied, or the executor's, like AtMaximum).
	Skipped   Counts `json:"skipped"`
	Cancelled int    `json:"cancelled"` // the alert resolved while the record waited
	Approved  int    `json:"approved"`  // decided by a person, approving
	Denied    int    `json:"denied"`
	Expired   int    `json:"expired"` // no decision before the approval deadline
	// Verified is Succeeded after every check of spec.verify passed;
	// Unverified is Succeeded with nothing to check (no checks, or a dry run).
	Verified   int    `json:"verified"`
	Unverified int    `json:"unverified"`
	Failed     Counts `json:"failed"`   // by reason
	InFlight   int    `json:"inFlight"` // not finished when the report was made
	// Escalated is the escalations: records made by onFailure when an
	// earlier record of the rule failed. Their outcomes count above, like
	// any record's.
	Escalated int `json:"escalated"`
	// LaterSteps is the records of the second and later steps of
	// sequences, made when the step before succeeded. Their outcomes
	// count above, like any record's.
	LaterSteps int `json:"laterSteps"`
	// AlertToAction is from the alert's startsAt to the action's start,
	// for records planned for the alert (not escalations).
	AlertToAction Durations `json:"alertToAction"`
	// ActionToVerified is from the action's start to the last of its
	// checks passing, for Verified records.
	ActionToVerified Durations `json:"actionToVerified"`
	// ActionToResolved is from the action's start to the alert's resolved
	// notification, for acted records whose alert resolved after the
	// action started.
	ActionToResolved Durations `json:"actionToResolved"`
}

// Counts is a count by reason.
type Counts map[string]int

// Total is the sum of the counts.
func (c Counts) Total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// Durations is the median and 90th percentile of N samples, by nearest
// rank: each is a value that was observed (the smallest sample with at
// least half, or 90%, of the samples at or below it). Zero when N is 0.
// In JSON: {"n": 3, "p50Seconds": 61, "p90Seconds": 240}.
type Durations struct {
	N        int
	P50, P90 time.Duration
}

type durationsJSON struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50Seconds"`
	P90 float64 `json:"p90Seconds"`
}

// MarshalJSON writes the durations in seconds.
func (d Durations) MarshalJSON() ([]byte, error) {
	return json.Marshal(durationsJSON{d.N, d.P50.Seconds(), d.P90.Seconds()})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (d *Durations) UnmarshalJSON(b []byte) error {
	var j durationsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	sec := func(f float64) time.Duration { return time.Duration(math.Round(f * float64(time.Second))) }
	*d = Durations{N: j.N, P50: sec(j.P50), P90: sec(j.P90)}
	return nil
}

// Build is the report of records created in [now-since, now): one row per
// rule, sorted by name, and a row for all rules when there is more than one.
func Build(records []v1alpha1.Remediation, since time.Duration, now time.Time) Report {
	from := now.Add(-since)
	rep := Report{From: from, To: now, Rules: []Row{}}
	type acc struct {
		row                  Row
		toAction, toVerified []time.Duration
		toResolved           []time.Duration
	}
	byRule := map[string]*acc{}
	all := &acc{row: Row{Rule: AllRules, Skipped: Counts{}, Failed: Counts{}}}
	for i := range records {
		rec := &records[i]
		created := rec.CreationTimestamp.Time
		if created.Before(from) || !created.Before(now) {
			continue
		}
		rep.Records++
		a := byRule[rec.Spec.Rule]
		if a == nil {
			a = &acc{row: Row{Rule: rec.Spec.Rule, Skipped: Counts{}, Failed: Counts{}}}
			byRule[rec.Spec.Rule] = a
		}
		for _, a := range []*acc{a, all} {
			s := sample(rec)
			a.row.add(rec)
			if s.toAction != nil {
				a.toAction = append(a.toAction, *s.toAction)
			}
			if s.toVerified != nil {
				a.toVerified = append(a.toVerified, *s.toVerified)
			}
			if s.toResolved != nil {
				a.toResolved = append(a.toResolved, *s.toResolved)
			}
		}
	}
	rules := make([]string, 0, len(byRule))
	for r := range byRule {
		rules = append(rules, r)
	}
	sort.Strings(rules)
	finish := func(a *acc) Row {
		a.row.AlertToAction = percentiles(a.toAction)
		a.row.ActionToVerified = percentiles(a.toVerified)
		a.row.ActionToResolved = percentiles(a.toResolved)
		return a.row
	}
	for _, r := range rules {
		rep.Rules = append(rep.Rules, finish(byRule[r]))
	}
	if len(rules) > 1 {
		rep.Rules = append(rep.Rules, finish(all))
	}
	return rep
}

// samples are the durations one record contributes; nil where it has none.
type samples struct {
	toAction, toVerified, toResolved *time.Duration
}

func sample(rec *v1alpha1.Remediation) samples {
	var s samples
	st := rec.Status
	if st.StartedAt == nil {
		return s
	}
	action := st.StartedAt.Time
	if starts := rec.Spec.Alert.StartsAt.Time; !starts.IsZero() && !action.Before(starts) && rec.Spec.EscalatedFrom == "" && (rec.Spec.Sequence == nil || rec.Spec.Sequence.Step == 1) {
		d := action.Sub(starts)
		s.toAction = &d
	}
	if verified(rec) {
		if at, ok := verifiedAt(st); ok && !at.Before(action) {
			d := at.Sub(action)
			s.toVerified = &d
		}
	}
	if st.AlertResolvedAt != nil && !st.AlertResolvedAt.Time.Before(action) {
		d := st.AlertResolvedAt.Time.Sub(action)
		s.toResolved = &d
	}
	return s
}

// verified: Succeeded after checks (status.verification holds them).
func verified(rec *v1alpha1.Remediation) bool {
	return rec.Status.Phase == v1alpha1.PhaseSucceeded && rec.Status.Verification != nil
}

// verifiedAt is when the last check of a verified record passed, else when
// it finished.
func verifiedAt(st v1alpha1.RemediationStatus) (time.Time, bool) {
	var last time.Time
	for _, c := range []*v1alpha1.CheckStatus{st.Verification.Rollout, st.Verification.AlertResolved} {
		if c != nil && c.PassedAt != nil && c.PassedAt.Time.After(last) {
			last = c.PassedAt.Time
		}
	}
	if last.IsZero() && st.FinishedAt != nil {
		last = st.FinishedAt.Time
	}
	return last, !last.IsZero()
}

func (r *Row) add(rec *v1alpha1.Remediation) {
	st := rec.Status
	switch {
	case rec.Spec.EscalatedFrom != "":
		r.Escalated++
	case rec.Spec.Sequence != nil && rec.Spec.Sequence.Step > 1:
		r.LaterSteps++
	default:
		r.Matched++
	}
	if st.StartedAt != nil {
		r.Acted++
	}
	if st.DecidedAt != nil && st.Phase != v1alpha1.PhaseDenied {
		r.Approved++
	}
	switch st.Phase {
	case v1alpha1.PhaseSkipped:
		r.Skipped[reason(st.Reason)]++
	case v1alpha1.PhaseCancelled:
		r.Cancelled++
	case v1alpha1.PhaseDenied:
		r.Denied++
	case v1alpha1.PhaseExpired:
		r.Expired++
	case v1alpha1.PhaseSucceeded:
		if verified(rec) {
			r.Verified++
		} else {
			r.Unverified++
		}
	case v1alpha1.PhaseFailed:
		r.Failed[reason(st.Reason)]++
	default:
		r.InFlight++
	}
}

func reason(s string) string {
	if s == "" {
		return "Unknown"
	}
	return s
}

// percentiles is the nearest-rank median and 90th percentile of ds.
func percentiles(ds []time.Duration) Durations {
	if len(ds) == 0 {
		return Durations{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return s[max(i, 0)]
	}
	return Durations{N: len(s), P50: rank(0.5), P90: rank(0.9)}
}
