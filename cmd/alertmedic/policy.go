package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/alertmedic/alertmedic/policy"
)

// policyFlags defines the flags of the deployment's policy on fs, for
// 'alertmedic serve' (which enforces it) and 'alertmedic test' (which
// tests rules under it), with the same names and defaults.
func policyFlags(fs *flag.FlagSet, l *policy.Limits) {
	fs.DurationVar(&l.Cooldown, "default-cooldown", 0, "cooldown for rules that set none: no second action on a target within it")
	fs.IntVar(&l.BreakerMax, "breaker-max", policy.DefaultBreakerMax, "actions within --breaker-window that open the circuit breaker (-1: no breaker)")
	fs.DurationVar(&l.BreakerWindow, "breaker-window", policy.DefaultBreakerWindow, "the circuit breaker's window")
	fs.IntVar(&l.PerRule, "max-per-rule", 0, "default budget: actions one rule may take within --budget-window (0: no limit)")
	fs.IntVar(&l.PerTarget, "max-per-target", 0, "default budget: actions on one target within --budget-window (0: no limit)")
	fs.DurationVar(&l.BudgetWindow, "budget-window", policy.DefaultBudgetWindow, "window of the default budgets")
	fs.Var((*stringList)(&l.AllowNamespaces), "allow-namespaces", "only act in these namespaces (patterns like prod-*; comma-separated)")
	fs.Var((*stringList)(&l.DenyNamespaces), "deny-namespaces", "never act in these namespaces (kube-system is denied unless allowed by name)")
}

// checkPolicyFlags reports, on stderr, a namespace pattern that cannot
// match anything (the policy would silently ignore it), as a usage error.
func checkPolicyFlags(stderr io.Writer, cmd string, l policy.Limits) error {
	for _, f := range []struct {
		flag     string
		patterns []string
	}{{"--allow-namespaces", l.AllowNamespaces}, {"--deny-namespaces", l.DenyNamespaces}} {
		for _, p := range f.patterns {
			if err := policy.CheckPattern(p); err != nil {
				fmt.Fprintf(stderr, "%s: %s: %v\n", cmd, f.flag, err)
				return errUsage
			}
		}
	}
	return nil
}

// limitsString writes l as the flags that set it.
func limitsString(l policy.Limits) string {
	s := fmt.Sprintf("--default-cooldown=%s --max-per-rule=%d --max-per-target=%d --budget-window=%s --breaker-max=%d --breaker-window=%s",
		shortDuration(l.Cooldown), l.PerRule, l.PerTarget, shortDuration(l.BudgetWindow), l.BreakerMax, shortDuration(l.BreakerWindow))
	if len(l.AllowNamespaces) > 0 {
		s += " --allow-namespaces=" + strings.Join(l.AllowNamespaces, ",")
	}
	if len(l.DenyNamespaces) > 0 {
		s += " --deny-namespaces=" + strings.Join(l.DenyNamespaces, ",")
	}
	return s
}

// shortDuration writes d as a flag takes it, without zero minutes and
// seconds: 1h, 10m, 1h30m, 0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
