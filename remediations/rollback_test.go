package remediations_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/kube"
	"github.com/alertmedic/alertmedic/remediations"
)

func rollbackReq(kind v1alpha1.Kind, ns, name string, to int64) remediations.Request {
	return remediations.Request{
		Action: v1alpha1.ActionRollback, Rollback: &v1alpha1.RollbackParams{ToRevision: to},
		Target: v1alpha1.Target{Kind: kind, Namespace: ns, Name: name},
		Rule:   "rollback-bad-deploy", AlertName: "CheckoutErrorRateHigh",
	}
}

func imageOf(t *testing.T, kind v1alpha1.Kind, ns, name string) string {
	t.Helper()
	return liveTemplate(t, kind, ns, name).Spec.Containers[0].Image
}

// deploymentWithHistory is a Deployment "web" of 2 replicas released as
// web:v1, web:v2 and web:v3: revisions 1 to 3, whose ReplicaSets the
// Deployment controller made, rolled out to revision 3. It carries a "team"
// annotation since revision 3 only. Next to it, a ReplicaSet with a higher
// revision (9) that it does not control: no controller makes one like it, so
// it is built by hand, controlled by a paused Deployment "web-canary" whose
// selector it also matches (a ReplicaSet of a Deployment that does not
// exist would be garbage-collected).
func deploymentWithHistory(t *testing.T, ns string) *appsv1.Deployment {
	t.Helper()
	releaseAnnotated(t, v1alpha1.KindDeployment, ns, "web", 2, map[string]string{"team": "shop"}, "web:v1", "web:v2", "web:v3")
	canaryLabels := map[string]string{"app": "web", "track": "canary"}
	canary, err := clientset().AppsV1().Deployments(ns).Create(t.Context(), &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web-canary", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(int32(0)), Paused: true,
			Selector: &metav1.LabelSelector{MatchLabels: canaryLabels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: canaryLabels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:canary"}}}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	createReplicaSet(t, canary, canaryLabels, 9, "web:stranger")
	d, err := clientset().AppsV1().Deployments(ns).Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rev := d.Annotations[remediations.RevisionAnnotation]; rev != "3" {
		t.Fatalf("the Deployment controller left web at revision %s, want 3", rev)
	}
	return d
}

// settledAt waits until the Deployment controller has rolled web out at the
// given revision, and checks what a user checks after a rollback: the
// Deployment available at a new revision number, its pods all running the
// image of the revision it went back to.
func settledAt(t *testing.T, ns, rev, image string) {
	t.Helper()
	waitLong(t, "web at revision "+rev, func() (bool, error) {
		got := revision(t, ns, "web")
		return got == rev, fmt.Errorf("revision %s", got)
	})
	rolledOut(t, v1alpha1.KindDeployment, ns, "web")
	if got := fmt.Sprint(podImages(t, ns, "web")); got != fmt.Sprintf("[%s %s]", image, image) {
		t.Errorf("pods run %s, want 2 pods of %s", got, image)
	}
}

func TestRollbackDeployment(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	deploymentWithHistory(t, ns)
	client, written := lastWritten(t, http.MethodPatch, "/deployments/web")
	x := executor(t, client)
	dep := v1alpha1.KindDeployment

	// To the previous revision: the second-highest the Deployment controls.
	res, err := x.Execute(t.Context(), rollbackReq(dep, ns, "web", 0))
	if err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if res.Outcome != remediations.Succeeded || res.Reason != "RolledBack" ||
		res.Before != "revision=3 web=web:v3" || res.After != "revision=2 web=web:v2" ||
		res.Message != "rolled back from revision 3 to revision 2 (web=web:v2)" {
		t.Errorf("result = %+v", res)
	}
	// The Deployment as alertmedic's write left it: the controller may have
	// renumbered it by the time it is read again.
	d := written()
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "web:v2" {
		t.Errorf("image = %s, want web:v2", img)
	}
	if _, ok := d.Spec.Template.Labels[appsv1.DefaultDeploymentUniqueLabelKey]; ok {
		t.Errorf("pod-template-hash label copied into the Deployment's template: %v", d.Spec.Template.Labels)
	}
	// As kubectl: the Deployment keeps its revision annotation and takes the
	// ReplicaSet's other annotations in place of its own.
	if d.Annotations[remediations.RevisionAnnotation] != "3" || d.Annotations["kubernetes.io/change-cause"] != "deploy web:v2" {
		t.Errorf("annotations = %v", d.Annotations)
	}
	if _, ok := d.Annotations["team"]; ok {
		t.Errorf("annotations = %v: kubectl replaces them with the ReplicaSet's", d.Annotations)
	}
	// The Deployment controller takes it from there: revision 2's
	// ReplicaSet becomes revision 4, and its pods run web:v2 again.
	settledAt(t, ns, "4", "web:v2")

	// To a given revision.
	res, err = x.Execute(t.Context(), rollbackReq(dep, ns, "web", 1))
	if err != nil || res.Outcome != remediations.Succeeded || imageOf(t, dep, ns, "web") != "web:v1" {
		t.Fatalf("rollback to 1 = %+v, %v, image %s", res, err, imageOf(t, dep, ns, "web"))
	}
	settledAt(t, ns, "5", "web:v1")
	// Already there: skipped, not failed, and nothing written. Revision 1 is
	// revision 5 now (the controller renumbered it).
	rv := resourceVersion(t, ns, "web")
	res, err = x.Execute(t.Context(), rollbackReq(dep, ns, "web", 5))
	if err != nil || res.Outcome != remediations.Skipped || res.Reason != "AlreadyAtRevision" ||
		res.Message != "current template already matches revision 5" {
		t.Errorf("rollback to the live revision = %+v, %v; want Skipped/AlreadyAtRevision", res, err)
	}
	if got := resourceVersion(t, ns, "web"); got != rv {
		t.Errorf("a no-op rollback wrote the Deployment")
	}
	// A revision that is not in the history.
	res, err = x.Execute(t.Context(), rollbackReq(dep, ns, "web", 7))
	if err == nil || res.Outcome != remediations.Failed || res.Reason != "RevisionNotFound" ||
		!strings.Contains(err.Error(), "unable to find revision 7") {
		t.Errorf("rollback to 7 = %+v, %v", res, err)
	}
	// The ReplicaSet not controlled by the Deployment (revision 9) is never used.
	if _, err := x.Execute(t.Context(), rollbackReq(dep, ns, "web", 9)); err == nil {
		t.Errorf("rolled back to a ReplicaSet the Deployment does not control")
	}
	if !managedBy(t, dep, ns, "web", "alertmedic") {
		t.Errorf("no managedFields entry for field manager alertmedic")
	}
	var reasons []string
	for _, ev := range events(t, ns, "web") {
		if ev.Reason != "AlertmedicRollback" {
			t.Errorf("event reason %q", ev.Reason)
		}
		reasons = append(reasons, ev.Action)
	}
	if got := strings.Join(reasons, ","); len(reasons) != 5 || !strings.Contains(got, "RolledBack") || !strings.Contains(got, "AlreadyAtRevision") {
		t.Errorf("event actions = %s", got)
	}
}

// lastWritten returns a client whose writes matching method and path are
// recorded, and a function returning the Deployment the last of them
// answered with: the object as that write left it, before any controller
// acted on it.
func lastWritten(t *testing.T, method, path string) (kube.Client, func() *appsv1.Deployment) {
	t.Helper()
	rec := &recorder{method: method, path: path}
	cfg := rest.CopyConfig(cluster.Config)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { rec.next = rt; return rec }
	c, err := kube.New(cfg, kube.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c, func() *appsv1.Deployment {
		t.Helper()
		rec.mu.Lock()
		defer rec.mu.Unlock()
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(rec.last, nil, nil)
		d, ok := obj.(*appsv1.Deployment)
		if err != nil || !ok {
			t.Fatalf("no Deployment written (%v): %T", err, obj)
		}
		return d
	}
}

type recorder struct {
	next         http.RoundTripper
	method, path string
	mu           sync.Mutex
	last         []byte
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err != nil || req.Method != r.method || !strings.HasSuffix(req.URL.Path, r.path) {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.last = body
	r.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

func resourceVersion(t *testing.T, ns, name string) string {
	t.Helper()
	d, err := clientset().AppsV1().Deployments(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.ResourceVersion
}

func TestRollbackDeploymentWithoutHistory(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	release(t, v1alpha1.KindDeployment, ns, "web", 1, "web:v1")
	res, err := executor(t, medic()).Execute(t.Context(), rollbackReq(v1alpha1.KindDeployment, ns, "web", 0))
	if err == nil || res.Outcome != remediations.Failed || res.Reason != "NoRolloutHistory" ||
		!strings.Contains(err.Error(), "no earlier revision of Deployment") {
		t.Fatalf("result = %+v, err = %v", res, err)
	}
}

func TestRollbackRefusesPausedDeployment(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	deploymentWithHistory(t, ns)
	patchWorkload(t, v1alpha1.KindDeployment, ns, "web", []byte(`{"spec":{"paused":true}}`))
	res, err := executor(t, medic()).Execute(t.Context(), rollbackReq(v1alpha1.KindDeployment, ns, "web", 0))
	if err != nil || res.Outcome != remediations.Skipped || res.Reason != "Paused" {
		t.Fatalf("result = %+v, err = %v; want Skipped/Paused", res, err)
	}
	if img := imageOf(t, v1alpha1.KindDeployment, ns, "web"); img != "web:v3" {
		t.Errorf("paused Deployment rolled back to %s", img)
	}
}

// controllerRevisions returns the revision numbers of the ControllerRevisions
// the workload controls, each with the image it holds, in order.
func controllerRevisions(t *testing.T, kind v1alpha1.Kind, ns, name string) string {
	t.Helper()
	list, err := clientset().AppsV1().ControllerRevisions(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=" + name})
	if err != nil {
		t.Fatal(err)
	}
	var history []appsv1.ControllerRevision
	for _, cr := range list.Items {
		if ref := metav1.GetControllerOf(&cr); ref != nil && ref.Kind == string(kind) && ref.Name == name {
			history = append(history, cr)
		}
	}
	slices.SortFunc(history, func(a, b appsv1.ControllerRevision) int { return int(a.Revision - b.Revision) })
	var out []string
	for _, cr := range history {
		image := "?"
		if _, rest, ok := strings.Cut(string(cr.Data.Raw), `"image":"`); ok {
			image, _, _ = strings.Cut(rest, `"`)
		}
		out = append(out, strconv.FormatInt(cr.Revision, 10)+":"+image)
	}
	return strings.Join(out, " ")
}

// settledRevisions waits until the workload is rolled out and its
// controller's history reads want (see controllerRevisions).
func settledRevisions(t *testing.T, kind v1alpha1.Kind, ns, name, want string) {
	t.Helper()
	waitLong(t, fmt.Sprintf("history of %s %s/%s to read %s", kind, ns, name, want), func() (bool, error) {
		got := controllerRevisions(t, kind, ns, name)
		return got == want, fmt.Errorf("history %s", got)
	})
	rolledOut(t, kind, ns, name)
}

// StatefulSets and DaemonSets keep their history in ControllerRevisions,
// which their controllers make and renumber: a revision rolled back to
// becomes the newest.
func TestRollbackFromControllerRevisions(t *testing.T) {
	t.Parallel()
	for _, kind := range []v1alpha1.Kind{v1alpha1.KindStatefulSet, v1alpha1.KindDaemonSet} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ns := namespace(t)
			ctx := t.Context()
			release(t, kind, ns, "db", 1, "db:v1", "db:v2")
			settledRevisions(t, kind, ns, "db", "1:db:v1 2:db:v2")
			x := executor(t, medic())

			res, err := x.Execute(ctx, rollbackReq(kind, ns, "db", 0))
			if err != nil || res.Outcome != remediations.Succeeded || res.Before != "revision=2 db=db:v2" || res.After != "revision=1 db=db:v1" {
				t.Fatalf("rollback to previous = %+v, %v", res, err)
			}
			if img := imageOf(t, kind, ns, "db"); img != "db:v1" {
				t.Fatalf("image = %s, want db:v1", img)
			}
			// The controller rolls the pods back and renumbers revision 1 as 3.
			settledRevisions(t, kind, ns, "db", "2:db:v2 3:db:v1")
			if got := fmt.Sprint(podImages(t, ns, "db")); got != "[db:v1]" {
				t.Errorf("pods run %s, want db:v1", got)
			}
			// The live revision: nothing to do.
			res, err = x.Execute(ctx, rollbackReq(kind, ns, "db", 3))
			if err != nil || res.Outcome != remediations.Skipped || res.Reason != "AlreadyAtRevision" {
				t.Errorf("rollback to the live revision = %+v, %v; want Skipped/AlreadyAtRevision", res, err)
			}
			res, err = x.Execute(ctx, rollbackReq(kind, ns, "db", 2))
			if err != nil || res.Outcome != remediations.Succeeded || imageOf(t, kind, ns, "db") != "db:v2" {
				t.Errorf("rollback to revision 2 = %+v, %v, image %s", res, err, imageOf(t, kind, ns, "db"))
			}
			settledRevisions(t, kind, ns, "db", "3:db:v1 4:db:v2")
			res, err = x.Execute(ctx, rollbackReq(kind, ns, "db", 5))
			if err == nil || res.Reason != "RevisionNotFound" {
				t.Errorf("rollback to revision 5 = %+v, %v; want RevisionNotFound", res, err)
			}
			if !managedBy(t, kind, ns, "db", "alertmedic") {
				t.Errorf("no managedFields entry for field manager alertmedic")
			}
			if n := len(events(t, ns, "db")); n != 4 {
				t.Errorf("events = %d, want 4 (one per action)", n)
			}
		})
	}
}

func TestRollbackStatefulSetWithOneRevision(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	release(t, v1alpha1.KindStatefulSet, ns, "db", 1, "db:v1")
	settledRevisions(t, v1alpha1.KindStatefulSet, ns, "db", "1:db:v1")
	res, err := executor(t, medic()).Execute(t.Context(), rollbackReq(v1alpha1.KindStatefulSet, ns, "db", 0))
	if err == nil || res.Reason != "NoRolloutHistory" || !strings.Contains(err.Error(), "no earlier revision of StatefulSet") {
		t.Fatalf("result = %+v, err = %v", res, err)
	}
}

// A dry run goes through the API server (server-side dry-run) and records
// what it would have done, changing nothing.
func TestDryRunChangesNothing(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	deploymentWithHistory(t, ns)
	x := executor(t, medic())
	rv := resourceVersion(t, ns, "web")
	for _, req := range []remediations.Request{
		restartReq(v1alpha1.KindDeployment, ns, "web"),
		scaleReq(v1alpha1.KindDeployment, ns, "web", v1alpha1.ScaleParams{Op: v1alpha1.ScaleBy, N: 3}),
		rollbackReq(v1alpha1.KindDeployment, ns, "web", 0),
	} {
		req.DryRun = true
		res, err := x.Execute(t.Context(), req)
		if err != nil || res.Outcome != remediations.Succeeded || !res.DryRun {
			t.Errorf("dry-run %s = %+v, %v", req.Action, res, err)
		}
	}
	if got := resourceVersion(t, ns, "web"); got != rv {
		t.Errorf("dry runs wrote the Deployment (resourceVersion %s -> %s)", rv, got)
	}
	evs := events(t, ns, "web")
	if len(evs) != 3 {
		t.Fatalf("events = %d, want 3", len(evs))
	}
	for _, ev := range evs {
		if !strings.HasPrefix(ev.Message, "dry run, nothing changed: ") {
			t.Errorf("event %s: %q does not say it was a dry run", ev.Reason, ev.Message)
		}
	}
}
