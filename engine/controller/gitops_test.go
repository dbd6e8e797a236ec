package controller

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/remediations"
)

// On the full cluster, a scale of a Deployment that Flux applies is
// Skipped, GitOpsManaged, naming the Kustomization, and changes nothing; a
// rule that says gitops: allow scales it.
func TestScaleOfAGitOpsManagedDeploymentIsRefused(t *testing.T) {
	ns := cluster.Namespace(t, "records")
	workload(t, ns, "web", nil)
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := cluster.Client.AppsV1().Deployments(ns).Get(t.Context(), "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		d.Labels = map[string]string{remediations.FluxKustomizationName: "apps", remediations.FluxKustomizationNamespace: "flux-system"}
		_, err = cluster.Client.AppsV1().Deployments(ns).Update(t.Context(), d, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	waitLong(t, "web available", available(t, ns, "web"))
	startRunner(t, ns, remediations.NewExecutor(cluster.Records, remediations.Options{}), verifyPolicy(), nil)
	scale := func(name string, gitops v1alpha1.GitOps) *v1alpha1.Remediation {
		rec := restartRecord(name, ns, "web")
		rec.Spec.Rule, rec.Spec.Action = "scale-on-queue", v1alpha1.ActionScale
		rec.Spec.Scale = &v1alpha1.ScaleParams{Op: v1alpha1.ScaleBy, N: 1, Max: 5}
		rec.Spec.Verify, rec.Spec.GitOps = rolloutWithin(2*time.Minute), gitops
		return put(t, cluster.Records, ns, rec, v1alpha1.RemediationStatus{})
	}
	refused := scale("refused", "")
	waitLong(t, "the scale to end", final(t, refused))
	st := get(t, cluster.Records, refused).Status
	if st.Phase != v1alpha1.PhaseSkipped || st.Reason != "GitOpsManaged" || !strings.Contains(st.Message, "Flux Kustomization flux-system/apps") {
		t.Fatalf("scale = %s %s %q, want Skipped GitOpsManaged naming the Kustomization", st.Phase, st.Reason, st.Message)
	}
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil || *d.Spec.Replicas != 2 {
		t.Fatalf("replicas after the refusal = %v, %v; want 2", d.Spec.Replicas, err)
	}
	// A skip changed nothing, so it starts no cooldown: the allowed scale
	// runs at once.
	allowed := scale("allowed", v1alpha1.GitOpsAllow)
	waitLong(t, "the allowed scale to end", final(t, allowed))
	if st := get(t, cluster.Records, allowed).Status; st.Phase != v1alpha1.PhaseSucceeded || st.Result == nil || st.Result.After != "replicas=3" {
		t.Fatalf("scale with gitops: allow = %s %s %q (%+v), want Succeeded at 3 replicas", st.Phase, st.Reason, st.Message, st.Result)
	}
}
