package testcluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// waitLong waits up to a minute for cond: pods go through the scheduler,
// kwok and the ReplicaSet controller, each with its own resync.
func waitLong(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ok, err := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (last error: %v)", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func deployment(ns, name, image string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
			},
		},
	}
}

func namespace(t *testing.T, name string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := cluster.Client.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return name
}

// A Deployment in the full cluster is reconciled as in a real one: its
// ReplicaSet and pods are made, the pods scheduled to the fake node and
// reported Ready, the Deployment available; a new image makes revision 2,
// and the old ReplicaSet is scaled down, kept as history.
func TestFullClusterReconcilesADeployment(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, "reconcile")
	apps := cluster.Client.AppsV1().Deployments(ns)
	if _, err := apps.Create(ctx, deployment(ns, "web", "web:1", 3), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitLong(t, "web 3/3 available", func() (bool, error) {
		d, err := apps.Get(ctx, "web", metav1.GetOptions{})
		return err == nil && d.Status.AvailableReplicas == 3 && d.Status.ObservedGeneration == d.Generation, err
	})
	pods, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.Spec.NodeName == "" || p.Status.Phase != corev1.PodRunning {
			t.Errorf("pod %s: node %q, phase %s; want scheduled and Running", p.Name, p.Spec.NodeName, p.Status.Phase)
		}
	}

	patch := `{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"web:2"}]}}}}`
	if _, err := apps.Patch(ctx, "web", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitLong(t, "revision 2 rolled out", func() (bool, error) {
		d, err := apps.Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		done := d.Status.ObservedGeneration == d.Generation && d.Status.UpdatedReplicas == 3 &&
			d.Status.AvailableReplicas == 3 && d.Status.Replicas == 3
		return done && d.Annotations["deployment.kubernetes.io/revision"] == "2", nil
	})
	rss, err := cluster.Client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	revisions := map[string]int32{}
	for _, rs := range rss.Items {
		revisions[rs.Annotations["deployment.kubernetes.io/revision"]] = *rs.Spec.Replicas
	}
	if fmt.Sprint(revisions) != "map[1:0 2:3]" {
		t.Errorf("ReplicaSets by revision (replicas) = %v, want map[1:0 2:3]", revisions)
	}
}

// Each fake node has a heartbeat, as a kubelet's: its Lease in
// kube-node-lease is renewed. Without one the node controller marks the
// node NotReady after its grace period, and every pod on it not ready.
func TestFakeNodeLeaseIsRenewed(t *testing.T) {
	ctx := context.Background()
	leases := cluster.Client.CoordinationV1().Leases("kube-node-lease")
	var first time.Time
	waitLong(t, "fake-node-0's Lease", func() (bool, error) {
		l, err := leases.Get(ctx, "fake-node-0", metav1.GetOptions{})
		if err != nil || l.Spec.RenewTime == nil {
			return false, err
		}
		first = l.Spec.RenewTime.Time
		return true, nil
	})
	waitLong(t, "fake-node-0's Lease renewed", func() (bool, error) {
		l, err := leases.Get(ctx, "fake-node-0", metav1.GetOptions{})
		return err == nil && l.Spec.RenewTime != nil && l.Spec.RenewTime.After(first), err
	})
}
