package controller

import (
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/remediations"
)

func hpaMin(t *testing.T, ns, name string) int32 {
	t.Helper()
	h, err := cluster.Client.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return *h.Spec.MinReplicas
}

// On the full cluster, a scale of a Deployment a HorizontalPodAutoscaler
// scales is refused by default; with scale.hpa: raise, the HPA's
// minReplicas is raised for hpaFor (its controller scales the Deployment
// up, which verifies the record), and put back afterwards by whichever
// replica leads then: here a second runner, the first having stopped
// (a leader change) before the time was up.
func TestScaleOfAnHPAManagedDeploymentRaisesItsMinimum(t *testing.T) {
	ns := cluster.Namespace(t, "records")
	workload(t, ns, "web", nil) // 2 replicas
	if _, err := cluster.Client.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(t.Context(), &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MinReplicas:    ptr.To[int32](2), MaxReplicas: 5,
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitLong(t, "web available", available(t, ns, "web"))
	scale := func(name string, sc v1alpha1.ScaleParams) *v1alpha1.Remediation {
		rec := restartRecord(name, ns, "web")
		rec.Spec.Rule, rec.Spec.Action, rec.Spec.Scale = "scale-on-queue", v1alpha1.ActionScale, &sc
		rec.Spec.Verify = rolloutWithin(2 * time.Minute)
		return put(t, cluster.Records, ns, rec, v1alpha1.RemediationStatus{})
	}
	_, stop := startStoppableRunner(t, ns, remediations.NewExecutor(cluster.Records, remediations.Options{}), verifyPolicy(), nil)

	refused := scale("refused", v1alpha1.ScaleParams{Op: v1alpha1.ScaleBy, N: 3})
	waitLong(t, "the refused scale to end", final(t, refused))
	if st := get(t, cluster.Records, refused).Status; st.Phase != v1alpha1.PhaseSkipped || st.Reason != "HPAManaged" || !strings.Contains(st.Message, "HorizontalPodAutoscaler web (minReplicas 2, maxReplicas 5)") {
		t.Fatalf("scale = %s %s %q, want Skipped HPAManaged naming the HPA", st.Phase, st.Reason, st.Message)
	}

	// +3 from 2 is 5, the HPA's maximum too; raised for 20s.
	raised := scale("raised", v1alpha1.ScaleParams{Op: v1alpha1.ScaleBy, N: 3, HPA: v1alpha1.HPARaise, HPAFor: &metav1.Duration{Duration: 20 * time.Second}})
	waitLong(t, "the raise verified", phaseIs(t, cluster.Records, raised, v1alpha1.PhaseSucceeded))
	st := get(t, cluster.Records, raised).Status
	if st.Reason != ReasonVerified || st.Result == nil || st.Result.Reason != "HPAMinRaised" || st.HPA == nil || st.HPA.MinReplicas != 2 || st.HPA.RaisedTo != 5 || st.HPA.RestoredAt != nil {
		t.Fatalf("raise = %s %s %q, result %+v, hpa %+v", st.Phase, st.Reason, st.Message, st.Result, st.HPA)
	}
	if m := hpaMin(t, ns, "web"); m != 5 {
		t.Fatalf("HPA minReplicas = %d, want 5 while raised", m)
	}
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil || *d.Spec.Replicas != 5 {
		t.Fatalf("web replicas = %v, %v: want the HPA's controller to have scaled it to 5", d.Spec.Replicas, err)
	}
	if time.Now().After(st.HPA.RestoreAt.Time) {
		t.Fatalf("the raise ran out before the leader change; the test proves nothing")
	}
	stop() // the leader goes away before the raise is due to be put back
	startRunner(t, ns, remediations.NewExecutor(cluster.Records, remediations.Options{}), verifyPolicy(), nil)
	waitLong(t, "the raise put back by the next leader", func() bool {
		h := get(t, cluster.Records, raised).Status.HPA
		return h != nil && h.RestoredAt != nil
	})
	h := get(t, cluster.Records, raised).Status.HPA
	if m := hpaMin(t, ns, "web"); m != 2 || !strings.Contains(h.Message, "put back from 5 to 2") || h.RestoredAt.Time.Before(h.RestoreAt.Time) {
		t.Errorf("after the restore: HPA minReplicas %d, status %+v; want 2, put back at or after %s", m, h, h.RestoreAt)
	}
	hp, err := cluster.Client.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil || hp.Annotations[remediations.HPARaisedAnnotation] != "" {
		t.Errorf("HPA annotations %v, %v: want the raise's mark gone", hp.Annotations, err)
	}
}
