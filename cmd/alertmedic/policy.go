package main

import (
	"fmt"
	"strings"

	"github.com/alertmedic/alertmedic/internal/server"
	"github.com/alertmedic/alertmedic/policy"
)

// checkPolicyFlags reports a namespace pattern that cannot match anything
// (the policy would silently ignore it) as a usage error of cmd.
func checkPolicyFlags(cmd string, l policy.Limits) error {
	if err := server.CheckNamespaceFlags(l); err != nil {
		return usagef("%s: %v", cmd, err)
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
