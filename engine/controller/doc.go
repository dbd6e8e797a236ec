// Package controller executes Remediation records on the replica that holds
// the leader Lease. Its decisions are pure functions of the record, the clock
// and the policy (decision.go); the Runner reads, asks them, and writes:
// reconcile.go runs an action once, guarded by the record's resourceVersion;
// policy.go asks the cooldowns, budgets, breaker and --require-approval;
// takeover.go settles a record a stopped leader left Running; approval.go
// holds an action for a person with a dry-run plan; retention.go deletes
// finished records; request.go maps a record to the executor's request.
package controller
