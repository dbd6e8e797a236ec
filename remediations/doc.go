// Package remediations performs the actions alertmedic takes on Kubernetes
// workloads — rollout restart, scale and roll back — with kubectl's semantics,
// one small type per workload kind as kubectl's polymorphichelpers has. Every
// action (dry-run included) is recorded as an Event on its target. It knows
// nothing of rules files, HTTP or Slack.
package remediations
