package deploy

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/alertmedic/alertmedic/rules"
)

// chartDir is the Helm chart, relative to the repository root.
const chartDir = "charts/alertmedic"

// releaseNamespace is where the chart tests install, the namespace of
// manifests/ (so that both render the same objects).
const releaseNamespace = "alertmedic"

var helmOnce struct {
	sync.Once
	path string
	err  error
	out  string
}

// helmBinary returns the Helm that hack/helm.sh builds from the Go module
// proxy (once, into ~/.cache/alertmedic). It fails the test, never skips it,
// when it cannot.
func helmBinary(t *testing.T) string {
	t.Helper()
	helmOnce.Do(func() {
		cmd := exec.Command(filepath.Join(repo, "hack", "helm.sh"))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		helmOnce.out = stderr.String()
		if err != nil {
			helmOnce.err = err
			return
		}
		helmOnce.path = strings.TrimSpace(string(out))
		if fi, err := os.Stat(helmOnce.path); err != nil || fi.Mode()&0o111 == 0 {
			helmOnce.err = err
			if err == nil {
				helmOnce.err = os.ErrPermission
			}
		}
	})
	if helmOnce.err != nil {
		t.Fatalf("hack/helm.sh could not provide Helm, which the chart tests need (it builds helm.sh/helm/v3/cmd/helm from the Go module proxy): %v\n%s", helmOnce.err, helmOnce.out)
	}
	return helmOnce.path
}

// helmEnv keeps Helm's cache, configuration and data out of the user's home.
func helmEnv(t *testing.T, extra ...string) []string {
	t.Helper()
	home := t.TempDir()
	env := append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"))
	return append(env, extra...)
}

// helm runs Helm in the repository root and returns its standard output and
// error.
func helm(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(helmBinary(t), args...)
	cmd.Dir = repo
	cmd.Env = helmEnv(t)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// renderChart is `helm template alertmedic charts/alertmedic --namespace
// alertmedic --include-crds` with args added, decoded.
func renderChart(t *testing.T, args ...string) []*unstructured.Unstructured {
	t.Helper()
	all := append([]string{"template", "alertmedic", chartDir, "--namespace", releaseNamespace, "--include-crds"}, args...)
	out, stderr, err := helm(t, all...)
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(all, " "), err, stderr)
	}
	objs, err := decodeObjects([]byte(out))
	if err != nil {
		t.Fatalf("helm %s: %v", strings.Join(all, " "), err)
	}
	return objs
}

// valuesExamples are the values files the docs point to, relative to the
// repository root.
func valuesExamples(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repo, "examples", "helm", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no values examples in examples/helm")
	}
	for i, f := range files {
		files[i], _ = filepath.Rel(repo, f)
	}
	return files
}

// helm lint passes on the chart with its defaults and with every values
// example.
func TestChartLint(t *testing.T) {
	cases := [][]string{nil}
	for _, f := range valuesExamples(t) {
		cases = append(cases, []string{"--values", f})
	}
	for _, c := range cases {
		args := append([]string{"lint", chartDir, "--strict"}, c...)
		if out, stderr, err := helm(t, args...); err != nil {
			t.Errorf("helm %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
		}
	}
}

// A misspelt or unknown key in the values is an error, from helm lint,
// template and install alike (values.schema.json), naming the key; so is a
// value of the wrong kind.
func TestChartValuesSchemaRejectsMistakes(t *testing.T) {
	cases := []struct {
		name, values string
		want         []string
	}{
		{"misspelt top-level key", "replica: 3\n", []string{"replica", "additional properties"}},
		{"misspelt nested key", "slack:\n  enable: true\n", []string{"slack", "enable", "additional properties"}},
		{"misspelt policy key", "policy:\n  requireApprovals: [rollback]\n", []string{"requireApprovals"}},
		{"wrong kind", "replicas: two\n", []string{"replicas"}},
		{"unknown action", "policy:\n  requireApproval: [reboot]\n", []string{"requireApproval"}},
		{"unknown RBAC scope", "rbac:\n  scope: namespace\n", []string{"rbac", "scope"}},
		{"namespaced RBAC without namespaces", "rbac:\n  scope: namespaces\n", []string{"namespaces"}},
		{"unknown Slack mode", "slack:\n  mode: websocket\n", []string{"mode"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "values.yaml")
			if err := os.WriteFile(f, []byte(c.values), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, cmd := range [][]string{
				{"template", "alertmedic", chartDir, "--namespace", releaseNamespace, "--values", f},
				{"lint", chartDir, "--values", f},
			} {
				out, stderr, err := helm(t, cmd...)
				if err == nil {
					t.Errorf("helm %s accepted %q", cmd[0], c.values)
					continue
				}
				msg := out + stderr
				for _, w := range c.want {
					if !strings.Contains(msg, w) {
						t.Errorf("helm %s with %q: the error does not name %q:\n%s", cmd[0], c.values, w, msg)
					}
				}
			}
		})
	}
}

// alertmanagerConfigCRD installs, once per test binary, the cut-down
// prometheus-operator CRD of testdata so that AlertmanagerConfigs can be
// dry-run.
var alertmanagerConfigCRD sync.Once

func installAlertmanagerConfigCRD(t *testing.T) {
	t.Helper()
	var failed error
	alertmanagerConfigCRD.Do(func() {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		failed = cluster.ApplyFile(ctx, filepath.Join("testdata", "monitoring.coreos.com_alertmanagerconfigs.yaml"), nil)
		if failed != nil {
			return
		}
		failed = waitFor(ctx, 30*time.Second, "the AlertmanagerConfig CRD to be established", func() (bool, error) {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			if err := cluster.Client.Discovery().RESTClient().Get().AbsPath("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/alertmanagerconfigs.monitoring.coreos.com").Do(ctx).Into(crd); err != nil {
				return false, err
			}
			for _, c := range crd.Status.Conditions {
				if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		})
	})
	if failed != nil {
		t.Fatalf("install the AlertmanagerConfig CRD: %v", failed)
	}
}

// applyNamespace applies manifests/namespace.yaml for real: the install
// guide has the user do so before helm install (Pod Security "restricted").
func applyNamespace(t *testing.T) {
	t.Helper()
	a := newApplier(t, cluster.Config)
	if _, err := a.apply(t.Context(), find(t, kustomize(t, "manifests"), "Namespace", releaseNamespace), false); err != nil {
		t.Fatal(err)
	}
}

// The chart, with its defaults and with every values example, renders
// objects a real API server accepts (server-side apply, dryRun=All: validated,
// defaulted and admitted, Pod Security included) with no warning. The
// ServiceMonitor and PrometheusRule, whose CRDs envtest lacks, are compared
// with manifests/ by TestChartAgreesWithManifests instead.
func TestChartAppliesWithServerSideDryRun(t *testing.T) {
	installAlertmanagerConfigCRD(t)
	applyNamespace(t)
	cases := map[string][]string{"defaults": nil}
	for _, f := range valuesExamples(t) {
		cases[f] = []string{"--values", f}
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			objs := renderChart(t, args...)
			a := newApplier(t, cluster.Config)
			var clusterScoped, namespaced []*unstructured.Unstructured
			for _, o := range objs {
				if k := o.GetKind(); k == "ServiceMonitor" || k == "PrometheusRule" {
					continue
				}
				isNS, err := a.namespaced(o)
				if err != nil {
					t.Fatal(err)
				}
				if isNS {
					namespaced = append(namespaced, o)
					if o.GetNamespace() != releaseNamespace {
						ensureNamespace(t, o.GetNamespace()) // rbac.namespaces exist before install
					}
				} else {
					clusterScoped = append(clusterScoped, o)
				}
			}
			for _, o := range append(clusterScoped, namespaced...) {
				dryRunApply(ctx, t, a, o)
			}
		})
	}
}

// strip removes what only one of the two installs writes: Helm's labels and
// the namespace kustomize puts on cluster-scoped admission objects.
func strip(o *unstructured.Unstructured) map[string]any {
	c := o.DeepCopy()
	c.SetLabels(nil)
	c.SetAnnotations(nil)
	if strings.HasPrefix(c.GetKind(), "ValidatingAdmissionPolicy") {
		c.SetNamespace("")
	}
	return c.Object
}

// The chart and manifests/ are one install: the same CRD file, the same RBAC
// rules, the same pod (security context, probes, mounts, arguments), the
// same admission policy, alerts and dashboard. hack/generate.sh copies the
// files the chart reads; this test also catches a template that strays.
func TestChartAgreesWithManifests(t *testing.T) {
	crdFile := "alertmedic.io_remediations.yaml"
	want, err := os.ReadFile(filepath.Join(repo, "manifests", "crds", crdFile))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(repo, chartDir, "crds", crdFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s/crds/%s differs from manifests/crds/%s: run make generate", chartDir, crdFile, crdFile)
	}

	base := kustomize(t, "manifests")
	prod := kustomize(t, "examples/overlays/production")
	chart := renderChart(t)
	full := renderChart(t, "--set", "monitoring.serviceMonitor.enabled=true,monitoring.prometheusRule.enabled=true,monitoring.dashboard.enabled=true")

	same := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: the chart renders\n%+v\nmanifests/ has\n%+v", what, got, want)
		}
	}
	same("CRD", strip(find(t, chart, "CustomResourceDefinition", "remediations.alertmedic.io")), strip(find(t, base, "CustomResourceDefinition", "remediations.alertmedic.io")))
	same("ClusterRole alertmedic-remediate rules",
		typed[rbacv1.ClusterRole](t, find(t, chart, "ClusterRole", "alertmedic-remediate")).Rules,
		typed[rbacv1.ClusterRole](t, find(t, base, "ClusterRole", "alertmedic-remediate")).Rules)
	same("Role alertmedic rules",
		typed[rbacv1.Role](t, find(t, chart, "Role", "alertmedic")).Rules,
		typed[rbacv1.Role](t, find(t, base, "Role", "alertmedic")).Rules)
	for _, b := range []struct{ kind, name string }{
		{"ClusterRoleBinding", "alertmedic-remediate"}, {"RoleBinding", "alertmedic"}, {"ServiceAccount", "alertmedic"},
		{"Service", "alertmedic"}, {"PodDisruptionBudget", "alertmedic"}, {"NetworkPolicy", "alertmedic"},
	} {
		same(b.kind+" "+b.name, strip(find(t, chart, b.kind, b.name)), strip(find(t, base, b.kind, b.name)))
	}

	// The admission policy is manifests/admission's files as they are
	// (kustomize re-folds the policy's folded expression scalar, so the
	// files, not its build, are the reference).
	for _, f := range []struct{ kind, file string }{
		{"ValidatingAdmissionPolicy", "policy.yaml"}, {"ValidatingAdmissionPolicyBinding", "binding.yaml"},
	} {
		data, err := os.ReadFile(filepath.Join(repo, "manifests", "admission", f.file))
		if err != nil {
			t.Fatal(err)
		}
		objs, err := decodeObjects(data)
		if err != nil || len(objs) != 1 {
			t.Fatalf("manifests/admission/%s: %d objects, %v", f.file, len(objs), err)
		}
		same(f.kind, strip(find(t, chart, f.kind, "alertmedic-decisions")), strip(objs[0]))
	}

	gotDep := typed[appsv1.Deployment](t, find(t, chart, "Deployment", "alertmedic"))
	wantDep := typed[appsv1.Deployment](t, find(t, base, "Deployment", "alertmedic"))
	gp, wp := gotDep.Spec.Template.Spec, wantDep.Spec.Template.Spec
	same("pod securityContext", gp.SecurityContext, wp.SecurityContext)
	same("container securityContext", gp.Containers[0].SecurityContext, wp.Containers[0].SecurityContext)
	same("container args", gp.Containers[0].Args, wp.Containers[0].Args)
	same("container env", gp.Containers[0].Env, wp.Containers[0].Env)
	same("container ports", gp.Containers[0].Ports, wp.Containers[0].Ports)
	same("probes", []*corev1.Probe{gp.Containers[0].ReadinessProbe, gp.Containers[0].LivenessProbe}, []*corev1.Probe{wp.Containers[0].ReadinessProbe, wp.Containers[0].LivenessProbe})
	same("resources", gp.Containers[0].Resources, wp.Containers[0].Resources)
	same("volume mounts", gp.Containers[0].VolumeMounts, wp.Containers[0].VolumeMounts)
	same("replicas and strategy", []any{gotDep.Spec.Replicas, gotDep.Spec.Strategy, gotDep.Spec.Selector}, []any{wantDep.Spec.Replicas, wantDep.Spec.Strategy, wantDep.Spec.Selector})
	same("pod settings", []any{gp.ServiceAccountName, gp.AutomountServiceAccountToken, gp.EnableServiceLinks, gp.TerminationGracePeriodSeconds, gp.TopologySpreadConstraints},
		[]any{wp.ServiceAccountName, wp.AutomountServiceAccountToken, wp.EnableServiceLinks, wp.TerminationGracePeriodSeconds, wp.TopologySpreadConstraints})
	rulesCM := findGenerated(t, base, "ConfigMap", "alertmedic-rules")
	wantVolumes := slices.Clone(wp.Volumes)
	wantVolumes[0].ConfigMap.Name = "alertmedic-rules" // kustomize adds its hash
	same("volumes", gp.Volumes, wantVolumes)
	// The default rule files, like the base's, load and act on nothing.
	for what, cm := range map[string]*unstructured.Unstructured{"the chart": find(t, chart, "ConfigMap", "alertmedic-rules"), "manifests/": rulesCM} {
		dir := t.TempDir()
		for name, data := range cm.Object["data"].(map[string]any) {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(data.(string)), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		set, err := rules.LoadFiles(dir)
		if err != nil {
			t.Fatalf("the default rule files of %s do not load: %v", what, err)
		}
		if set.Len() != 0 {
			t.Errorf("the default rule files of %s hold %d rules; an install must act on nothing until rules are added", what, set.Len())
		}
	}

	same("ServiceMonitor spec", find(t, full, "ServiceMonitor", "alertmedic").Object["spec"], find(t, prod, "ServiceMonitor", "alertmedic").Object["spec"])
	same("PrometheusRule spec", find(t, full, "PrometheusRule", "alertmedic").Object["spec"], find(t, prod, "PrometheusRule", "alertmedic").Object["spec"])
	same("dashboard", find(t, full, "ConfigMap", "alertmedic-dashboard").Object["data"], find(t, prod, "ConfigMap", "alertmedic-dashboard").Object["data"])

	// The only objects are these (and the webhook token Secret the chart
	// makes when none is given).
	var kinds []string
	for _, o := range chart {
		kinds = append(kinds, o.GetKind()+" "+o.GetName())
	}
	sort.Strings(kinds)
	wantKinds := []string{
		"ClusterRole alertmedic-remediate", "ClusterRoleBinding alertmedic-remediate", "ConfigMap alertmedic-rules",
		"CustomResourceDefinition remediations.alertmedic.io", "Deployment alertmedic", "NetworkPolicy alertmedic",
		"PodDisruptionBudget alertmedic", "Role alertmedic", "RoleBinding alertmedic", "Secret alertmedic-webhook",
		"Service alertmedic", "ServiceAccount alertmedic",
		"ValidatingAdmissionPolicy alertmedic-decisions", "ValidatingAdmissionPolicyBinding alertmedic-decisions",
	}
	same("objects", kinds, wantKinds)
}

// The chart's values reach the pod as the flags they name, and the
// namespaced RBAC scope binds the ClusterRole in exactly the listed
// namespaces.
func TestChartValues(t *testing.T) {
	objs := renderChart(t, "--values", "examples/helm/namespaced-slack.yaml")
	dep := typed[appsv1.Deployment](t, find(t, objs, "Deployment", "alertmedic"))
	args := dep.Spec.Template.Spec.Containers[0].Args
	for _, want := range []string{
		"--require-approval=rollback,scale-down", "--allow-namespaces=shop,payments",
		"--slack-bot-token-file=/etc/alertmedic/slack/bot-token", "--slack-app-token-file=/etc/alertmedic/slack/app-token",
		"--slack-channel=C0123456", "--slack-approvers=S0456", "--breaker-max=10", "--max-per-target=3",
	} {
		if !slices.Contains(args, want) {
			t.Errorf("args %q lack %s", args, want)
		}
	}
	for _, v := range dep.Spec.Template.Spec.Volumes {
		if v.Name == "slack" && (v.Secret.Optional == nil || *v.Secret.Optional) {
			t.Errorf("with Slack on, its Secret must be required: %+v", v.Secret)
		}
	}
	var bound []string
	for _, o := range objs {
		switch {
		case o.GetKind() == "ClusterRoleBinding":
			t.Errorf("rbac.scope namespaces renders %s", ref(o))
		case o.GetKind() == "RoleBinding" && o.GetName() == "alertmedic-remediate":
			bound = append(bound, o.GetNamespace())
		}
	}
	same := slices.Equal(bound, []string{"shop", "payments"})
	if !same {
		t.Errorf("RoleBindings alertmedic-remediate in %v, want shop and payments", bound)
	}
	if slices.ContainsFunc(objs, func(o *unstructured.Unstructured) bool {
		return o.GetName() == "alertmedic-slack" && o.GetKind() == "NetworkPolicy"
	}) {
		t.Error("Socket Mode needs no ingress, yet the Slack NetworkPolicy is rendered")
	}
}

// The chart's RBAC, installed as helm would, lets alertmedic's
// ServiceAccount make every request of its actions and nothing else: the
// same impersonation checks as for manifests/, cluster-wide and with
// rbac.scope namespaces.
func TestRBACChart(t *testing.T) {
	applyNamespace(t)
	t.Run("cluster", func(t *testing.T) {
		installRBACObjects(t, renderChart(t))
		createWebhookSecret(t)
		sa := asServiceAccount(t)
		waitAuthorized(t, authorizationv1.ResourceAttributes{Namespace: "chart-a", Verb: "get", Group: "apps", Resource: "deployments"}, true)
		waitAuthorized(t, authorizationv1.ResourceAttributes{Namespace: saNamespace, Verb: "create", Group: "coordination.k8s.io", Resource: "leases"}, true)
		w := createWorkloads(t, "chart-a", "")
		expectAllowed(t, actionChecks(sa, w))
		expectForbidden(t, deniedEverywhere(sa, w))
		expectAllowed(t, ownChecks(sa, "chart-cluster"))
		expectForbidden(t, ownDenied(sa))
	})
	t.Run("namespaces", func(t *testing.T) {
		for _, ns := range []string{"chart-in", "chart-out"} {
			ensureNamespace(t, ns)
		}
		a := newApplier(t, cluster.Config)
		for _, o := range kustomize(t, "manifests") {
			if o.GetKind() == "ClusterRoleBinding" {
				if err := a.delete(t.Context(), o); err != nil {
					t.Fatal(err)
				}
			}
		}
		installRBACObjects(t, renderChart(t, "--set", "rbac.scope=namespaces,rbac.namespaces={chart-in}"))
		createWebhookSecret(t)
		sa := asServiceAccount(t)
		waitAuthorized(t, authorizationv1.ResourceAttributes{Namespace: "chart-in", Verb: "get", Group: "apps", Resource: "deployments"}, true)
		waitAuthorized(t, authorizationv1.ResourceAttributes{Namespace: "chart-out", Verb: "get", Group: "apps", Resource: "deployments"}, false)
		in := createWorkloads(t, "chart-in", "")
		expectAllowed(t, actionChecks(sa, in))
		expectForbidden(t, deniedEverywhere(sa, in))
		out := createWorkloads(t, "chart-out", "")
		expectForbidden(t, actionChecks(sa, out))
		d, err := cluster.Client.AppsV1().Deployments("chart-out").Get(t.Context(), out.deployment.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d.ResourceVersion != out.deployment.ResourceVersion {
			t.Error("chart-out/web changed although every request was forbidden")
		}
		expectAllowed(t, ownChecks(sa, "chart-namespaces"))
		expectForbidden(t, ownDenied(sa))
	})
}

// The chart asks for the Kubernetes its admission policy needs (1.30):
// Helm refuses an older cluster by name before it renders anything, and
// takes a provider's version of a release it does support.
func TestChartRefusesKubernetesBefore130(t *testing.T) {
	for _, c := range []struct {
		version string
		ok      bool
	}{
		{"1.29.9", false},
		{"1.30.0", true},
		{"1.30.2-eks-1234", true},
		{"1.36.3", true},
	} {
		args := []string{"template", "alertmedic", chartDir, "--namespace", releaseNamespace, "--kube-version", c.version}
		_, stderr, err := helm(t, args...)
		switch {
		case c.ok && err != nil:
			t.Errorf("Kubernetes %s: helm template refused it: %v\n%s", c.version, err, stderr)
		case !c.ok && err == nil:
			t.Errorf("Kubernetes %s: helm template rendered the chart; want it refused", c.version)
		case !c.ok && !strings.Contains(stderr, ">=1.30.0-0"):
			t.Errorf("Kubernetes %s: helm's error does not say which version the chart needs:\n%s", c.version, stderr)
		}
	}
}
