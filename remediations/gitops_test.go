package remediations_test

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/remediations"
)

func TestGitOpsOwner(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                string
		labels, annotations map[string]string
		owner, mark         string
	}{
		{"none", nil, nil, "", ""},
		{"helm's instance label alone is not Argo CD", map[string]string{"app.kubernetes.io/instance": "cart"}, nil, "", ""},
		{"Argo CD annotation tracking", nil, map[string]string{remediations.ArgoCDTrackingAnnotation: "shop-cart:apps/Deployment:shop/cart"},
			"Argo CD application shop-cart", "annotation argocd.argoproj.io/tracking-id"},
		{"Argo CD app in another namespace", nil, map[string]string{remediations.ArgoCDTrackingAnnotation: "team-a_cart:apps/Deployment:shop/cart"},
			"Argo CD application team-a/cart", "annotation argocd.argoproj.io/tracking-id"},
		{"Argo CD label tracking", map[string]string{remediations.ArgoCDInstanceLabel: "cart"}, nil, "Argo CD application cart", "label argocd.argoproj.io/instance"},
		{"Flux Kustomization", map[string]string{remediations.FluxKustomizationName: "apps", remediations.FluxKustomizationNamespace: "flux-system"}, nil,
			"Flux Kustomization flux-system/apps", "label kustomize.toolkit.fluxcd.io/name"},
		{"Flux HelmRelease", map[string]string{remediations.FluxHelmReleaseName: "cart", remediations.FluxHelmReleaseNamespace: "shop"}, nil,
			"Flux HelmRelease shop/cart", "label helm.toolkit.fluxcd.io/name"},
		{"Flux told to leave it alone", map[string]string{remediations.FluxKustomizationName: "apps"},
			map[string]string{remediations.FluxReconcileAnnotation: "disabled"}, "", ""},
		{"Flux creates it only", map[string]string{remediations.FluxKustomizationName: "apps"},
			map[string]string{remediations.FluxSSAAnnotation: "IfNotPresent"}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			owner, mark := remediations.GitOpsOwner(&metav1.ObjectMeta{Labels: tc.labels, Annotations: tc.annotations})
			if owner != tc.owner || mark != tc.mark {
				t.Errorf("GitOpsOwner = %q, %q; want %q, %q", owner, mark, tc.owner, tc.mark)
			}
		})
	}
}

// markArgoCD makes the Deployment look applied by Argo CD.
func markArgoCD(t *testing.T, ns, name string) {
	t.Helper()
	d, err := clientset().AppsV1().Deployments(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Annotations = map[string]string{remediations.ArgoCDTrackingAnnotation: "shop-web:apps/Deployment:" + ns + "/" + name}
	if _, err := clientset().AppsV1().Deployments(ns).Update(t.Context(), d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// On a Deployment Argo CD manages, a scale and a rollback are refused by
// default (its self-heal would undo them) and a restart goes ahead; a rule
// or the deployment's --gitops says otherwise; nothing is changed by a
// refusal.
func TestGitOpsManagedTargets(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	deploymentWithHistory(t, ns) // web at revision 3
	markArgoCD(t, ns, "web")
	up := v1alpha1.ScaleParams{Op: v1alpha1.ScaleBy, N: 1}
	ex := executor(t, medic())

	res, err := ex.Execute(t.Context(), scaleReq(v1alpha1.KindDeployment, ns, "web", up))
	if err != nil || res.Outcome != remediations.Skipped || res.Reason != "GitOpsManaged" ||
		res.Message != "Deployment/"+ns+"/web is managed by Argo CD application shop-web (annotation argocd.argoproj.io/tracking-id), which would undo the scale; change it in Git, or set gitops: allow in the rule once the GitOps tool is configured to tolerate it (docs/rules.md#gitops)" {
		t.Errorf("scale = %+v, %v; want Skipped GitOpsManaged naming the owner", res, err)
	}
	if n := replicasOf(t, v1alpha1.KindDeployment, ns, "web"); n != 2 {
		t.Errorf("replicas = %d after a refused scale, want 2", n)
	}
	res, err = ex.Execute(t.Context(), rollbackReq(v1alpha1.KindDeployment, ns, "web", 0))
	if err != nil || res.Reason != "GitOpsManaged" || imageOf(t, v1alpha1.KindDeployment, ns, "web") != "web:v3" {
		t.Errorf("rollback = %+v, %v; want Skipped GitOpsManaged, web still at web:v3", res, err)
	}
	plan, err := ex.Plan(t.Context(), scaleReq(v1alpha1.KindDeployment, ns, "web", up))
	if err != nil || plan.Reason != "GitOpsManaged" {
		t.Errorf("plan = %+v, %v; want the approver shown it would be refused", plan, err)
	}
	if res, err := ex.Execute(t.Context(), restartReq(v1alpha1.KindDeployment, ns, "web")); err != nil || res.Outcome != remediations.Succeeded {
		t.Errorf("restart = %+v, %v; want Succeeded: a restart is allowed by default", res, err)
	}

	allowed := scaleReq(v1alpha1.KindDeployment, ns, "web", up)
	allowed.GitOps = v1alpha1.GitOpsAllow
	if res, err := ex.Execute(t.Context(), allowed); err != nil || res.Outcome != remediations.Succeeded || replicasOf(t, v1alpha1.KindDeployment, ns, "web") != 3 {
		t.Errorf("scale with gitops: allow = %+v, %v; want 3 replicas", res, err)
	}

	strict := remediations.NewExecutor(medic(), remediations.Options{Instance: "test-replica", Now: func() time.Time { return clock.Add(time.Hour) }, GitOps: v1alpha1.GitOpsRefuse})
	if res, err := strict.Execute(t.Context(), restartReq(v1alpha1.KindDeployment, ns, "web")); err != nil || res.Reason != "GitOpsManaged" {
		t.Errorf("restart under --gitops refuse = %+v, %v; want Skipped GitOpsManaged", res, err)
	}
	lenient := remediations.NewExecutor(medic(), remediations.Options{Instance: "test-replica", Now: func() time.Time { return clock }, GitOps: v1alpha1.GitOpsAllow})
	ruleSays := scaleReq(v1alpha1.KindDeployment, ns, "web", up)
	ruleSays.GitOps = v1alpha1.GitOpsRefuse
	if res, err := lenient.Execute(t.Context(), ruleSays); err != nil || res.Reason != "GitOpsManaged" {
		t.Errorf("rule gitops: refuse under --gitops allow = %+v, %v; want the rule's refusal", res, err)
	}
	if res, err := lenient.Execute(t.Context(), scaleReq(v1alpha1.KindDeployment, ns, "web", up)); err != nil || res.Outcome != remediations.Succeeded {
		t.Errorf("scale under --gitops allow = %+v, %v; want Succeeded", res, err)
	}
}
