package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
)

// alertResolvedRulesYAML restarts a Deployment and waits for its alert to
// resolve; the rollout is not checked (this cluster runs no controllers).
const alertResolvedRulesYAML = `rules:
  - name: restart-until-resolved
    match: ['alertname="QueueStuck"']
    target: {kind: Deployment, namespace: '{{ .Labels.namespace }}', name: '{{ .Labels.deployment }}'}
    action: restart
    verify: {rollout: false, alertResolved: {within: 5m}}
`

// A rule's verify.alertResolved passes on Alertmanager's word when no
// resolved notification comes (a receiver with send_resolved: false): once
// the alert resolved in a real Alertmanager, its v2 API stops listing it,
// and after --alertmanager-absent-for the record is Succeeded, Verified,
// saying so. While the alert fires, the record stays Verifying.
func TestAlertResolvedSeenInAlertmanager(t *testing.T) {
	const (
		recNS = "alertmedic-resolved"
		appNS = "queues"
	)
	createNamespace(t, recNS)
	createNamespace(t, appNS)
	createDeployment(t, appNS, "worker")
	// No resolved notifications: Alertmanager's API is the only way to
	// learn that the alert resolved.
	noResolved := func(c string) string { return strings.Replace(c, "send_resolved: true", "send_resolved: false", 1) }
	p := startPair(t, recNS, alertResolvedRulesYAML, noResolved, "--alertmanager-absent-for", "3s")
	medic, am, amURL, procs := p.medic, p.am, p.amURL, p.procs()

	labels := map[string]string{"alertname": "QueueStuck", "namespace": appNS, "deployment": "worker"}
	starts := time.Now().Add(-time.Minute).UTC()
	postAlerts(t, amURL, postableAlert{Labels: labels, StartsAt: starts, EndsAt: time.Now().Add(30 * time.Minute)})
	var rec v1alpha1.Remediation
	waitFor(t, "the record Verifying, Alertmanager listing the alert", 30*time.Second, procs, func() (bool, string) {
		recs := recordsIn(t, recNS, "QueueStuck")
		if len(recs) != 1 {
			return false, describe(recs)
		}
		rec = recs[0]
		c := rec.Status.Verification
		return rec.Status.Phase == v1alpha1.PhaseVerifying && c != nil && c.AlertResolved != nil &&
			strings.Contains(c.AlertResolved.Observed, "Alertmanager lists it"), fmt.Sprintf("%s %+v", describe(recs), c)
	})
	// Still firing a while later: still Verifying.
	time.Sleep(4 * time.Second) // longer than --alertmanager-absent-for: a check that ignored "firing" would pass by now
	if got := recordsIn(t, recNS, "QueueStuck"); len(got) != 1 || got[0].Status.Phase != v1alpha1.PhaseVerifying {
		t.Fatalf("while the alert fires: %s, want Verifying", describe(got))
	}

	// The alert resolves, as Prometheus tells Alertmanager: endsAt now.
	resolvedAt := time.Now().UTC()
	postAlerts(t, amURL, postableAlert{Labels: labels, StartsAt: starts, EndsAt: resolvedAt})
	waitFor(t, "the record Succeeded on Alertmanager's word", 30*time.Second, procs, func() (bool, string) {
		recs := recordsIn(t, recNS, "QueueStuck")
		return len(recs) == 1 && recs[0].Status.Phase == v1alpha1.PhaseSucceeded, describe(recs)
	})
	got := recordsIn(t, recNS, "QueueStuck")[0]
	c := got.Status.Verification.AlertResolved
	if got.Status.Reason != "Verified" || c.PassedAt == nil || c.PassedAt.Time.Before(resolvedAt.Add(-time.Second)) ||
		!strings.Contains(c.Observed, "Alertmanager has not listed it since") || got.Status.AlertResolvedAt != nil {
		t.Errorf("record = %s %s %q, check %+v, resolved notification %v: want Verified on Alertmanager's word, no notification",
			got.Status.Phase, got.Status.Reason, got.Status.Message, c, got.Status.AlertResolvedAt)
	}
	if err := medic.terminate(30 * time.Second); err != nil {
		t.Errorf("alertmedic on SIGTERM: %v", err)
	}
	if err := am.terminate(20 * time.Second); err != nil {
		t.Errorf("Alertmanager on SIGTERM: %v", err)
	}
}
