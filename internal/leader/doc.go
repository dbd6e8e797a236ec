// Package leader is alertmedic's leader election on the coordination/v1
// Lease that client-go's LeaseLock writes (same name, same fields), so that
// replicas running either elector can follow each other. A standby watches
// the Lease instead of polling it and takes it over, with an update
// conditional on the resourceVersion it saw, a Lease duration (on its own
// clock) after it saw the last change; the leader renews every retry period
// and stops leading when no renewal has succeeded for the renew deadline,
// counted from when the last good one was sent. Manager gates a
// kube.Manager's leader-only runnables behind an Elector.
package leader
