package kube_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/kube"
	"github.com/alertmedic/alertmedic/internal/testcluster"
)

var cluster *testcluster.Cluster

func TestMain(m *testing.M) { testcluster.Main(m, "the Kubernetes client tests", &cluster) }

func newClient(t *testing.T) kube.WithWatch {
	t.Helper()
	c, err := kube.New(cluster.Config, kube.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Every kind of the table is the resource the API server's discovery
// gives it, with the same scope: the table stands in for discovery.
func TestResourcesAreTheAPIServers(t *testing.T) {
	_, lists, err := cluster.Client.Discovery().ServerGroupsAndResources()
	if err != nil {
		t.Fatal(err)
	}
	s, err := kube.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	found := map[schema.GroupKind]bool{}
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range l.APIResources {
			gk := schema.GroupKind{Group: gv.Group, Kind: r.Kind}
			resource, namespaced, ok := kube.ResourceOf(gk)
			if !ok || r.Name != resource { // not in the table, or a subresource
				continue
			}
			found[gk] = true
			if r.Namespaced != namespaced {
				t.Errorf("%s: namespaced %v in the table, %v in discovery", gk, namespaced, r.Namespaced)
			}
			if !s.Recognizes(gv.WithKind(r.Kind)) {
				t.Errorf("%s: the API server serves %s, which the scheme does not know", gk, gv)
			}
		}
	}
	for _, gk := range kube.Kinds() {
		if !found[gk] {
			resource, _, _ := kube.ResourceOf(gk)
			t.Errorf("%s: resource %q not served by the API server", gk, resource)
		}
	}
}

func deployment(ns, name string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
			},
		},
	}
}

// The writes and reads alertmedic makes, on a built-in kind, through the
// real API server.
func TestWritesAndReads(t *testing.T) {
	c, ctx := newClient(t), t.Context()
	ns := cluster.Namespace(t, "kube")

	d := deployment(ns, "cart")
	if err := c.Create(ctx, d, kube.FieldOwner("alertmedic")); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if d.UID == "" || d.ResourceVersion == "" {
		t.Fatalf("Create did not decode the answer into the object: %+v", d.ObjectMeta)
	}
	if err := c.Create(ctx, deployment(ns, "cart")); !apierrors.IsAlreadyExists(err) || kube.IgnoreAlreadyExists(err) != nil {
		t.Errorf("Create again = %v, want AlreadyExists", err)
	}

	got := &appsv1.Deployment{}
	if err := c.Get(ctx, kube.ObjectKeyFromObject(d), got); err != nil || got.UID != d.UID {
		t.Fatalf("Get = %v, %s; want %s", err, got.UID, d.UID)
	}
	if err := c.Get(ctx, kube.ObjectKey{Namespace: ns, Name: "nope"}, &appsv1.Deployment{}); !apierrors.IsNotFound(err) || kube.IgnoreNotFound(err) != nil {
		t.Errorf("Get of none = %v, want NotFound", err)
	}

	// A merge patch computed from a copy, and a raw strategic merge patch.
	before := got.DeepCopy()
	got.Spec.Replicas = ptr.To[int32](3)
	if err := c.Patch(ctx, got, kube.MergeFrom(before)); err != nil || *got.Spec.Replicas != 3 {
		t.Fatalf("Patch (merge from) = %v, replicas %d", err, *got.Spec.Replicas)
	}
	restart := `{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"now"}}}}}`
	if err := c.Patch(ctx, got, kube.RawPatch(types.StrategicMergePatchType, []byte(restart))); err != nil ||
		got.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] != "now" {
		t.Fatalf("Patch (raw) = %v, annotations %v", err, got.Spec.Template.Annotations)
	}

	// An update from a stale copy is a conflict.
	stale := d.DeepCopy()
	stale.Labels["x"] = "y"
	if err := c.Update(ctx, stale); !apierrors.IsConflict(err) {
		t.Errorf("Update from a stale copy = %v, want Conflict", err)
	}
	got.Labels["x"] = "y"
	if err := c.Update(ctx, got); err != nil || got.ResourceVersion == d.ResourceVersion {
		t.Errorf("Update = %v", err)
	}

	// The status subresource, alone.
	got.Status.ObservedGeneration = got.Generation
	got.Status.Replicas = 3
	got.Spec.Replicas = ptr.To[int32](9) // not written through status
	if err := c.Status().Update(ctx, got); err != nil {
		t.Fatalf("Status().Update: %v", err)
	}
	again := &appsv1.Deployment{}
	if err := c.Get(ctx, kube.ObjectKeyFromObject(d), again); err != nil || again.Status.Replicas != 3 || *again.Spec.Replicas != 3 {
		t.Errorf("after Status().Update: %v, status replicas %d, spec replicas %d; want 3 and 3", err, again.Status.Replicas, *again.Spec.Replicas)
	}

	// A delete whose UID precondition does not hold deletes nothing.
	if err := c.Delete(ctx, again, kube.Preconditions{UID: ptr.To(types.UID("0f8fad5b-d9cb-469f-a165-70867728950e"))}); !apierrors.IsConflict(err) {
		t.Errorf("Delete with another UID = %v, want Conflict", err)
	}
	if err := c.Delete(ctx, again, kube.Preconditions{UID: ptr.To(again.UID)}, kube.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := c.Get(ctx, kube.ObjectKeyFromObject(d), &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
		t.Errorf("Get after Delete = %v, want NotFound", err)
	}

	// A cluster-scoped kind.
	if err := c.Get(ctx, kube.ObjectKey{Name: ns}, &corev1.Namespace{}); err != nil {
		t.Errorf("Get namespace: %v", err)
	}
}

func record(ns, name string, labels map[string]string) *v1alpha1.Remediation {
	return &v1alpha1.Remediation{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: v1alpha1.RemediationSpec{
			Rule: "restart-cart", Action: v1alpha1.ActionRestart,
			Target:    v1alpha1.Target{Kind: v1alpha1.KindDeployment, Namespace: "shop", Name: "cart"},
			TargetRef: "Deployment/shop/cart",
			Alert:     v1alpha1.AlertRef{Name: "KubePodCrashLooping", Fingerprint: "3f1c9a0d2b7e4c55", StartsAt: metav1.NewMicroTime(time.Now())},
		},
	}
}

func metadataList() *metav1.PartialObjectMetadataList {
	l := &metav1.PartialObjectMetadataList{}
	l.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("RemediationList"))
	return l
}

// alertmedic's records: lists by page, by label and selector, their
// metadata only, and a watch.
func TestRecords(t *testing.T) {
	c, ctx := newClient(t), t.Context()
	ns := cluster.Namespace(t, "kube-records")

	w, err := c.Watch(ctx, &v1alpha1.RemediationList{}, kube.InNamespace(ns))
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	defer w.Stop()
	for i := range 5 {
		labels := map[string]string{}
		if i%2 == 0 {
			labels[v1alpha1.LabelArchived] = "true"
		}
		if err := c.Create(ctx, record(ns, "rem-"+string(rune('a'+i)), labels)); err != nil {
			t.Fatalf("Create record: %v", err)
		}
	}
	seen := 0
	for seen < 5 {
		select {
		case ev := <-w.ResultChan():
			if _, ok := ev.Object.(*v1alpha1.Remediation); ev.Type != watch.Added || !ok {
				t.Fatalf("watch event %s %T, want Added records", ev.Type, ev.Object)
			}
			seen++
		case <-time.After(10 * time.Second):
			t.Fatalf("the watch gave %d of 5 records", seen)
		}
	}

	// Paged, into one list as the leader's index is filled: each page
	// replaces the last, the last one's empty continue token included.
	for _, list := range []kube.ObjectList{&v1alpha1.RemediationList{}, metadataList()} {
		var names []string
		cont := ""
		for pages := 0; ; pages++ {
			if pages > 3 {
				t.Fatalf("%T: more than 3 pages of 2 for 5 records: the continue token of the last page was kept", list)
			}
			if err := c.List(ctx, list, kube.InNamespace(ns), kube.Limit(2), kube.Continue(cont)); err != nil {
				t.Fatalf("List page: %v", err)
			}
			items, _ := meta.ExtractList(list)
			if len(items) > 2 {
				t.Fatalf("a page of %d, want at most 2", len(items))
			}
			for _, item := range items {
				names = append(names, item.(metav1.Object).GetName())
			}
			if cont = list.GetContinue(); cont == "" {
				break
			}
		}
		if !slices.Equal(names, []string{"rem-a", "rem-b", "rem-c", "rem-d", "rem-e"}) {
			t.Errorf("%T: paged list = %v", list, names)
		}
	}

	var archived v1alpha1.RemediationList
	if err := c.List(ctx, &archived, kube.InNamespace(ns), kube.MatchingLabels{v1alpha1.LabelArchived: "true"}); err != nil || len(archived.Items) != 3 {
		t.Errorf("List by label = %d, %v; want 3", len(archived.Items), err)
	}
	var notArchived v1alpha1.RemediationList
	if err := c.List(ctx, &notArchived, kube.InNamespace(ns), kube.MatchingLabelsSelector{v1alpha1.NotArchived()}); err != nil || len(notArchived.Items) != 2 {
		t.Errorf("List by selector = %d, %v; want 2", len(notArchived.Items), err)
	}
	var labelled v1alpha1.RemediationList
	if err := c.List(ctx, &labelled, kube.InNamespace(ns), kube.HasLabels{v1alpha1.LabelArchived}); err != nil || len(labelled.Items) != 3 {
		t.Errorf("List by label present = %d, %v; want 3", len(labelled.Items), err)
	}
	var byName v1alpha1.RemediationList
	if err := c.List(ctx, &byName, kube.InNamespace(ns), kube.MatchingFields{"metadata.name": "rem-b"}); err != nil || len(byName.Items) != 1 {
		t.Errorf("List by field = %d, %v; want 1", len(byName.Items), err)
	}

	// Metadata only: one of five, and the count of the rest.
	meta := &metav1.PartialObjectMetadataList{}
	meta.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("RemediationList"))
	if err := c.List(ctx, meta, kube.InNamespace(ns), kube.Limit(1)); err != nil {
		t.Fatalf("List metadata: %v", err)
	}
	if len(meta.Items) != 1 || meta.RemainingItemCount == nil || *meta.RemainingItemCount != 4 {
		t.Fatalf("metadata list: %d items, remaining %v; want 1 and 4", len(meta.Items), meta.RemainingItemCount)
	}
	item := meta.Items[0]
	if item.Name != "rem-a" || item.UID == "" || item.GroupVersionKind() != v1alpha1.GroupVersion.WithKind("Remediation") {
		t.Errorf("metadata item = %s %s %v", item.Name, item.UID, item.GroupVersionKind())
	}
	if meta.GroupVersionKind().Kind != "RemediationList" {
		t.Errorf("metadata list kind = %v, want the one asked for", meta.GroupVersionKind())
	}
	one := &metav1.PartialObjectMetadata{}
	one.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("Remediation"))
	if err := c.Get(ctx, kube.ObjectKey{Namespace: ns, Name: "rem-c"}, one); err != nil || one.UID == "" || one.Labels[v1alpha1.LabelArchived] != "true" {
		t.Errorf("Get metadata = %v, %+v", err, one.ObjectMeta)
	}
	// A metadata-only object can be deleted as a typed one is.
	if err := c.Delete(ctx, one, kube.Preconditions{UID: ptr.To(one.UID)}); err != nil {
		t.Errorf("Delete metadata-only: %v", err)
	}

	// The status subresource of a custom resource.
	r := &v1alpha1.Remediation{}
	if err := c.Get(ctx, kube.ObjectKey{Namespace: ns, Name: "rem-b"}, r); err != nil {
		t.Fatal(err)
	}
	r.Status.Phase = v1alpha1.PhaseRunning
	if err := c.Status().Update(ctx, r); err != nil || r.Status.Phase != v1alpha1.PhaseRunning {
		t.Fatalf("Status().Update record = %v, phase %q", err, r.Status.Phase)
	}
	patch, _ := json.Marshal(map[string]any{"status": map[string]any{"message": "patched"}})
	if err := c.Status().Patch(ctx, r, kube.RawPatch(types.MergePatchType, patch)); err != nil || r.Status.Message != "patched" {
		t.Fatalf("Status().Patch record = %v, message %q", err, r.Status.Message)
	}
}

// A Lease, as the elector writes it, and an API server refusing a kind
// the table does not know is an error before any request.
func TestLeaseAndUnknownKind(t *testing.T) {
	c, ctx := newClient(t), t.Context()
	ns := cluster.Namespace(t, "kube-lease")
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "alertmedic"},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("a"), LeaseDurationSeconds: ptr.To[int32](15)}}
	if err := c.Create(ctx, l); err != nil {
		t.Fatal(err)
	}
	l.Spec.HolderIdentity = ptr.To("b")
	if err := c.Update(ctx, l); err != nil || *l.Spec.HolderIdentity != "b" {
		t.Fatalf("Update lease = %v", err)
	}
	if err := c.Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "s"}}); err == nil {
		t.Error("Create of a kind outside the table = nil, want an error")
	}
}
