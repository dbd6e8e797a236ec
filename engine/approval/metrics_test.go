package approval

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
)

// alertmedic_approvals_waiting counts the records of its namespace in
// PendingApproval at each scrape: not the ones approved, denied or of
// another namespace; one decided leaves the count.
func TestApprovalsWaitingGauge(t *testing.T) {
	ns, other := cluster.Namespace(t, "records"), cluster.Namespace(t, "records")
	c := cluster.NewClient(t, nil)
	reg := prometheus.NewRegistry()
	if err := RegisterWaiting(t.Context(), reg, c, ns); err != nil {
		t.Fatal(err)
	}
	want := func(n string) {
		t.Helper()
		exp := "# HELP alertmedic_approvals_waiting Remediations waiting for a person's approval now (PendingApproval), as this replica's cache sees them.\n" +
			"# TYPE alertmedic_approvals_waiting gauge\nalertmedic_approvals_waiting " + n + "\n"
		if err := testutil.GatherAndCompare(reg, strings.NewReader(exp), "alertmedic_approvals_waiting"); err != nil {
			t.Error(err)
		}
	}
	want("0")
	waitingA := put(t, c, ns, restartRecord("rem-a", ns, "web"), v1alpha1.RemediationStatus{Phase: v1alpha1.PhasePendingApproval})
	put(t, c, ns, restartRecord("rem-b", ns, "web"), v1alpha1.RemediationStatus{Phase: v1alpha1.PhasePendingApproval})
	put(t, c, ns, restartRecord("rem-c", ns, "web"), v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseApproved})
	put(t, c, other, restartRecord("rem-d", other, "web"), v1alpha1.RemediationStatus{Phase: v1alpha1.PhasePendingApproval})
	want("2")
	if _, err := Decide(t.Context(), c, client.ObjectKeyFromObject(waitingA), false, "kubernetes:alice", t0); err != nil {
		t.Fatal(err)
	}
	want("1")
}
