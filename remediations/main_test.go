package remediations_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/testcluster"
	"github.com/alertmedic/alertmedic/remediations"
)

var cluster *testcluster.Cluster

func TestMain(m *testing.M) { testcluster.Main(m, "the remediations tests", &cluster) }

var clock = time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)

func executor(t *testing.T, client kubernetes.Interface) *remediations.Executor {
	t.Helper()
	return remediations.NewExecutor(client, remediations.Options{
		Instance: "test-replica",
		Now:      func() time.Time { return clock },
	})
}

// namespace creates a fresh namespace named after the test.
func namespace(t *testing.T) string {
	t.Helper()
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(t.Name()))
	if len(name) > 50 {
		name = name[:50]
	}
	name = strings.Trim(name, "-") + fmt.Sprintf("-%d", time.Now().UnixNano()%100000)
	_, err := cluster.Client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return name
}

func podTemplate(app, image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: app, Image: image}}},
	}
}

func selector(app string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}
}

func ptr[T any](v T) *T { return &v }

func createDeployment(t *testing.T, ns, name string, replicas int32, image string) *appsv1.Deployment {
	t.Helper()
	d, err := cluster.Client.AppsV1().Deployments(ns).Create(t.Context(), &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr(replicas), Selector: selector(name), Template: podTemplate(name, image)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func createStatefulSet(t *testing.T, ns, name string, replicas int32, image string) *appsv1.StatefulSet {
	t.Helper()
	s, err := cluster.Client.AppsV1().StatefulSets(ns).Create(t.Context(), &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       appsv1.StatefulSetSpec{Replicas: ptr(replicas), Selector: selector(name), Template: podTemplate(name, image), ServiceName: name},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func createDaemonSet(t *testing.T, ns, name, image string) *appsv1.DaemonSet {
	t.Helper()
	d, err := cluster.Client.AppsV1().DaemonSets(ns).Create(t.Context(), &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       appsv1.DaemonSetSpec{Selector: selector(name), Template: podTemplate(name, image)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// createWorkload creates a workload of the given kind, image nginx:1.
func createWorkload(t *testing.T, kind v1alpha1.Kind, ns, name string) {
	t.Helper()
	switch kind {
	case v1alpha1.KindDeployment:
		createDeployment(t, ns, name, 2, "nginx:1")
	case v1alpha1.KindStatefulSet:
		createStatefulSet(t, ns, name, 2, "nginx:1")
	case v1alpha1.KindDaemonSet:
		createDaemonSet(t, ns, name, "nginx:1")
	default:
		t.Fatalf("no such kind %s", kind)
	}
}

// liveTemplate returns the workload's pod template as the API server has it.
func liveTemplate(t *testing.T, kind v1alpha1.Kind, ns, name string) corev1.PodTemplateSpec {
	t.Helper()
	apps := cluster.Client.AppsV1()
	var (
		tmpl corev1.PodTemplateSpec
		err  error
	)
	switch kind {
	case v1alpha1.KindDeployment:
		var d *appsv1.Deployment
		if d, err = apps.Deployments(ns).Get(t.Context(), name, metav1.GetOptions{}); err == nil {
			tmpl = d.Spec.Template
		}
	case v1alpha1.KindStatefulSet:
		var s *appsv1.StatefulSet
		if s, err = apps.StatefulSets(ns).Get(t.Context(), name, metav1.GetOptions{}); err == nil {
			tmpl = s.Spec.Template
		}
	case v1alpha1.KindDaemonSet:
		var d *appsv1.DaemonSet
		if d, err = apps.DaemonSets(ns).Get(t.Context(), name, metav1.GetOptions{}); err == nil {
			tmpl = d.Spec.Template
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

// events returns the Events recorded on the named object.
func events(t *testing.T, ns, name string) []corev1.Event {
	t.Helper()
	list, err := cluster.Client.CoreV1().Events(ns).List(t.Context(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + name})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// oneEvent asserts that exactly one Event was recorded on the object and
// returns it.
func oneEvent(t *testing.T, ns, name string) corev1.Event {
	t.Helper()
	evs := events(t, ns, name)
	if len(evs) != 1 {
		t.Fatalf("events on %s/%s = %d, want 1: %+v", ns, name, len(evs), evs)
	}
	return evs[0]
}

// recordRevision creates the ControllerRevision the StatefulSet or DaemonSet
// controller would create for obj's current template: its data is a
// strategic merge patch replacing spec.template, as the controllers compute
// it (getPatch in pkg/controller/{statefulset,daemon}).
func recordRevision(t *testing.T, obj interface {
	metav1.Object
	runtime.Object
}, kind v1alpha1.Kind, tmpl corev1.PodTemplateSpec, revision int64) {
	t.Helper()
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	template := m["spec"].(map[string]any)["template"].(map[string]any)
	template["$patch"] = "replace"
	data, err := json.Marshal(map[string]any{"spec": map[string]any{"template": template}})
	if err != nil {
		t.Fatal(err)
	}
	cr := &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name:      fmt.Sprintf("%s-rev%d", obj.GetName(), revision),
			Namespace: obj.GetNamespace(),
			Labels:    tmpl.Labels,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: string(kind), Name: obj.GetName(), UID: obj.GetUID(),
				Controller: ptr(true), BlockOwnerDeletion: ptr(true),
			}},
		},
		Data:     runtime.RawExtension{Raw: data},
		Revision: revision,
	}
	if _, err := cluster.Client.AppsV1().ControllerRevisions(obj.GetNamespace()).Create(t.Context(), cr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// createReplicaSet creates the ReplicaSet the deployment controller would
// create for revision of d with the given image.
func createReplicaSet(t *testing.T, d *appsv1.Deployment, revision int64, image string, extra map[string]string) {
	t.Helper()
	hash := fmt.Sprintf("h%d", revision)
	tmpl := podTemplate(d.Name, image)
	tmpl.Labels[appsv1.DefaultDeploymentUniqueLabelKey] = hash
	annotations := map[string]string{remediations.RevisionAnnotation: fmt.Sprint(revision)}
	for k, v := range extra {
		annotations[k] = v
	}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name: d.Name + "-" + hash, Namespace: d.Namespace,
			Labels:      map[string]string{"app": d.Name, appsv1.DefaultDeploymentUniqueLabelKey: hash},
			Annotations: annotations,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID,
				Controller: ptr(true), BlockOwnerDeletion: ptr(true),
			}},
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr(int32(0)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": d.Name, appsv1.DefaultDeploymentUniqueLabelKey: hash}},
			Template: tmpl,
		},
	}
	if _, err := cluster.Client.AppsV1().ReplicaSets(d.Namespace).Create(t.Context(), rs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}
