package testcluster

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

var cluster *Cluster

// The package's tests run on a full cluster; what they check of the API
// server holds for the bare one too, which is the same envtest control plane.
func TestMain(m *testing.M) { MainWith(m, "these tests", Options{Full: true}, &cluster) }

func TestServerVersionIsTheBuiltOne(t *testing.T) {
	v, err := cluster.Client.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion == "" || v.Major != "1" {
		t.Fatalf("server version %+v", v)
	}
	t.Logf("kube-apiserver %s", v.GitVersion)
}

// The demo's workloads apply as written, ReplicaSets owned by the Deployment.
func TestApplyDemoWorkloads(t *testing.T) {
	ctx := t.Context()
	if err := cluster.ApplyFile(ctx, "../../examples/demo/checkout.yaml", nil); err != nil {
		t.Fatal(err)
	}
	d, err := cluster.Client.AppsV1().Deployments("shop").Get(ctx, "checkout", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cluster.ApplyFile(ctx, "../../examples/demo/replicasets.yaml.tmpl", map[string]string{"DEPLOYMENT_UID": string(d.UID)}); err != nil {
		t.Fatal(err)
	}
	rs, err := cluster.Client.AppsV1().ReplicaSets("shop").Get(ctx, "checkout-v1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ref := metav1.GetControllerOf(rs); ref == nil || ref.UID != d.UID {
		t.Fatalf("checkout-v1 controller = %+v, want the Deployment %s", ref, d.UID)
	}
	if err := cluster.ApplyFile(ctx, "../../examples/demo/checkout.yaml", nil); err == nil {
		t.Fatal("applying existing objects again did not fail")
	}
}

// The Remediation CRD from manifests/crds is installed and accepts a record.
func TestRemediationCRDInstalled(t *testing.T) {
	dyn, err := dynamic.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	rec := []byte(`
apiVersion: v1
kind: Namespace
metadata: {name: alertmedic}
---
apiVersion: alertmedic.io/v1alpha1
kind: Remediation
metadata: {name: rem-test, namespace: alertmedic}
spec:
  rule: restart-crashlooping
  action: restart
  target: {kind: Deployment, namespace: shop, name: cart}
  targetRef: Deployment/shop/cart
  alert: {name: KubePodCrashLooping, fingerprint: 5e7b2c0a1f3d9e41, startsAt: "2026-11-22T10:00:00Z"}
`)
	if err := cluster.Apply(ctx, rec); err != nil {
		t.Fatal(err)
	}
	gvr := schema.GroupVersionResource{Group: "alertmedic.io", Version: "v1alpha1", Resource: "remediations"}
	got, err := dyn.Resource(gvr).Namespace("alertmedic").Get(ctx, "rem-test", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ref, _, _ := unstructuredString(got.Object, "spec", "targetRef"); ref != "Deployment/shop/cart" {
		t.Fatalf("targetRef = %q", ref)
	}
	bad := []byte(`
apiVersion: alertmedic.io/v1alpha1
kind: Remediation
metadata: {name: rem-bad, namespace: alertmedic}
spec:
  rule: x
  action: delete-everything
  target: {kind: Deployment, namespace: shop, name: cart}
  targetRef: Deployment/shop/cart
  alert: {name: A, fingerprint: f, startsAt: "2026-11-22T10:00:00Z"}
`)
	if err := cluster.Apply(ctx, bad); err == nil {
		t.Fatal("a Remediation with an unknown action was accepted")
	}
}

func unstructuredString(obj map[string]any, fields ...string) (string, bool, error) {
	var cur any = obj
	for _, f := range fields {
		m, ok := cur.(map[string]any)
		if !ok {
			return "", false, nil
		}
		cur = m[f]
	}
	s, ok := cur.(string)
	return s, ok, nil
}
