package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/alertmedic/alertmedic/engine/breaker"
	"github.com/alertmedic/alertmedic/internal/kube"
)

// alertmedic's identity, as the base's ServiceAccount gives it.
const (
	saNamespace = "alertmedic"
	saUser      = "system:serviceaccount:alertmedic:alertmedic"
)

// saGroups are the groups the API server gives a token of that
// ServiceAccount.
var saGroups = []string{"system:serviceaccounts", "system:serviceaccounts:" + saNamespace, "system:authenticated"}

var remediationsGVR = schema.GroupVersionResource{Group: "alertmedic.io", Version: "v1alpha1", Resource: "remediations"}

// serviceAccount is a client acting as alertmedic's ServiceAccount
// (impersonated by the test's cluster-admin).
type serviceAccount struct {
	cfg *rest.Config
	k   kubernetes.Interface
	dyn dynamic.Interface
	// medic is alertmedic's own client, as the service account.
	medic kube.Client
}

func asServiceAccount(t *testing.T) *serviceAccount {
	t.Helper()
	cfg := rest.CopyConfig(cluster.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: saUser, Groups: saGroups}
	k, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	medic, err := kube.New(cfg, kube.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &serviceAccount{cfg: cfg, k: k, dyn: dyn, medic: medic}
}

// installRBAC applies, for real, the Namespace, ServiceAccount and RBAC
// objects of the build at dir, and deletes its bindings when the test ends so
// that the next test starts from none.
func installRBAC(t *testing.T, dir string) {
	t.Helper()
	installRBACObjects(t, kustomize(t, dir))
}

// installRBACObjects is installRBAC for objects already built (kustomize or
// helm template).
func installRBACObjects(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	ctx := t.Context()
	a := newApplier(t, cluster.Config)
	var bindings []*unstructured.Unstructured
	for _, o := range objs {
		switch o.GetKind() {
		case "Namespace", "ServiceAccount", "ClusterRole", "Role":
		case "ClusterRoleBinding", "RoleBinding":
			bindings = append(bindings, o)
		default:
			continue
		}
		if _, err := a.apply(ctx, o, false); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		for _, b := range bindings {
			if err := a.delete(ctx, b); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
}

// canI asks the API server's authorizer whether the ServiceAccount may do
// attrs.
func canI(ctx context.Context, attrs authorizationv1.ResourceAttributes) (bool, error) {
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: saUser, Groups: saGroups, ResourceAttributes: &attrs,
	}}
	res, err := cluster.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
	if err != nil {
		return false, err
	}
	return res.Status.Allowed, nil
}

// waitAuthorized waits until the authorizer's answer for attrs is want:
// RBAC objects reach the authorizer through a cache, a moment after they are
// written.
func waitAuthorized(t *testing.T, attrs authorizationv1.ResourceAttributes, want bool) {
	t.Helper()
	err := waitFor(t.Context(), 30*time.Second, fmt.Sprintf("RBAC to answer %v for %+v", want, attrs), func() (bool, error) {
		ok, err := canI(t.Context(), attrs)
		return err == nil && ok == want, err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// check is one API request, made as the ServiceAccount.
type check struct {
	what string
	do   func(ctx context.Context) error
}

func expectAllowed(t *testing.T, checks []check) {
	t.Helper()
	for _, c := range checks {
		if err := c.do(t.Context()); err != nil {
			t.Errorf("allowed: %s: %v", c.what, err)
		}
	}
}

func expectForbidden(t *testing.T, checks []check) {
	t.Helper()
	for _, c := range checks {
		if err := c.do(t.Context()); !apierrors.IsForbidden(err) {
			t.Errorf("forbidden: %s: err = %v, want Forbidden", c.what, err)
		}
	}
}

// actionChecks are the requests alertmedic's restart, scale and rollback
// actions make on the workloads of w.ns, each checked for its effect.
func actionChecks(sa *serviceAccount, w *workloads) []check {
	apps := sa.k.AppsV1()
	ns := w.ns
	patchOpts := metav1.PatchOptions{FieldManager: "alertmedic"}
	restartPatch := func() []byte {
		return fmt.Appendf(nil, `{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":%q}}}}}`, time.Now().Format(time.RFC3339Nano))
	}
	restarted := func(tmpl corev1.PodTemplateSpec) error {
		if tmpl.Annotations["kubectl.kubernetes.io/restartedAt"] == "" {
			return fmt.Errorf("the patch was accepted but the template has no restartedAt annotation")
		}
		return nil
	}
	image := func(tmpl corev1.PodTemplateSpec, want string) error {
		if got := tmpl.Spec.Containers[0].Image; got != want {
			return fmt.Errorf("image after rollback = %s, want %s", got, want)
		}
		return nil
	}
	// rollbackHistory lists the owner's ControllerRevisions by its selector
	// and applies revision 1's data, as kubectl rollout undo does.
	rollbackHistory := func(ctx context.Context, selector *metav1.LabelSelector, patch func([]byte) error) error {
		sel, err := metav1.LabelSelectorAsSelector(selector)
		if err != nil {
			return err
		}
		list, err := apps.ControllerRevisions(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil {
			return err
		}
		for _, cr := range list.Items {
			if cr.Revision == 1 {
				return patch(cr.Data.Raw)
			}
		}
		return fmt.Errorf("no revision 1 among %d ControllerRevisions", len(list.Items))
	}
	return []check{
		{"get Deployment", func(ctx context.Context) error {
			_, err := apps.Deployments(ns).Get(ctx, w.deployment.Name, metav1.GetOptions{})
			return err
		}},
		{"rollout restart Deployment (patch its template annotation)", func(ctx context.Context) error {
			d, err := apps.Deployments(ns).Patch(ctx, w.deployment.Name, types.StrategicMergePatchType, restartPatch(), patchOpts)
			if err != nil {
				return err
			}
			return restarted(d.Spec.Template)
		}},
		{"rollout restart StatefulSet", func(ctx context.Context) error {
			s, err := apps.StatefulSets(ns).Patch(ctx, w.statefulSet.Name, types.StrategicMergePatchType, restartPatch(), patchOpts)
			if err != nil {
				return err
			}
			return restarted(s.Spec.Template)
		}},
		{"rollout restart DaemonSet", func(ctx context.Context) error {
			d, err := apps.DaemonSets(ns).Patch(ctx, w.daemonSet.Name, types.StrategicMergePatchType, restartPatch(), patchOpts)
			if err != nil {
				return err
			}
			return restarted(d.Spec.Template)
		}},
		{"scale Deployment (get and update its scale subresource)", func(ctx context.Context) error {
			s, err := apps.Deployments(ns).GetScale(ctx, w.deployment.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			s.Spec.Replicas++
			u, err := apps.Deployments(ns).UpdateScale(ctx, w.deployment.Name, s, metav1.UpdateOptions{FieldManager: "alertmedic"})
			if err == nil && u.Spec.Replicas != s.Spec.Replicas {
				err = fmt.Errorf("replicas = %d after scaling to %d", u.Spec.Replicas, s.Spec.Replicas)
			}
			return err
		}},
		{"find and raise the HorizontalPodAutoscaler of a Deployment (list, get, patch)", func(ctx context.Context) error {
			hpas := sa.k.AutoscalingV2().HorizontalPodAutoscalers(ns)
			if _, err := hpas.List(ctx, metav1.ListOptions{}); err != nil {
				return err
			}
			h, err := hpas.Get(ctx, w.prefix+"hpa", metav1.GetOptions{})
			if err != nil {
				return err
			}
			_, err = hpas.Patch(ctx, h.Name, types.MergePatchType, []byte(`{"spec":{"minReplicas":2}}`), patchOpts)
			return err
		}},
		{"scale StatefulSet", func(ctx context.Context) error {
			s, err := apps.StatefulSets(ns).GetScale(ctx, w.statefulSet.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			s.Spec.Replicas++
			_, err = apps.StatefulSets(ns).UpdateScale(ctx, w.statefulSet.Name, s, metav1.UpdateOptions{FieldManager: "alertmedic"})
			return err
		}},
		{"rollback Deployment (list its ReplicaSets, patch the template to revision 1's)", func(ctx context.Context) error {
			d, err := apps.Deployments(ns).Get(ctx, w.deployment.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
			if err != nil {
				return err
			}
			list, err := apps.ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
			if err != nil {
				return err
			}
			var prev *appsv1.ReplicaSet
			for i := range list.Items {
				if list.Items[i].Annotations["deployment.kubernetes.io/revision"] == "1" {
					prev = &list.Items[i]
				}
			}
			if prev == nil {
				return fmt.Errorf("no ReplicaSet of revision 1 among %d", len(list.Items))
			}
			tmpl := prev.Spec.Template.DeepCopy()
			delete(tmpl.Labels, "pod-template-hash")
			patch, err := json.Marshal([]map[string]any{
				{"op": "test", "path": "/metadata/resourceVersion", "value": d.ResourceVersion},
				{"op": "replace", "path": "/spec/template", "value": tmpl},
			})
			if err != nil {
				return err
			}
			d, err = apps.Deployments(ns).Patch(ctx, d.Name, types.JSONPatchType, patch, patchOpts)
			if err != nil {
				return err
			}
			return image(d.Spec.Template, imageV1)
		}},
		{"rollback StatefulSet (list its ControllerRevisions, patch revision 1's template)", func(ctx context.Context) error {
			return rollbackHistory(ctx, w.statefulSet.Spec.Selector, func(data []byte) error {
				s, err := apps.StatefulSets(ns).Patch(ctx, w.statefulSet.Name, types.StrategicMergePatchType, data, patchOpts)
				if err != nil {
					return err
				}
				return image(s.Spec.Template, imageV1)
			})
		}},
		{"rollback DaemonSet (list its ControllerRevisions, patch revision 1's template)", func(ctx context.Context) error {
			return rollbackHistory(ctx, w.daemonSet.Spec.Selector, func(data []byte) error {
				d, err := apps.DaemonSets(ns).Patch(ctx, w.daemonSet.Name, types.StrategicMergePatchType, data, patchOpts)
				if err != nil {
					return err
				}
				return image(d.Spec.Template, imageV1)
			})
		}},
		{"create and patch an Event on the Deployment", func(ctx context.Context) error {
			now := metav1.Now()
			ev, err := sa.k.CoreV1().Events(ns).Create(ctx, &corev1.Event{
				ObjectMeta:     metav1.ObjectMeta{GenerateName: w.deployment.Name + ".alertmedic-", Namespace: ns},
				InvolvedObject: corev1.ObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Namespace: ns, Name: w.deployment.Name, UID: w.deployment.UID},
				Reason:         "AlertmedicRestart", Message: "succeeded: restarted (RBAC test)", Type: corev1.EventTypeNormal,
				Source: corev1.EventSource{Component: "alertmedic"}, ReportingController: "alertmedic", ReportingInstance: "test",
				Action: "Restarted", FirstTimestamp: now, LastTimestamp: now, Count: 1,
			}, metav1.CreateOptions{FieldManager: "alertmedic"})
			if err != nil {
				return err
			}
			_, err = sa.k.CoreV1().Events(ns).Patch(ctx, ev.Name, types.MergePatchType, []byte(`{"count":2}`), patchOpts)
			return err
		}},
		{"list the Warning Events of " + ns, func(ctx context.Context) error {
			_, err := sa.k.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "type=Warning"})
			return err
		}},
	}
}

// ownChecks are the requests alertmedic makes in its own namespace: leader
// election and its Remediation records.
func ownChecks(sa *serviceAccount, suffix string) []check {
	leases := sa.k.CoordinationV1().Leases(saNamespace)
	rems := sa.dyn.Resource(remediationsGVR).Namespace(saNamespace)
	leaseName := "alertmedic-" + suffix
	remName := "rem-rbac-" + suffix
	return []check{
		{"create, get, list and watch (by name) and update the leader election Lease", func(ctx context.Context) error {
			l, err := leases.Create(ctx, &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: leaseName, Namespace: saNamespace},
				Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To("alertmedic-0"), LeaseDurationSeconds: ptr.To[int32](15)},
			}, metav1.CreateOptions{})
			if err != nil {
				return err
			}
			if l, err = leases.Get(ctx, l.Name, metav1.GetOptions{}); err != nil {
				return err
			}
			byName := metav1.ListOptions{FieldSelector: "metadata.name=" + leaseName}
			if _, err := leases.List(ctx, byName); err != nil {
				return err
			}
			w, err := leases.Watch(ctx, byName)
			if err != nil {
				return err
			}
			w.Stop()
			l.Spec.HolderIdentity = ptr.To("alertmedic-1")
			_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
			return err
		}},
		{"create, list, watch, update, patch and delete a Remediation, and update and patch its status", func(ctx context.Context) error {
			r := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "alertmedic.io/v1alpha1", "kind": "Remediation",
				"metadata": map[string]any{"name": remName, "namespace": saNamespace},
				"spec": map[string]any{
					"rule": "restart-crashlooping", "action": "restart", "targetRef": "Deployment/shop/web",
					"target": map[string]any{"kind": "Deployment", "namespace": "shop", "name": "web"},
					"alert":  map[string]any{"name": "KubePodCrashLooping", "fingerprint": "5e7b2c0a1f3d9e41", "startsAt": "2026-11-22T10:00:00Z"},
				},
			}}
			r, err := rems.Create(ctx, r, metav1.CreateOptions{FieldManager: "alertmedic"})
			if err != nil {
				return fmt.Errorf("create: %w", err)
			}
			if _, err := rems.List(ctx, metav1.ListOptions{}); err != nil {
				return fmt.Errorf("list: %w", err)
			}
			wi, err := rems.Watch(ctx, metav1.ListOptions{ResourceVersion: r.GetResourceVersion()})
			if err != nil {
				return fmt.Errorf("watch: %w", err)
			}
			wi.Stop()
			r.SetLabels(map[string]string{"alertmedic.io/rule": "restart-crashlooping"})
			if r, err = rems.Update(ctx, r, metav1.UpdateOptions{FieldManager: "alertmedic"}); err != nil {
				return fmt.Errorf("update: %w", err)
			}
			if err := unstructured.SetNestedField(r.Object, "Running", "status", "phase"); err != nil {
				return err
			}
			if r, err = rems.UpdateStatus(ctx, r, metav1.UpdateOptions{FieldManager: "alertmedic"}); err != nil {
				return fmt.Errorf("update status: %w", err)
			}
			if phase, _, _ := unstructured.NestedString(r.Object, "status", "phase"); phase != "Running" {
				return fmt.Errorf("status.phase = %q after updating it to Running", phase)
			}
			if _, err := rems.Patch(ctx, remName, types.MergePatchType, []byte(`{"status":{"phase":"Succeeded","reason":"Restarted"}}`),
				metav1.PatchOptions{FieldManager: "alertmedic"}, "status"); err != nil {
				return fmt.Errorf("patch status: %w", err)
			}
			if _, err := rems.Patch(ctx, remName, types.MergePatchType, []byte(`{"metadata":{"annotations":{"alertmedic.io/note":"x"}}}`),
				metav1.PatchOptions{FieldManager: "alertmedic"}); err != nil {
				return fmt.Errorf("patch: %w", err)
			}
			if err := rems.Delete(ctx, remName, metav1.DeleteOptions{}); err != nil {
				return fmt.Errorf("delete (retention): %w", err)
			}
			return nil
		}},
		{"create, get, list and watch by name, and update the circuit breaker's ConfigMap", func(ctx context.Context) error {
			cms := sa.k.CoreV1().ConfigMaps(saNamespace)
			_, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: breaker.ConfigMapName, Namespace: saNamespace}}, metav1.CreateOptions{})
			if err != nil && !apierrors.IsAlreadyExists(err) { // the other scope's run made it
				return fmt.Errorf("create: %w", err)
			}
			cm, err := cms.Get(ctx, breaker.ConfigMapName, metav1.GetOptions{})
			if err != nil {
				return fmt.Errorf("get: %w", err)
			}
			byName := metav1.ListOptions{FieldSelector: "metadata.name=" + breaker.ConfigMapName}
			if _, err := cms.List(ctx, byName); err != nil {
				return fmt.Errorf("list by name: %w", err)
			}
			wi, err := cms.Watch(ctx, byName)
			if err != nil {
				return fmt.Errorf("watch by name: %w", err)
			}
			wi.Stop()
			cm.Data = map[string]string{"windows": "[]"}
			if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
				return fmt.Errorf("update: %w", err)
			}
			return nil
		}},
	}
}

// ownDenied are requests in its own namespace alertmedic never needs: any
// ConfigMap but the circuit breaker's, and all of them at once.
func ownDenied(sa *serviceAccount) []check {
	cms := sa.k.CoreV1().ConfigMaps(saNamespace)
	return []check{
		{"get another ConfigMap", func(ctx context.Context) error {
			_, err := cms.Get(ctx, "alertmedic-rules", metav1.GetOptions{})
			return err
		}},
		{"list every ConfigMap", func(ctx context.Context) error {
			_, err := cms.List(ctx, metav1.ListOptions{})
			return err
		}},
		{"delete the circuit breaker's ConfigMap", func(ctx context.Context) error {
			return cms.Delete(ctx, breaker.ConfigMapName, metav1.DeleteOptions{})
		}},
	}
}

// deniedEverywhere are requests alertmedic never needs, in namespace ns
// (which holds the workloads w) and its own.
func deniedEverywhere(sa *serviceAccount, w *workloads) []check {
	apps := sa.k.AppsV1()
	core := sa.k.CoreV1()
	ns := w.ns
	del := metav1.DeleteOptions{}
	return []check{
		{"get the webhook token Secret in its own namespace", func(ctx context.Context) error {
			_, err := core.Secrets(saNamespace).Get(ctx, "alertmedic-webhook", metav1.GetOptions{})
			return err
		}},
		{"list Secrets in its own namespace", func(ctx context.Context) error {
			_, err := core.Secrets(saNamespace).List(ctx, metav1.ListOptions{})
			return err
		}},
		{"list Secrets in " + ns, func(ctx context.Context) error {
			_, err := core.Secrets(ns).List(ctx, metav1.ListOptions{})
			return err
		}},
		{"list Secrets in all namespaces", func(ctx context.Context) error {
			_, err := core.Secrets("").List(ctx, metav1.ListOptions{})
			return err
		}},
		{"read ConfigMaps in its own namespace", func(ctx context.Context) error {
			_, err := core.ConfigMaps(saNamespace).List(ctx, metav1.ListOptions{})
			return err
		}},
		{"delete a Deployment", func(ctx context.Context) error {
			return apps.Deployments(ns).Delete(ctx, w.deployment.Name, del)
		}},
		{"delete a StatefulSet", func(ctx context.Context) error {
			return apps.StatefulSets(ns).Delete(ctx, w.statefulSet.Name, del)
		}},
		{"delete a DaemonSet", func(ctx context.Context) error {
			return apps.DaemonSets(ns).Delete(ctx, w.daemonSet.Name, del)
		}},
		{"delete all ReplicaSets", func(ctx context.Context) error {
			return apps.ReplicaSets(ns).DeleteCollection(ctx, del, metav1.ListOptions{})
		}},
		{"delete all ControllerRevisions", func(ctx context.Context) error {
			return apps.ControllerRevisions(ns).DeleteCollection(ctx, del, metav1.ListOptions{})
		}},
		{"delete Pods", func(ctx context.Context) error {
			return core.Pods(ns).DeleteCollection(ctx, del, metav1.ListOptions{})
		}},
		{"create a Deployment", func(ctx context.Context) error {
			d := w.deployment.DeepCopy()
			d.ObjectMeta = metav1.ObjectMeta{Name: "intruder", Namespace: ns}
			_, err := apps.Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
			return err
		}},
		{"replace a Deployment (PUT, not patch)", func(ctx context.Context) error {
			_, err := apps.Deployments(ns).Update(ctx, w.deployment, metav1.UpdateOptions{})
			return err
		}},
		{"list Deployments", func(ctx context.Context) error {
			_, err := apps.Deployments(ns).List(ctx, metav1.ListOptions{})
			return err
		}},
		{"patch a ReplicaSet", func(ctx context.Context) error {
			_, err := apps.ReplicaSets(ns).Patch(ctx, w.replicaSets[0], types.MergePatchType, []byte(`{"spec":{"replicas":5}}`), metav1.PatchOptions{})
			return err
		}},
		{"delete Events", func(ctx context.Context) error {
			return core.Events(ns).DeleteCollection(ctx, del, metav1.ListOptions{})
		}},
		{"create a Lease in " + ns, func(ctx context.Context) error {
			_, err := sa.k.CoordinationV1().Leases(ns).Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "alertmedic"}}, metav1.CreateOptions{})
			return err
		}},
		{"list Remediations in " + ns, func(ctx context.Context) error {
			_, err := sa.dyn.Resource(remediationsGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
			return err
		}},
		{"grant itself more with a RoleBinding in its own namespace", func(ctx context.Context) error {
			_, err := sa.k.RbacV1().RoleBindings(saNamespace).Create(ctx, &rbacv1.RoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: "escalate"},
				RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
				Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "alertmedic", Namespace: saNamespace}},
			}, metav1.CreateOptions{})
			return err
		}},
		{"list Nodes", func(ctx context.Context) error {
			_, err := core.Nodes().List(ctx, metav1.ListOptions{})
			return err
		}},
	}
}

// createWebhookSecret creates the Secret the install guide has the user
// create, so that "forbidden" is about RBAC and not a missing object.
func createWebhookSecret(t *testing.T) {
	t.Helper()
	_, err := cluster.Client.CoreV1().Secrets(saNamespace).Create(t.Context(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "alertmedic-webhook", Namespace: saNamespace},
		StringData: map[string]string{"token": "rbac-test-token"},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// With the base's ClusterRole bound cluster-wide, alertmedic's
// ServiceAccount can do every request its actions make, in any namespace,
// plus leader election and its records in its own namespace — and nothing
// else that matters: no Secrets, no deletes, no creates of workloads, no way
// to grant itself more. remediations.Executor, acting as the ServiceAccount,
// restarts, scales and rolls back each kind.
func TestRBACClusterWide(t *testing.T) {
	installRBAC(t, "manifests")
	createWebhookSecret(t)
	sa := asServiceAccount(t)
	waitAuthorized(t, authorizationv1.ResourceAttributes{Namespace: "team-a", Verb: "get", Group: "apps", Resource: "deployments"}, true)
	waitAuthorized(t, authorizationv1.ResourceAttributes{Namespace: saNamespace, Verb: "create", Group: "coordination.k8s.io", Resource: "leases"}, true)

	for _, ns := range []string{"team-a", "team-b"} {
		t.Run(ns, func(t *testing.T) {
			w := createWorkloads(t, ns, "")
			expectAllowed(t, actionChecks(sa, w))
			expectForbidden(t, deniedEverywhere(sa, w))
		})
	}
	t.Run("own namespace", func(t *testing.T) {
		expectAllowed(t, ownChecks(sa, "cluster-wide"))
		expectForbidden(t, ownDenied(sa))
	})
	t.Run("remediations.Executor in team-c", func(t *testing.T) {
		expectActionsSucceed(t, executorAsServiceAccount(t), createWorkloads(t, "team-c", ""))
	})
}

// With examples/overlays/namespaced, alertmedic acts in the namespaces it
// lists (shop, payments) exactly as cluster-wide, and every request of its
// actions — and every action of remediations.Executor — is Forbidden in a
// namespace it does not list, changing nothing there.
func TestRBACNamespacedOverlay(t *testing.T) {
	for _, ns := range []string{"shop", "payments", "billing"} {
		ensureNamespace(t, ns)
	}
	outside := authorizationv1.ResourceAttributes{Namespace: "billing", Verb: "get", Group: "apps", Resource: "deployments"}
	// No cluster-wide binding may be left from another test.
	a := newApplier(t, cluster.Config)
	for _, o := range kustomize(t, "manifests") {
		if o.GetKind() == "ClusterRoleBinding" {
			if err := a.delete(t.Context(), o); err != nil {
				t.Fatal(err)
			}
		}
	}
	installRBAC(t, "examples/overlays/namespaced")
	createWebhookSecret(t)
	sa := asServiceAccount(t)
	waitAuthorized(t, authorizationv1.ResourceAttributes{Namespace: "shop", Verb: "get", Group: "apps", Resource: "deployments"}, true)
	waitAuthorized(t, authorizationv1.ResourceAttributes{Namespace: "payments", Verb: "get", Group: "apps", Resource: "deployments"}, true)
	waitAuthorized(t, outside, false)

	for _, ns := range []string{"shop", "payments"} {
		t.Run("listed "+ns, func(t *testing.T) {
			w := createWorkloads(t, ns, "")
			expectAllowed(t, actionChecks(sa, w))
			expectForbidden(t, deniedEverywhere(sa, w))
		})
	}
	t.Run("not listed billing", func(t *testing.T) {
		w := createWorkloads(t, "billing", "")
		checks := actionChecks(sa, w)
		expectForbidden(t, checks)
		expectForbidden(t, deniedEverywhere(sa, w))
		// Nothing was changed there.
		d, err := cluster.Client.AppsV1().Deployments("billing").Get(t.Context(), w.deployment.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d.ResourceVersion != w.deployment.ResourceVersion || !strings.HasSuffix(d.Spec.Template.Spec.Containers[0].Image, ":v2") {
			t.Errorf("billing/web changed although every request was forbidden")
		}
	})
	t.Run("own namespace", func(t *testing.T) {
		expectAllowed(t, ownChecks(sa, "namespaced"))
		expectForbidden(t, ownDenied(sa))
	})
	t.Run("remediations.Executor in listed payments", func(t *testing.T) {
		expectActionsSucceed(t, executorAsServiceAccount(t), createWorkloads(t, "payments", "exec-"))
	})
	t.Run("remediations.Executor in not listed billing", func(t *testing.T) {
		expectActionsForbidden(t, executorAsServiceAccount(t), createWorkloads(t, "billing", "exec-"))
	})
}
