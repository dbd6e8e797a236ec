package approval

import (
	"errors"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/kube"
	"github.com/alertmedic/alertmedic/internal/testcluster"
)

var cluster *testcluster.Cluster

func TestMain(m *testing.M) {
	testcluster.Main(m, "the approval tests", &cluster)
}

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func restartRecord(name, ns, target string) *v1alpha1.Remediation {
	return &v1alpha1.Remediation{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.RemediationSpec{Rule: "restart-crashlooping", Action: "restart",
			Target: v1alpha1.Target{Kind: "Deployment", Namespace: ns, Name: target}},
	}
}

// put creates rec in ns with the given status, as a replica would have left it.
func put(t *testing.T, c kube.Client, ns string, rec *v1alpha1.Remediation, st v1alpha1.RemediationStatus) *v1alpha1.Remediation {
	t.Helper()
	rec.Namespace = ns
	rec.Labels = map[string]string{v1alpha1.LabelTarget: v1alpha1.TargetLabel(rec.Spec.Target.Kind, rec.Spec.Target.Namespace, rec.Spec.Target.Name)}
	rec.Spec.TargetRef = rec.Spec.Target.String()
	rec.Spec.Alert = v1alpha1.AlertRef{Name: "KubePodCrashLooping", Fingerprint: "0123456789abcdef", StartsAt: metav1.NewMicroTime(t0)}
	if err := c.Create(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	rec.Status = st
	if err := c.Status().Update(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

func get(t *testing.T, c kube.Client, rec *v1alpha1.Remediation) *v1alpha1.Remediation {
	t.Helper()
	var out v1alpha1.Remediation
	if err := c.Get(t.Context(), kube.ObjectKeyFromObject(rec), &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

// Past its deadline a record cannot be approved, even before the leader has
// recorded it as Expired.
func TestDecideAfterDeadlineIsRefused(t *testing.T) {
	ns := cluster.Namespace(t, "records")
	c := cluster.NewClient(t, nil)
	deadline := metav1.NewTime(time.Now().Add(-time.Second).Truncate(time.Second))
	rec := restartRecord("rem-late", ns, "web")
	rec = put(t, c, ns, rec, v1alpha1.RemediationStatus{Phase: v1alpha1.PhasePendingApproval, ApprovalExpiresAt: &deadline})
	rv := get(t, c, rec).ResourceVersion
	_, err := Decide(t.Context(), c, kube.ObjectKeyFromObject(rec), true, "slack:U0123", time.Now())
	var de *DecidedError
	if !errors.As(err, &de) || de.Phase != v1alpha1.PhaseExpired {
		t.Fatalf("Decide after the deadline = %v, want a DecidedError saying it expired", err)
	}
	if want := "rem-late expired unapproved at " + deadline.UTC().Format(time.RFC3339); err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if got := get(t, c, rec); got.ResourceVersion != rv || got.Status.DecidedBy != "" {
		t.Errorf("the record changed: %+v", got.Status)
	}
}
