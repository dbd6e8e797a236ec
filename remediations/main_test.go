package remediations_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/kube"
	"github.com/alertmedic/alertmedic/internal/testcluster"
	"github.com/alertmedic/alertmedic/remediations"
)

var (
	cluster  *testcluster.Cluster
	kubeOnce = sync.OnceValue(func() kubernetes.Interface {
		// Without client-go's default limit of 5 requests a second: the
		// tests poll the controllers' progress from many goroutines.
		cfg := rest.CopyConfig(cluster.Config)
		cfg.QPS, cfg.Burst = -1, 0
		return kubernetes.NewForConfigOrDie(cfg)
	})
)

// clientset is the clientset of the test cluster, for the tests' own
// reads and writes; medic is the client alertmedic's executor uses.
func clientset() kubernetes.Interface { return kubeOnce() }

var medicOnce = sync.OnceValue(func() kube.Client {
	cfg := rest.CopyConfig(cluster.Config)
	cfg.QPS, cfg.Burst = -1, 0
	c, err := kube.New(cfg, kube.Options{})
	if err != nil {
		panic(err)
	}
	return c
})

func medic() kube.Client { return medicOnce() }

// The tests run on a cluster that reconciles: the Deployment, StatefulSet
// and DaemonSet controllers make the rollout history alertmedic acts on, and
// kwok runs the pods, so a restart replaces pods and a scale changes their
// count as in a real cluster.
//
// The tests spend their time waiting on the controllers, not on the CPU, and
// each has its own namespace: they run in parallel, 8 at a time unless
// -test.parallel says otherwise (its default, GOMAXPROCS, is 2 here).
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		if err := flag.Set("test.parallel", "8"); err != nil {
			panic(err)
		}
	}
	testcluster.MainWith(m, "the remediations tests", testcluster.Options{Full: true}, &cluster)
}

var clock = time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)

func executor(t *testing.T, client kube.Client) *remediations.Executor {
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
	_, err := clientset().CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
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

// createDeployment creates a Deployment and waits until it is rolled out
// (createStatefulSet and createDaemonSet likewise): the controller's own
// writes that follow a create are done before a test acts on it.
func createDeployment(t *testing.T, ns, name string, replicas int32, image string) *appsv1.Deployment {
	t.Helper()
	d, err := clientset().AppsV1().Deployments(ns).Create(t.Context(), &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr(replicas), Selector: selector(name), Template: podTemplate(name, image)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rolledOut(t, v1alpha1.KindDeployment, ns, name)
	return d
}

func createStatefulSet(t *testing.T, ns, name string, replicas int32, image string) *appsv1.StatefulSet {
	t.Helper()
	s, err := clientset().AppsV1().StatefulSets(ns).Create(t.Context(), &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       appsv1.StatefulSetSpec{Replicas: ptr(replicas), Selector: selector(name), Template: podTemplate(name, image), ServiceName: name},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rolledOut(t, v1alpha1.KindStatefulSet, ns, name)
	return s
}

func createDaemonSet(t *testing.T, ns, name, image string) *appsv1.DaemonSet {
	t.Helper()
	d, err := clientset().AppsV1().DaemonSets(ns).Create(t.Context(), &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       appsv1.DaemonSetSpec{Selector: selector(name), Template: podTemplate(name, image)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rolledOut(t, v1alpha1.KindDaemonSet, ns, name)
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
	apps := clientset().AppsV1()
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

// kubeControllers are the components whose own Events (ScalingReplicaSet,
// SuccessfulCreate, ...) land on the workloads of a cluster that reconciles.
var kubeControllers = map[string]bool{
	"deployment-controller": true, "replicaset-controller": true,
	"statefulset-controller": true, "daemonset-controller": true,
	"default-scheduler": true, // Scheduled, on the pods evict-pod acts on
}

// events returns the Events recorded on the named object by anyone but the
// Kubernetes controllers that reconcile it.
func events(t *testing.T, ns, name string) []corev1.Event {
	t.Helper()
	list, err := clientset().CoreV1().Events(ns).List(t.Context(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + name})
	if err != nil {
		t.Fatal(err)
	}
	var out []corev1.Event
	for _, ev := range list.Items {
		if !kubeControllers[ev.Source.Component] && !kubeControllers[ev.ReportingController] {
			out = append(out, ev)
		}
	}
	return out
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

// createReplicaSet creates a ReplicaSet with the given revision for the
// workload d names as its controller: history no Deployment controller
// would make for d (used for a ReplicaSet that d does not control).
func createReplicaSet(t *testing.T, d *appsv1.Deployment, labels map[string]string, revision int64, image string) {
	t.Helper()
	hash := fmt.Sprintf("h%d", revision)
	tmpl := podTemplate(d.Name, image)
	sel := map[string]string{appsv1.DefaultDeploymentUniqueLabelKey: hash}
	for k, v := range labels {
		sel[k] = v
	}
	tmpl.Labels = sel
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name: d.Name + "-" + hash, Namespace: d.Namespace, Labels: sel,
			Annotations: map[string]string{remediations.RevisionAnnotation: fmt.Sprint(revision)},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID,
				Controller: ptr(true), BlockOwnerDeletion: ptr(true),
			}},
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr(int32(0)),
			Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: tmpl,
		},
	}
	if _, err := clientset().AppsV1().ReplicaSets(d.Namespace).Create(t.Context(), rs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// waitLong waits up to two minutes for cond: a rollout goes through the
// workload's controller, the scheduler and kwok, each with its own queue,
// on a machine that may be busy.
func waitLong(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ok, err := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (last error: %v; %s)", what, err, nodeHealth(t))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// nodeHealth tells the fake nodes' Ready condition and taints: a node
// whose heartbeat stopped has its pods marked not ready by the node
// lifecycle controller.
func nodeHealth(t *testing.T) string {
	nodes, err := clientset().CoreV1().Nodes().List(t.Context(), metav1.ListOptions{})
	if err != nil {
		return "nodes: " + err.Error()
	}
	var parts []string
	for _, n := range nodes.Items {
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				parts = append(parts, fmt.Sprintf("node %s Ready=%s (heartbeat %s) taints %v", n.Name, c.Status, c.LastHeartbeatTime.Format(time.RFC3339), n.Spec.Taints))
			}
		}
	}
	return strings.Join(parts, "; ")
}

// release creates the workload of the given kind with the first image, then
// changes its image to each of the others in turn, each time waiting until
// the workload's controller has rolled it out. The controller makes the
// history: release i is revision i+1, with its own ReplicaSet or
// ControllerRevision. Each release also sets the kubernetes.io/change-cause
// annotation to "deploy <image>". replicas is ignored for a DaemonSet (one
// pod per fake node).
func release(t *testing.T, kind v1alpha1.Kind, ns, name string, replicas int32, images ...string) {
	t.Helper()
	releaseAnnotated(t, kind, ns, name, replicas, nil, images...)
}

// releaseAnnotated is release with extra annotations set on the workload
// with its last release.
func releaseAnnotated(t *testing.T, kind v1alpha1.Kind, ns, name string, replicas int32, last map[string]string, images ...string) {
	t.Helper()
	cause := func(image string) map[string]string {
		a := map[string]string{"kubernetes.io/change-cause": "deploy " + image}
		if image == images[len(images)-1] {
			for k, v := range last {
				a[k] = v
			}
		}
		return a
	}
	meta := metav1.ObjectMeta{Name: name, Namespace: ns, Annotations: cause(images[0])}
	apps := clientset().AppsV1()
	var err error
	switch kind {
	case v1alpha1.KindDeployment:
		_, err = apps.Deployments(ns).Create(t.Context(), &appsv1.Deployment{ObjectMeta: meta,
			Spec: appsv1.DeploymentSpec{Replicas: ptr(replicas), Selector: selector(name), Template: podTemplate(name, images[0])},
		}, metav1.CreateOptions{})
	case v1alpha1.KindStatefulSet:
		_, err = apps.StatefulSets(ns).Create(t.Context(), &appsv1.StatefulSet{ObjectMeta: meta,
			Spec: appsv1.StatefulSetSpec{Replicas: ptr(replicas), Selector: selector(name), Template: podTemplate(name, images[0]), ServiceName: name},
		}, metav1.CreateOptions{})
	case v1alpha1.KindDaemonSet:
		_, err = apps.DaemonSets(ns).Create(t.Context(), &appsv1.DaemonSet{ObjectMeta: meta,
			Spec: appsv1.DaemonSetSpec{Selector: selector(name), Template: podTemplate(name, images[0])},
		}, metav1.CreateOptions{})
	default:
		t.Fatalf("no such kind %s", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	rolledOut(t, kind, ns, name)
	for _, image := range images[1:] {
		patch, err := json.Marshal(map[string]any{
			"metadata": map[string]any{"annotations": cause(image)},
			"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
				"containers": []map[string]any{{"name": name, "image": image}},
			}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		patchWorkload(t, kind, ns, name, patch)
		rolledOut(t, kind, ns, name)
	}
}

// patchWorkload applies a strategic merge patch to the workload, as its
// owner would (a new release).
func patchWorkload(t *testing.T, kind v1alpha1.Kind, ns, name string, patch []byte) {
	t.Helper()
	apps := clientset().AppsV1()
	var err error
	switch kind {
	case v1alpha1.KindDeployment:
		_, err = apps.Deployments(ns).Patch(t.Context(), name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	case v1alpha1.KindStatefulSet:
		_, err = apps.StatefulSets(ns).Patch(t.Context(), name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	case v1alpha1.KindDaemonSet:
		_, err = apps.DaemonSets(ns).Patch(t.Context(), name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
}

// rolledOut waits until the workload's controller has rolled out its
// current spec, as 'kubectl rollout status' judges it, and every pod the
// workload wants runs the current template: no pod of an older one is left,
// none is terminating.
func rolledOut(t *testing.T, kind v1alpha1.Kind, ns, name string) {
	t.Helper()
	apps := clientset().AppsV1()
	waitLong(t, fmt.Sprintf("%s %s/%s rolled out", kind, ns, name), func() (bool, error) {
		var want int32
		switch kind {
		case v1alpha1.KindDeployment:
			d, err := apps.Deployments(ns).Get(t.Context(), name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			want = *d.Spec.Replicas
			st := d.Status
			if d.Spec.Paused || st.ObservedGeneration < d.Generation || st.UpdatedReplicas != want || st.Replicas != want || st.AvailableReplicas != want {
				return false, fmt.Errorf("status %+v", st)
			}
		case v1alpha1.KindStatefulSet:
			s, err := apps.StatefulSets(ns).Get(t.Context(), name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			want = *s.Spec.Replicas
			st := s.Status
			if st.ObservedGeneration < s.Generation || st.UpdatedReplicas != want || st.ReadyReplicas != want ||
				st.Replicas != want || st.CurrentRevision != st.UpdateRevision {
				return false, fmt.Errorf("status %+v", st)
			}
		case v1alpha1.KindDaemonSet:
			d, err := apps.DaemonSets(ns).Get(t.Context(), name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			st := d.Status
			want = st.DesiredNumberScheduled
			if want == 0 || st.ObservedGeneration < d.Generation || st.UpdatedNumberScheduled != want || st.NumberAvailable != want {
				return false, fmt.Errorf("status %+v", st)
			}
		}
		tmpl := liveTemplate(t, kind, ns, name)
		ps := pods(t, ns, name)
		if int32(len(ps)) != want {
			return false, fmt.Errorf("%d pods, want %d", len(ps), want)
		}
		for _, p := range ps {
			if p.DeletionTimestamp != nil || !podReady(&p) || !sameTemplate(&p, &tmpl) {
				return false, fmt.Errorf("pod %s not yet of the current template, or not ready", p.Name)
			}
		}
		return true, nil
	})
}

// sameTemplate reports whether the pod was made from tmpl, as far as a user
// tells: the same images and the same template annotations.
func sameTemplate(p *corev1.Pod, tmpl *corev1.PodTemplateSpec) bool {
	if len(p.Spec.Containers) != len(tmpl.Spec.Containers) {
		return false
	}
	for i, c := range tmpl.Spec.Containers {
		if p.Spec.Containers[i].Image != c.Image {
			return false
		}
	}
	for k, v := range tmpl.Annotations {
		if p.Annotations[k] != v {
			return false
		}
	}
	return true
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// pods lists the pods of the workload named app (label app=<name>).
func pods(t *testing.T, ns, app string) []corev1.Pod {
	t.Helper()
	list, err := clientset().CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// podImages returns the image of each pod of the workload, sorted: what
// runs, as 'kubectl get pods' shows it.
func podImages(t *testing.T, ns, app string) []string {
	t.Helper()
	var out []string
	for _, p := range pods(t, ns, app) {
		out = append(out, p.Spec.Containers[0].Image)
	}
	slices.Sort(out)
	return out
}

// podUIDs returns the UIDs of the workload's pods.
func podUIDs(t *testing.T, ns, app string) map[types.UID]bool {
	t.Helper()
	out := map[types.UID]bool{}
	for _, p := range pods(t, ns, app) {
		out[p.UID] = true
	}
	return out
}

// revision returns the Deployment's deployment.kubernetes.io/revision.
func revision(t *testing.T, ns, name string) string {
	t.Helper()
	d, err := clientset().AppsV1().Deployments(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Annotations[remediations.RevisionAnnotation]
}
