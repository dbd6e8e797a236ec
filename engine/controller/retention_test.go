package controller

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
)

// Finished records are deleted after their retention: counted from when the
// alert resolved, or from when they finished if it never did.
func TestFinishedRecordsAreCollected(t *testing.T) {
	ns := cluster.Namespace(t, "records")
	c := cluster.NewClient(t, cluster.Config)
	long := metav1.NewTime(time.Now().Add(-25 * time.Hour))
	resolved := put(t, c, ns, restartRecord("rem-resolved", ns, "a"), v1alpha1.RemediationStatus{
		Phase: v1alpha1.PhaseSucceeded, FinishedAt: &long, AlertResolvedAt: &long})
	firing := put(t, c, ns, restartRecord("rem-still-firing", ns, "b"), v1alpha1.RemediationStatus{
		Phase: v1alpha1.PhaseSucceeded, FinishedAt: &long})
	m := startRunner(t, ns, &flaky{}, Policy{Retention: 24 * time.Hour, MaxRetention: 72 * time.Hour}, time.Now)
	waitFor(t, "the resolved record to be collected", func() bool {
		err := c.Get(t.Context(), client.ObjectKeyFromObject(resolved), &v1alpha1.Remediation{})
		return apierrors.IsNotFound(err)
	})
	if err := c.Get(t.Context(), client.ObjectKeyFromObject(firing), &v1alpha1.Remediation{}); err != nil {
		t.Errorf("the record of a still-firing alert was collected: %v", err)
	}
	if n := testutil.ToFloat64(m.Collected()); n != 1 {
		t.Errorf("collected = %v, want 1", n)
	}
}
