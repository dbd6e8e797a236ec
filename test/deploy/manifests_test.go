package deploy

import (
	"context"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/alertmedic/alertmedic/rules"
)

// The kustomizations platform teams apply, and what each must contain.
var builds = []struct {
	dir string
	// namespaces the user must have created first (RoleBindings go there).
	userNamespaces []string
	// kinds lists every object of the build as "Kind name" (a generated
	// ConfigMap by its name without the hash).
	kinds []string
}{
	{
		dir: "manifests",
		kinds: []string{
			"Namespace alertmedic", "CustomResourceDefinition remediations.alertmedic.io",
			"ServiceAccount alertmedic", "ClusterRole alertmedic-remediate",
			"ClusterRoleBinding alertmedic-remediate", "Role alertmedic", "RoleBinding alertmedic",
			"ValidatingAdmissionPolicy alertmedic-decisions", "ValidatingAdmissionPolicyBinding alertmedic-decisions",
			"ConfigMap alertmedic-rules", "Deployment alertmedic", "Service alertmedic",
			"PodDisruptionBudget alertmedic", "NetworkPolicy alertmedic",
		},
	},
	{
		dir:            "examples/overlays/namespaced",
		userNamespaces: []string{"shop", "payments"},
		kinds: []string{
			"Namespace alertmedic", "CustomResourceDefinition remediations.alertmedic.io",
			"ServiceAccount alertmedic", "ClusterRole alertmedic-remediate",
			"RoleBinding alertmedic-remediate", "RoleBinding alertmedic-remediate", // shop, payments
			"Role alertmedic", "RoleBinding alertmedic",
			"ValidatingAdmissionPolicy alertmedic-decisions", "ValidatingAdmissionPolicyBinding alertmedic-decisions",
			"ConfigMap alertmedic-rules", "Deployment alertmedic", "Service alertmedic",
			"PodDisruptionBudget alertmedic", "NetworkPolicy alertmedic",
		},
	},
	{
		dir: "examples/overlays/production",
		kinds: []string{
			"Namespace alertmedic", "CustomResourceDefinition remediations.alertmedic.io",
			"ServiceAccount alertmedic", "ClusterRole alertmedic-remediate",
			"ClusterRoleBinding alertmedic-remediate", "Role alertmedic", "RoleBinding alertmedic",
			"ValidatingAdmissionPolicy alertmedic-decisions", "ValidatingAdmissionPolicyBinding alertmedic-decisions",
			"ConfigMap alertmedic-dashboard", "ConfigMap alertmedic-rules", "Deployment alertmedic", "Service alertmedic",
			"PodDisruptionBudget alertmedic", "NetworkPolicy alertmedic", "NetworkPolicy alertmedic-slack",
			"ServiceMonitor alertmedic", "PrometheusRule alertmedic",
		},
	},
}

// monitoringGroup is the Prometheus Operator's API group. envtest has none of
// its CRDs, so its objects are checked by TestMonitoringComponent instead.
const monitoringGroup = "monitoring.coreos.com"

func kindsOf(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		name := o.GetName()
		if o.GetKind() == "ConfigMap" && strings.HasPrefix(name, "alertmedic-rules-") {
			name = "alertmedic-rules"
		}
		out = append(out, o.GetKind()+" "+name)
	}
	sort.Strings(out)
	return out
}

// Every object of the base and of each example overlay is accepted by a real
// API server: validated, defaulted and admitted (Pod Security included) by a
// server-side apply with dryRun=All, with no warning in the answer.
func TestManifestsApplyWithServerSideDryRun(t *testing.T) {
	for _, b := range builds {
		t.Run(b.dir, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			objs := kustomize(t, b.dir)
			want := slices.Clone(b.kinds)
			sort.Strings(want)
			if got := kindsOf(objs); !slices.Equal(got, want) {
				t.Fatalf("kubectl kustomize %s built\n  %s\nwant\n  %s", b.dir, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
			a := newApplier(t, cluster.Config)
			for _, ns := range b.userNamespaces {
				ensureNamespace(t, ns)
			}

			var clusterScoped, namespaced, monitoring []*unstructured.Unstructured
			for _, o := range objs {
				if o.GroupVersionKind().Group == monitoringGroup {
					monitoring = append(monitoring, o)
					continue
				}
				isNS, err := a.namespaced(o)
				if err != nil {
					t.Fatal(err)
				}
				if isNS {
					namespaced = append(namespaced, o)
				} else {
					clusterScoped = append(clusterScoped, o)
				}
			}
			for _, o := range clusterScoped {
				dryRunApply(ctx, t, a, o)
			}
			// Namespaced objects can only be dry-run into a namespace that
			// exists: the build's own Namespace is applied for real.
			for _, o := range clusterScoped {
				if o.GetKind() == "Namespace" {
					if _, err := a.apply(ctx, o, false); err != nil {
						t.Fatal(err)
					}
				}
			}
			for _, o := range namespaced {
				dryRunApply(ctx, t, a, o)
			}
			if len(monitoring) > 0 {
				if b.dir != "examples/overlays/production" || len(monitoring) != 2 {
					t.Fatalf("unexpected %s objects in %s: %d", monitoringGroup, b.dir, len(monitoring))
				}
				t.Logf("NOTE: %s and %s are not dry-run: envtest has no Prometheus Operator CRDs; TestMonitoringComponent checks them", ref(monitoring[0]), ref(monitoring[1]))
			}
		})
	}
}

func dryRunApply(ctx context.Context, t *testing.T, a *applier, o *unstructured.Unstructured) {
	t.Helper()
	w, err := a.apply(ctx, o, true)
	if err != nil {
		t.Errorf("the API server refused %s: %v", ref(o), err)
		return
	}
	if len(w) > 0 {
		t.Errorf("the API server accepted %s with warnings:\n  %s", ref(o), strings.Join(w, "\n  "))
	}
}

func ensureNamespace(t *testing.T, name string) {
	t.Helper()
	_, err := cluster.Client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

// The base holds what the install guide promises, wired together: the
// objects refer to each other by the right names, labels, ports and paths.
func TestBaseIsWiredTogether(t *testing.T) {
	objs := kustomize(t, "manifests")

	for _, o := range objs {
		if o.GetKind() == "Secret" {
			t.Errorf("the base holds Secret %s: credentials are created by the user (docs/install.md), never shipped", o.GetName())
		}
	}

	// The CRD is manifests/crds' generated file, not a copy.
	crdFile, err := os.ReadFile(filepath.Join(repo, "manifests/crds/alertmedic.io_remediations.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	crds, err := decodeObjects(crdFile)
	if err != nil || len(crds) != 1 {
		t.Fatalf("manifests/crds/alertmedic.io_remediations.yaml: %d objects, %v", len(crds), err)
	}
	if built := find(t, objs, "CustomResourceDefinition", "remediations.alertmedic.io"); !reflect.DeepEqual(built.Object, crds[0].Object) {
		t.Error("the CRD in the build differs from manifests/crds/alertmedic.io_remediations.yaml")
	}

	dep := typed[appsv1.Deployment](t, find(t, objs, "Deployment", "alertmedic"))
	pod := dep.Spec.Template.Spec
	podLabels := labels.Set(dep.Spec.Template.Labels)
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 2 {
		t.Errorf("Deployment replicas = %v, want 2", dep.Spec.Replicas)
	}
	if sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector); err != nil || !sel.Matches(podLabels) {
		t.Errorf("Deployment selector %v does not select its own pods (%v)", dep.Spec.Selector, err)
	}
	if pod.ServiceAccountName != "alertmedic" {
		t.Errorf("serviceAccountName = %q, want alertmedic", pod.ServiceAccountName)
	}
	sa := typed[corev1.ServiceAccount](t, find(t, objs, "ServiceAccount", "alertmedic"))
	if sa.Namespace != dep.Namespace {
		t.Errorf("ServiceAccount in %q, Deployment in %q", sa.Namespace, dep.Namespace)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(pod.Containers))
	}
	c := pod.Containers[0]

	// Restricted security context.
	psc, csc := pod.SecurityContext, c.SecurityContext
	if psc == nil || csc == nil {
		t.Fatal("pod and container securityContext must both be set")
	}
	if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || csc.RunAsNonRoot == nil || !*csc.RunAsNonRoot {
		t.Error("runAsNonRoot must be true")
	}
	if psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Error("runAsUser must be a non-zero UID (the image's user is 65532)")
	}
	if csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem {
		t.Error("readOnlyRootFilesystem must be true")
	}
	if csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation must be false")
	}
	if csc.Capabilities == nil || !slices.Equal(csc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(csc.Capabilities.Add) > 0 {
		t.Errorf("capabilities = %+v, want drop [ALL] and nothing added", csc.Capabilities)
	}
	if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("pod seccompProfile must be RuntimeDefault")
	}

	// Resources, probes, ports.
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[r]; !ok {
			t.Errorf("no %s request", r)
		}
		if _, ok := c.Resources.Limits[r]; !ok {
			t.Errorf("no %s limit", r)
		}
	}
	portNames := map[string]int32{}
	for _, p := range c.Ports {
		portNames[p.Name] = p.ContainerPort
	}
	for name, p := range map[string]*corev1.Probe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != name {
			t.Errorf("want an HTTP probe on %s, got %+v", name, p)
			continue
		}
		if _, ok := portNames[p.HTTPGet.Port.StrVal]; !ok {
			t.Errorf("probe %s uses port %v, not a named container port", name, p.HTTPGet.Port)
		}
	}
	args := map[string]string{}
	for _, a := range c.Args[1:] {
		k, v, _ := strings.Cut(a, "=")
		args[k] = v
	}
	if c.Args[0] != "serve" {
		t.Errorf("args start %q, want serve", c.Args[0])
	}
	if listen := args["--listen"]; !strings.HasSuffix(listen, ":8080") || portNames["http"] != 8080 {
		t.Errorf("--listen=%q but container port http is %d", listen, portNames["http"])
	}

	// Volumes: rules from the generated ConfigMap, token from a Secret.
	cm := findGenerated(t, objs, "ConfigMap", "alertmedic-rules")
	mounts := map[string]string{} // mount path -> volume name
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.Name
		if m.MountPath != "/tmp" && !m.ReadOnly {
			t.Errorf("volume %s at %s is writable", m.Name, m.MountPath)
		}
	}
	volume := func(mountPath string) *corev1.Volume {
		t.Helper()
		name, ok := mounts[mountPath]
		if !ok {
			t.Fatalf("nothing is mounted at %s", mountPath)
		}
		for i := range pod.Volumes {
			if pod.Volumes[i].Name == name {
				return &pod.Volumes[i]
			}
		}
		t.Fatalf("no volume %s", name)
		return nil
	}
	if v := volume(args["--rules"]); v.ConfigMap == nil || v.ConfigMap.Name != cm.GetName() {
		t.Errorf("--rules=%s is not the alertmedic-rules ConfigMap (%+v)", args["--rules"], v.VolumeSource)
	}
	tokenDir, tokenFile := path.Split(args["--token-file"])
	if v := volume(path.Clean(tokenDir)); v.Secret == nil || v.Secret.SecretName != "alertmedic-webhook" || v.Secret.Optional != nil && *v.Secret.Optional ||
		!slices.Contains(v.Secret.Items, corev1.KeyToPath{Key: "token", Path: tokenFile}) {
		t.Errorf("--token-file=%s is not key token of the required Secret alertmedic-webhook (%+v)", args["--token-file"], v.VolumeSource)
	}
	if v := volume("/etc/alertmedic/slack"); v.Secret == nil || v.Secret.SecretName != "alertmedic-slack" {
		t.Errorf("Slack credentials are not the Secret alertmedic-slack (%+v)", v.VolumeSource)
	}
	for _, e := range c.Env {
		up := strings.ToUpper(e.Name)
		if e.Value != "" && (strings.Contains(up, "TOKEN") || strings.Contains(up, "SECRET") || strings.Contains(up, "PASSWORD")) {
			t.Errorf("env %s holds a literal value: credentials come from Secrets", e.Name)
		}
	}

	// The rule file the base ships loads (and changes nothing: no rules).
	dir := t.TempDir()
	for name, data := range cm.Object["data"].(map[string]any) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data.(string)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	set, err := rules.LoadFiles(dir)
	if err != nil {
		t.Fatalf("the base's rules ConfigMap does not load: %v", err)
	}
	if set.Len() != 0 {
		t.Errorf("the base ships %d rules; it must act on nothing until the user adds rules", set.Len())
	}

	// Service, PDB and NetworkPolicy select the Deployment's pods.
	svc := typed[corev1.Service](t, find(t, objs, "Service", "alertmedic"))
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) {
		t.Errorf("Service selector %v does not select the pods %v", svc.Spec.Selector, podLabels)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 8080 || svc.Spec.Ports[0].TargetPort != intstr.FromString("http") {
		t.Errorf("Service ports = %+v, want 8080 -> http (examples/alertmanager.yml posts to :8080)", svc.Spec.Ports)
	}
	pdb := typed[policyv1.PodDisruptionBudget](t, find(t, objs, "PodDisruptionBudget", "alertmedic"))
	if sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector); err != nil || !sel.Matches(podLabels) {
		t.Errorf("PDB selector %v does not select the pods", pdb.Spec.Selector)
	}
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 {
		t.Errorf("PDB minAvailable = %v, want 1 of the 2 replicas", pdb.Spec.MinAvailable)
	}
	np := typed[networkingv1.NetworkPolicy](t, find(t, objs, "NetworkPolicy", "alertmedic"))
	if sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector); err != nil || !sel.Matches(podLabels) {
		t.Errorf("NetworkPolicy podSelector %v does not select the pods", np.Spec.PodSelector)
	}
	if len(np.Spec.Ingress) != 1 || len(np.Spec.Ingress[0].Ports) != 1 || *np.Spec.Ingress[0].Ports[0].Port != intstr.FromString("http") {
		t.Errorf("NetworkPolicy ingress = %+v, want one rule to port http", np.Spec.Ingress)
	}

	// RBAC binds the ServiceAccount.
	sub := rbacv1.Subject{Kind: "ServiceAccount", Name: sa.Name, Namespace: sa.Namespace}
	crb := typed[rbacv1.ClusterRoleBinding](t, find(t, objs, "ClusterRoleBinding", "alertmedic-remediate"))
	if !slices.Equal(crb.Subjects, []rbacv1.Subject{sub}) || crb.RoleRef.Kind != "ClusterRole" || crb.RoleRef.Name != "alertmedic-remediate" {
		t.Errorf("ClusterRoleBinding = %+v", crb)
	}
	rb := typed[rbacv1.RoleBinding](t, find(t, objs, "RoleBinding", "alertmedic"))
	if !slices.Equal(rb.Subjects, []rbacv1.Subject{sub}) || rb.RoleRef.Kind != "Role" || rb.Namespace != sa.Namespace {
		t.Errorf("RoleBinding = %+v", rb)
	}
}

// The RBAC rules are exactly the reviewed set: a new permission must be
// added here too, on purpose.
func TestRBACRulesAreTheReviewedSet(t *testing.T) {
	objs := kustomize(t, "manifests")
	cr := typed[rbacv1.ClusterRole](t, find(t, objs, "ClusterRole", "alertmedic-remediate"))
	wantCluster := []rbacv1.PolicyRule{
		{APIGroups: []string{"apps"}, Resources: []string{"deployments", "statefulsets", "daemonsets"}, Verbs: []string{"get", "patch"}},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments/scale", "statefulsets/scale"}, Verbs: []string{"get", "update"}},
		{APIGroups: []string{"autoscaling"}, Resources: []string{"horizontalpodautoscalers"}, Verbs: []string{"list", "get", "patch"}},
		{APIGroups: []string{"apps"}, Resources: []string{"replicasets", "controllerrevisions"}, Verbs: []string{"list"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch", "list"}},
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list"}},
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}},
		{APIGroups: []string{""}, Resources: []string{"pods/eviction"}, Verbs: []string{"create"}},
		{APIGroups: []string{"apps"}, Resources: []string{"replicasets"}, Verbs: []string{"get"}},
		{APIGroups: []string{"batch"}, Resources: []string{"cronjobs"}, Verbs: []string{"get"}},
		{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"get", "create"}},
	}
	if !reflect.DeepEqual(cr.Rules, wantCluster) {
		t.Errorf("ClusterRole alertmedic-remediate rules =\n%+v\nwant\n%+v", cr.Rules, wantCluster)
	}
	role := typed[rbacv1.Role](t, find(t, objs, "Role", "alertmedic"))
	wantRole := []rbacv1.PolicyRule{
		{APIGroups: []string{"alertmedic.io"}, Resources: []string{"remediations"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
		{APIGroups: []string{"alertmedic.io"}, Resources: []string{"remediations/status"}, Verbs: []string{"get", "update", "patch"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "list", "watch", "create", "update"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"alertmedic-breaker"}, Verbs: []string{"get", "list", "watch", "update"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"create"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
	}
	if !reflect.DeepEqual(role.Rules, wantRole) {
		t.Errorf("Role alertmedic rules =\n%+v\nwant\n%+v", role.Rules, wantRole)
	}
	if role.Namespace != "alertmedic" {
		t.Errorf("Role in namespace %q, want alertmedic", role.Namespace)
	}
}

// The pod alertmedic's Deployment creates passes the "restricted" Pod
// Security Standard, enforced by the API server's own admission on the
// Namespace of the base; a pod without the security context is refused
// there (so the check is not vacuous).
func TestPodMeetsRestrictedPodSecurity(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	objs := kustomize(t, "manifests")
	a := newApplier(t, cluster.Config)
	ns := find(t, objs, "Namespace", "alertmedic")
	if ns.GetLabels()["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Fatalf("Namespace alertmedic labels = %v, want pod-security.kubernetes.io/enforce=restricted", ns.GetLabels())
	}
	if _, err := a.apply(ctx, ns, false); err != nil {
		t.Fatal(err)
	}
	dep := typed[appsv1.Deployment](t, find(t, objs, "Deployment", "alertmedic"))
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "alertmedic-psa-check", Namespace: dep.Namespace, Labels: dep.Spec.Template.Labels},
		Spec:       *dep.Spec.Template.Spec.DeepCopy(),
	}
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldManager: testFieldManager}
	if _, err := cluster.Client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, dry); err != nil {
		t.Fatalf("the Deployment's pod is refused in namespace %s: %v", pod.Namespace, err)
	}

	loose := pod.DeepCopy()
	loose.Spec.SecurityContext = nil
	loose.Spec.Containers[0].SecurityContext = nil
	_, err := cluster.Client.CoreV1().Pods(pod.Namespace).Create(ctx, loose, dry)
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "PodSecurity") {
		t.Fatalf("a pod without securityContext in namespace %s: err = %v, want Forbidden by PodSecurity (is Pod Security admission on?)", pod.Namespace, err)
	}
}
