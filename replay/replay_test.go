package replay_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/alertmedic/alertmedic/policy"
	"github.com/alertmedic/alertmedic/replay"
	"github.com/alertmedic/alertmedic/rules"
)

func promAPI(t *testing.T) v1.API {
	t.Helper()
	c, err := promapi.NewClient(promapi.Config{Address: prom.URL})
	if err != nil {
		t.Fatal(err)
	}
	return v1.NewAPI(c)
}

func loadRules(t *testing.T, path string) *rules.Set {
	t.Helper()
	set, err := rules.LoadFiles(path)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// play replays the week against the real Prometheus and returns the output.
func play(t *testing.T, o replay.Options) string {
	t.Helper()
	if o.Rules == nil {
		o.Rules = loadRules(t, "testdata/rules.yaml")
	}
	o.From, o.To, o.Step, o.Timeout = week.from, week.to, time.Minute, 30*time.Second
	if o.PolicyFlags == "" {
		o.PolicyFlags = "(defaults)"
	}
	var out bytes.Buffer
	if err := replay.Play(t.Context(), promAPI(t), o, &out); err != nil {
		t.Fatalf("replay: %v\nprometheus log:\n%s", err, prom.Log())
	}
	return out.String()
}

// result replays the week under limits and decodes the JSON output.
func result(t *testing.T, limits policy.Limits) replay.Result {
	t.Helper()
	var res replay.Result
	out := play(t, replay.Options{Limits: limits, Format: "json"})
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return res
}

type counts struct {
	matched, run, approvals, targetErrors int
	skipped                               map[policy.Reason]int
	targets                               []string
}

func countsOf(r replay.RuleResult) counts {
	return counts{r.Matched, r.Run, r.Approvals, r.TargetErrors, r.Skipped, r.Targets}
}

// The week's episodes, replayed through the rules under the deployment's
// policy, give exactly the decisions the history was written for: the
// cooldown of a rule, its own budget, the budget and breaker of the policy
// flags, namespaces, approvals; episodes split where the alert stopped
// firing and joined across queries.
func TestReplayCounts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limits policy.Limits
		want   map[string]counts
	}{{
		name:   "defaults",
		limits: policy.Limits{},
		want: map[string]counts{
			"restart-crashlooping": {6, 4, 0, 0, map[policy.Reason]int{policy.Cooldown: 1, policy.NamespaceDenied: 1},
				[]string{"Deployment/payments/api", "Deployment/shop/cart"}},
			"scale-on-latency":      {3, 2, 0, 0, map[policy.Reason]int{policy.TargetBudget: 1}, []string{"Deployment/shop/checkout"}},
			"rollback-error-budget": {2, 0, 2, 0, map[policy.Reason]int{}, []string{}},
		},
	}, {
		// One action per rule a day: the crash loops after the first of
		// each day are over budget (the cooldown is checked first); the
		// latency rule's own maxPerWindow replaces the default budget.
		name:   "max-per-rule",
		limits: policy.Limits{PerRule: 1, BudgetWindow: 24 * time.Hour},
		want: map[string]counts{
			"restart-crashlooping": {6, 2, 0, 0, map[policy.Reason]int{policy.Cooldown: 1, policy.RuleBudget: 2, policy.NamespaceDenied: 1},
				[]string{"Deployment/payments/api", "Deployment/shop/cart"}},
			"scale-on-latency":      {3, 2, 0, 0, map[policy.Reason]int{policy.TargetBudget: 1}, []string{"Deployment/shop/checkout"}},
			"rollback-error-budget": {2, 0, 2, 0, map[policy.Reason]int{}, []string{}},
		},
	}, {
		// Two actions within two days open the breaker: the api's second
		// crash loop and the cart's third are held back; coredns (allowed
		// here) runs once the first action is two days old, and the
		// latency rule runs once and is held back twice.
		name:   "breaker",
		limits: policy.Limits{BreakerMax: 2, BreakerWindow: 48 * time.Hour, AllowNamespaces: []string{"shop", "payments", "kube-system"}},
		want: map[string]counts{
			"restart-crashlooping": {6, 3, 0, 0, map[policy.Reason]int{policy.Cooldown: 1, policy.CircuitOpen: 2},
				[]string{"Deployment/kube-system/coredns", "Deployment/payments/api", "Deployment/shop/cart"}},
			"scale-on-latency":      {3, 1, 0, 0, map[policy.Reason]int{policy.CircuitOpen: 2}, []string{"Deployment/shop/checkout"}},
			"rollback-error-budget": {2, 0, 2, 0, map[policy.Reason]int{}, []string{}},
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			res := result(t, tc.limits)
			if res.Episodes != 13 || res.Alerts != 7 || res.FiringAtStart != 1 {
				t.Errorf("episodes %d of %d alerts, %d firing at the start; want 13 of 7, 1", res.Episodes, res.Alerts, res.FiringAtStart)
			}
			got := map[string]counts{}
			for _, r := range res.Rules {
				got[r.Rule] = countsOf(r)
			}
			for rule, want := range tc.want {
				g := got[rule]
				if g.matched != want.matched || g.run != want.run || g.approvals != want.approvals || g.targetErrors != want.targetErrors ||
					!equalSkipped(g.skipped, want.skipped) || strings.Join(g.targets, ",") != strings.Join(want.targets, ",") {
					t.Errorf("%s:\ngot  %+v\nwant %+v", rule, g, want)
				}
			}
			wantUnmatched := []replay.Unmatched{{Alertname: "DiskFull", Episodes: 1}, {Alertname: "Watchdog", Episodes: 1}}
			if !equalUnmatched(res.Unmatched, wantUnmatched) {
				t.Errorf("unmatched %+v, want %+v", res.Unmatched, wantUnmatched)
			}
		})
	}
}

func equalSkipped(a, b map[policy.Reason]int) bool {
	for _, r := range policy.Reasons() {
		if a[r] != b[r] {
			return false
		}
	}
	return true
}

func equalUnmatched(a, b []replay.Unmatched) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The busiest hour of a rule is the clock hour with the most matched
// episodes: the cart's two crash loops at 10:00 on the first day.
func TestReplayBusiestHour(t *testing.T) {
	res := result(t, policy.Limits{})
	for _, r := range res.Rules {
		if r.Rule != "restart-crashlooping" {
			continue
		}
		if h := r.BusiestHour; h == nil || !h.Start.Equal(at(0, "10:00")) || h.Episodes != 2 {
			t.Errorf("busiest hour %+v, want %s with 2 episodes", h, at(0, "10:00"))
		}
	}
}

// Every output format, for one replay and for the diff of a change to the
// rules (a shorter cooldown, a rule added, a rule removed), is the golden
// one: 'go test ./replay -update' rewrites them.
func TestReplayGolden(t *testing.T) {
	old := loadRules(t, "testdata/old-rules.yaml")
	for _, format := range replay.Formats {
		for _, diff := range []bool{false, true} {
			name := "replay." + format
			o := replay.Options{Format: format, PolicyFlags: "--default-cooldown=0s"}
			if diff {
				name, o.Old = "diff."+format, old
			}
			t.Run(name, func(t *testing.T) {
				golden(t, filepath.Join("testdata", name+".golden"), normalize(play(t, o)))
			})
		}
	}
}

var rfc3339 = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`)

// normalize writes every time of out as its offset from base (base+1d10h),
// so that golden files hold whatever day the test runs on.
func normalize(out string) string {
	return rfc3339.ReplaceAllStringFunc(out, func(s string) string {
		ts, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return s
		}
		d := ts.Sub(base)
		if d < 0 {
			return "base-" + model.Duration(-d).String()
		}
		return "base+" + model.Duration(d).String()
	})
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *updateGolden {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./replay -run %s -update to create it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("output differs from %s (rerun with -update if the change is intended)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}
