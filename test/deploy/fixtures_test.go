package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

// workloads are the objects a remediation acts on in one namespace, created
// as their controllers would have left them after two rollouts (envtest runs
// no controllers): a Deployment at revision 2 with the ReplicaSets of
// revisions 1 and 2, and a StatefulSet and a DaemonSet with the
// ControllerRevisions 1 and 2. Revision 2 runs imageV2, revision 1 imageV1.
type workloads struct {
	ns          string
	prefix      string // of every name, for fixtures made twice in one namespace
	deployment  *appsv1.Deployment
	replicaSets []string
	statefulSet *appsv1.StatefulSet
	daemonSet   *appsv1.DaemonSet
	pod         *corev1.Pod // of the Deployment's ReplicaSet prefix+"web-h2", for evict-pod
	cronJob     *batchv1.CronJob
}

const (
	imageV1 = "registry.example.com/shop/web:v1"
	imageV2 = "registry.example.com/shop/web:v2"
)

func podTemplate(app, image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: app, Image: image}}},
	}
}

// createWorkloads creates the namespace and, as the cluster admin, the
// workloads prefix+"web" (Deployment), prefix+"db" (StatefulSet) and
// prefix+"agent" (DaemonSet), each selecting pods labelled app=<its name>.
func createWorkloads(t *testing.T, ns, prefix string) *workloads {
	t.Helper()
	ctx := t.Context()
	ensureNamespace(t, ns)
	apps := cluster.Client.AppsV1()
	w := &workloads{ns: ns, prefix: prefix}
	create := metav1.CreateOptions{FieldManager: testFieldManager}

	web, db, agent := prefix+"web", prefix+"db", prefix+"agent"
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: web, Namespace: ns, Annotations: map[string]string{"deployment.kubernetes.io/revision": "2"}},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": web}},
			Template: podTemplate(web, imageV2),
		},
	}
	var err error
	if w.deployment, err = apps.Deployments(ns).Create(ctx, dep, create); err != nil {
		t.Fatalf("create Deployment %s/%s: %v", ns, web, err)
	}
	// A HorizontalPodAutoscaler of another Deployment, for the RBAC checks
	// (one of these workloads would have its scale refused).
	if _, err := cluster.Client.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(ctx, &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: prefix + "hpa", Namespace: ns},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "scaled-elsewhere"},
			MinReplicas:    ptr.To[int32](1), MaxReplicas: 4,
		},
	}, create); err != nil {
		t.Fatalf("create HorizontalPodAutoscaler %s/%shpa: %v", ns, prefix, err)
	}
	for rev, image := range map[string]string{"1": imageV1, "2": imageV2} {
		hash := "h" + rev
		tmpl := podTemplate(web, image)
		tmpl.Labels["pod-template-hash"] = hash
		rs := &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{
				Name: web + "-" + hash, Namespace: ns,
				Labels:          map[string]string{"app": web, "pod-template-hash": hash},
				Annotations:     map[string]string{"deployment.kubernetes.io/revision": rev},
				OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(w.deployment, appsv1.SchemeGroupVersion.WithKind("Deployment"))},
			},
			Spec: appsv1.ReplicaSetSpec{
				Replicas: ptr.To[int32](0),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": web, "pod-template-hash": hash}},
				Template: tmpl,
			},
		}
		if _, err := apps.ReplicaSets(ns).Create(ctx, rs, create); err != nil {
			t.Fatalf("create ReplicaSet %s/%s: %v", ns, rs.Name, err)
		}
		w.replicaSets = append(w.replicaSets, rs.Name)
	}

	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: db, Namespace: ns},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": db}},
			Template: podTemplate(db, imageV2),
		},
	}
	if w.statefulSet, err = apps.StatefulSets(ns).Create(ctx, sts, create); err != nil {
		t.Fatalf("create StatefulSet %s/%s: %v", ns, db, err)
	}
	createHistory(ctx, t, w.statefulSet, db, appsv1.SchemeGroupVersion.WithKind("StatefulSet"))

	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: agent, Namespace: ns},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": agent}},
			Template: podTemplate(agent, imageV2),
		},
	}
	if w.daemonSet, err = apps.DaemonSets(ns).Create(ctx, ds, create); err != nil {
		t.Fatalf("create DaemonSet %s/%s: %v", ns, agent, err)
	}
	createHistory(ctx, t, w.daemonSet, agent, appsv1.SchemeGroupVersion.WithKind("DaemonSet"))

	rs, err := apps.ReplicaSets(ns).Get(ctx, web+"-h2", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: web + "-h2-abcde", Namespace: ns, Labels: rs.Spec.Template.Labels,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(rs, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))},
		},
		Spec: rs.Spec.Template.Spec,
	}
	if w.pod, err = cluster.Client.CoreV1().Pods(ns).Create(ctx, pod, create); err != nil {
		t.Fatalf("create Pod %s/%s: %v", ns, pod.Name, err)
	}
	jobTmpl := podTemplate(prefix+"backup", imageV1)
	jobTmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: prefix + "backup", Namespace: ns},
		Spec:       batchv1.CronJobSpec{Schedule: "0 3 * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: jobTmpl}}},
	}
	if w.cronJob, err = cluster.Client.BatchV1().CronJobs(ns).Create(ctx, cj, create); err != nil {
		t.Fatalf("create CronJob %s/%s: %v", ns, cj.Name, err)
	}
	return w
}

// createHistory writes ControllerRevisions 1 (image v1) and 2 (image v2) for
// owner as the StatefulSet and DaemonSet controllers do: the data is a
// strategic merge patch replacing spec.template.
func createHistory(ctx context.Context, t *testing.T, owner metav1.Object, app string, gvk schema.GroupVersionKind) {
	t.Helper()
	for rev, image := range map[int64]string{1: imageV1, 2: imageV2} {
		tmpl := podTemplate(app, image)
		raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&tmpl)
		if err != nil {
			t.Fatal(err)
		}
		raw["$patch"] = "replace"
		data, err := json.Marshal(map[string]any{"spec": map[string]any{"template": raw}})
		if err != nil {
			t.Fatal(err)
		}
		cr := &appsv1.ControllerRevision{
			ObjectMeta: metav1.ObjectMeta{
				Name: fmt.Sprintf("%s-rev%d", app, rev), Namespace: owner.GetNamespace(),
				Labels:          map[string]string{"app": app, "controller-revision-hash": fmt.Sprintf("%s%d", app, rev)},
				OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(owner, gvk)},
			},
			Data:     runtime.RawExtension{Raw: data},
			Revision: rev,
		}
		_, err = cluster.Client.AppsV1().ControllerRevisions(owner.GetNamespace()).Create(ctx, cr, metav1.CreateOptions{FieldManager: testFieldManager})
		if err != nil {
			t.Fatalf("create ControllerRevision %s/%s: %v", owner.GetNamespace(), cr.Name, err)
		}
	}
}
