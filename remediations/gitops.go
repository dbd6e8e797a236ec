package remediations

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
)

// The marks GitOps controllers leave on the objects they apply.
const (
	// Argo CD's annotation tracking (the default since Argo CD 3.0):
	// "APP:GROUP/KIND:NAMESPACE/NAME", APP possibly "NAMESPACE_APP".
	ArgoCDTrackingAnnotation = "argocd.argoproj.io/tracking-id"
	// Argo CD's label tracking with the instance label key most
	// installations that use labels set (application.instanceLabelKey).
	// The default key, app.kubernetes.io/instance, is not read: Helm puts
	// it on every object of every chart.
	ArgoCDInstanceLabel = "argocd.argoproj.io/instance"
	// Flux's kustomize-controller and helm-controller.
	FluxKustomizationName      = "kustomize.toolkit.fluxcd.io/name"
	FluxKustomizationNamespace = "kustomize.toolkit.fluxcd.io/namespace"
	FluxHelmReleaseName        = "helm.toolkit.fluxcd.io/name"
	FluxHelmReleaseNamespace   = "helm.toolkit.fluxcd.io/namespace"
	// FluxReconcileAnnotation set to "disabled" on an object makes Flux
	// leave it alone, so it is not GitOps-managed in effect; so does
	// FluxSSAAnnotation set to "IfNotPresent" (created, never updated) or
	// "Ignore".
	FluxReconcileAnnotation = "kustomize.toolkit.fluxcd.io/reconcile"
	FluxSSAAnnotation       = "kustomize.toolkit.fluxcd.io/ssa"
)

// GitOpsOwner names the GitOps controller that keeps m as its Git source
// says ("Argo CD application shop-cart"), with the mark that tells
// ("annotation argocd.argoproj.io/tracking-id"), or "" when none does.
func GitOpsOwner(m metav1.Object) (owner, mark string) {
	labels, annotations := m.GetLabels(), m.GetAnnotations()
	if annotations[FluxReconcileAnnotation] == "disabled" || annotations[FluxSSAAnnotation] == "IfNotPresent" || annotations[FluxSSAAnnotation] == "Ignore" {
		return "", ""
	}
	if id := annotations[ArgoCDTrackingAnnotation]; id != "" {
		app, _, _ := strings.Cut(id, ":")
		return "Argo CD application " + strings.Replace(app, "_", "/", 1), "annotation " + ArgoCDTrackingAnnotation
	}
	if app := labels[ArgoCDInstanceLabel]; app != "" {
		return "Argo CD application " + app, "label " + ArgoCDInstanceLabel
	}
	if name := labels[FluxKustomizationName]; name != "" {
		return "Flux Kustomization " + qualified(labels[FluxKustomizationNamespace], name), "label " + FluxKustomizationName
	}
	if name := labels[FluxHelmReleaseName]; name != "" {
		return "Flux HelmRelease " + qualified(labels[FluxHelmReleaseNamespace], name), "label " + FluxHelmReleaseName
	}
	return "", ""
}

func qualified(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

// GitOpsPolicy is whether an action goes ahead on a GitOps-managed target:
// the rule's (spec.gitops), else the deployment's (Options.GitOps), else
// the action's default: a scale or a rollback changes a field the GitOps
// controller owns and is refused; a restart changes only the pod
// template's restartedAt annotation and goes ahead.
func (e *Executor) gitOpsPolicy(req Request) v1alpha1.GitOps {
	switch {
	case req.GitOps != "":
		return req.GitOps
	case e.opts.GitOps != "":
		return e.opts.GitOps
	case req.Action == v1alpha1.ActionRestart:
		return v1alpha1.GitOpsAllow
	}
	return v1alpha1.GitOpsRefuse
}

// gitOpsManaged reports, with res set, whether req is refused because a
// GitOps controller manages its target w and policy says refuse.
func (e *Executor) gitOpsManaged(req Request, w *workload, res *Result) bool {
	owner, mark := GitOpsOwner(w.meta)
	if owner == "" || e.gitOpsPolicy(req) != v1alpha1.GitOpsRefuse {
		return false
	}
	res.Outcome, res.Reason = Skipped, "GitOpsManaged"
	res.Message = fmt.Sprintf("%s is managed by %s (%s), which would undo the %s; change it in Git, or set gitops: allow in the rule once the GitOps tool is configured to tolerate it (docs/rules.md#gitops)",
		req.Target, owner, mark, req.Action)
	return true
}
