package main

import (
	"reflect"
	"testing"
	"time"

	"github.com/alertmedic/alertmedic/engine/controller"
	"github.com/alertmedic/alertmedic/policy"
)

// serve, test and replay take the deployment's policy from the same flags,
// so that a test or a replay run with serve's flags decides as the
// deployment does.
func TestPolicyFlags(t *testing.T) {
	flags := []string{"--default-cooldown", "5m", "--max-per-rule", "4", "--max-per-target", "2", "--budget-window", "2h",
		"--breaker-max", "-1", "--breaker-window", "1m", "--allow-namespaces", "shop,prod-*", "--deny-namespaces", "prod-payments"}
	want := policy.Limits{Cooldown: 5 * time.Minute, PerRule: 4, PerTarget: 2, BudgetWindow: 2 * time.Hour,
		BreakerMax: -1, BreakerWindow: time.Minute, AllowNamespaces: []string{"shop", "prod-*"}, DenyNamespaces: []string{"prod-payments"}}

	so := parseServe(t, append([]string{"--rules", "r.yaml"}, flags...)...)
	got := controller.Policy{Limits: want}
	// What rule tests do not model is serve's alone.
	got.BreakerHold, got.ApprovalTimeout, got.MaxAttempts, got.Retention, got.MaxRetention, got.MaxRecords =
		so.Policy.BreakerHold, so.Policy.ApprovalTimeout, so.Policy.MaxAttempts, so.Policy.Retention, so.Policy.MaxRetention, so.Policy.MaxRecords
	got.RequireApproval, got.RequiredApprovalTimeout = so.Policy.RequireApproval, so.Policy.RequiredApprovalTimeout
	got.RetryBackoff, got.ActionTimeout, got.SilenceSweep, got.AlertAbsentFor = so.Policy.RetryBackoff, so.Policy.ActionTimeout, so.Policy.SilenceSweep, so.Policy.AlertAbsentFor
	if !reflect.DeepEqual(so.Policy, got) {
		t.Errorf("serve: policy\ngot  %+v\nwant %+v", so.Policy, got)
	}
	to := parseTest(t, append(flags, "tests/")...)
	if !reflect.DeepEqual(to.limits, want) {
		t.Errorf("test: limits\ngot  %+v\nwant %+v", to.limits, want)
	}
	replayArgs := []string{"--prometheus", "http://prometheus:9090", "--rules", "r.yaml"}
	ro := parseReplay(t, append(replayArgs, flags...)...)
	if !reflect.DeepEqual(ro.limits, want) {
		t.Errorf("replay: limits\ngot  %+v\nwant %+v", ro.limits, want)
	}

	// Unset, both take the same defaults.
	so = parseServe(t, "--rules", "r.yaml")
	to = parseTest(t, "tests/")
	defaults := policy.Limits{BreakerMax: policy.DefaultBreakerMax, BreakerWindow: policy.DefaultBreakerWindow, BudgetWindow: policy.DefaultBudgetWindow}
	if !reflect.DeepEqual(to.limits, defaults) {
		t.Errorf("test: defaults %+v, want %+v", to.limits, defaults)
	}
	if ro := parseReplay(t, replayArgs...); !reflect.DeepEqual(ro.limits, defaults) {
		t.Errorf("replay: defaults %+v, want %+v", ro.limits, defaults)
	}
	if p := so.Policy; !reflect.DeepEqual(p.Limits, defaults) {
		t.Errorf("serve: defaults %+v, want those of %+v", p, defaults)
	}
}

func TestLimitsString(t *testing.T) {
	l := policy.Limits{Cooldown: 90 * time.Minute, PerTarget: 3, BudgetWindow: time.Hour, BreakerMax: 20, BreakerWindow: 10 * time.Minute,
		AllowNamespaces: []string{"shop", "prod-*"}}
	want := "--default-cooldown=1h30m --max-per-rule=0 --max-per-target=3 --budget-window=1h --breaker-max=20 --breaker-window=10m --allow-namespaces=shop,prod-*"
	if got := limitsString(l); got != want {
		t.Errorf("limitsString = %s\nwant            %s", got, want)
	}
	for d, want := range map[time.Duration]string{0: "0s", 90 * time.Second: "1m30s", 2 * time.Hour: "2h", 24 * time.Hour: "24h", time.Hour + time.Second: "1h0m1s"} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %s, want %s", d, got, want)
		}
		if back, err := time.ParseDuration(shortDuration(d)); err != nil || back != d {
			t.Errorf("shortDuration(%v) = %s reads back as %v, %v", d, shortDuration(d), back, err)
		}
	}
}
