package remediations_test

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
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

// deploymentWithHistory is a Deployment on revision 3 (image web:v3) with the
// ReplicaSets of revisions 1 to 3 as the deployment controller leaves them,
// plus a ReplicaSet with a higher revision that it does not control.
func deploymentWithHistory(t *testing.T, ns string) *appsv1.Deployment {
	t.Helper()
	d := createDeployment(t, ns, "web", 2, "web:v3")
	d.Annotations = map[string]string{remediations.RevisionAnnotation: "3", "team": "shop"}
	d, err := cluster.Client.AppsV1().Deployments(ns).Update(t.Context(), d, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	createReplicaSet(t, d, 1, "web:v1", nil)
	createReplicaSet(t, d, 2, "web:v2", map[string]string{"kubernetes.io/change-cause": "deploy v2"})
	createReplicaSet(t, d, 3, "web:v3", nil)
	stranger := d.DeepCopy()
	stranger.UID = "00000000-0000-0000-0000-000000000000"
	createReplicaSet(t, stranger, 9, "web:stranger", nil)
	return d
}

func TestRollbackDeployment(t *testing.T) {
	ns := namespace(t)
	deploymentWithHistory(t, ns)
	x := executor(t, cluster.Client)
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
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "web:v2" {
		t.Errorf("image = %s, want web:v2", img)
	}
	if _, ok := d.Spec.Template.Labels[appsv1.DefaultDeploymentUniqueLabelKey]; ok {
		t.Errorf("pod-template-hash label copied into the Deployment's template: %v", d.Spec.Template.Labels)
	}
	// As kubectl: the Deployment keeps its revision annotation and takes the
	// ReplicaSet's other annotations in place of its own.
	if d.Annotations[remediations.RevisionAnnotation] != "3" || d.Annotations["kubernetes.io/change-cause"] != "deploy v2" {
		t.Errorf("annotations = %v", d.Annotations)
	}
	if _, ok := d.Annotations["team"]; ok {
		t.Errorf("annotations = %v: kubectl replaces them with the ReplicaSet's", d.Annotations)
	}

	// To a given revision.
	res, err = x.Execute(t.Context(), rollbackReq(dep, ns, "web", 1))
	if err != nil || res.Outcome != remediations.Succeeded || imageOf(t, dep, ns, "web") != "web:v1" {
		t.Fatalf("rollback to 1 = %+v, %v, image %s", res, err, imageOf(t, dep, ns, "web"))
	}
	// Already there: skipped, not failed, and nothing written.
	rv := resourceVersion(t, ns, "web")
	res, err = x.Execute(t.Context(), rollbackReq(dep, ns, "web", 1))
	if err != nil || res.Outcome != remediations.Skipped || res.Reason != "AlreadyAtRevision" ||
		res.Message != "current template already matches revision 1" {
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

func resourceVersion(t *testing.T, ns, name string) string {
	t.Helper()
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.ResourceVersion
}

func TestRollbackDeploymentWithoutHistory(t *testing.T) {
	ns := namespace(t)
	d := createDeployment(t, ns, "web", 2, "web:v1")
	createReplicaSet(t, d, 1, "web:v1", nil)
	res, err := executor(t, cluster.Client).Execute(t.Context(), rollbackReq(v1alpha1.KindDeployment, ns, "web", 0))
	if err == nil || res.Outcome != remediations.Failed || res.Reason != "NoRolloutHistory" ||
		!strings.Contains(err.Error(), "no earlier revision of Deployment") {
		t.Fatalf("result = %+v, err = %v", res, err)
	}
}

func TestRollbackRefusesPausedDeployment(t *testing.T) {
	ns := namespace(t)
	d := deploymentWithHistory(t, ns)
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(t.Context(), d.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Spec.Paused = true
	if _, err := cluster.Client.AppsV1().Deployments(ns).Update(t.Context(), d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err := executor(t, cluster.Client).Execute(t.Context(), rollbackReq(v1alpha1.KindDeployment, ns, "web", 0))
	if err != nil || res.Outcome != remediations.Skipped || res.Reason != "Paused" {
		t.Fatalf("result = %+v, err = %v; want Skipped/Paused", res, err)
	}
	if img := imageOf(t, v1alpha1.KindDeployment, ns, "web"); img != "web:v3" {
		t.Errorf("paused Deployment rolled back to %s", img)
	}
}

// StatefulSets and DaemonSets keep their history in ControllerRevisions.
func TestRollbackFromControllerRevisions(t *testing.T) {
	for _, kind := range []v1alpha1.Kind{v1alpha1.KindStatefulSet, v1alpha1.KindDaemonSet} {
		t.Run(string(kind), func(t *testing.T) {
			ns := namespace(t)
			apps := cluster.Client.AppsV1()
			ctx := t.Context()
			// Revision 1 with v1, then an update to v2 recorded as revision 2.
			switch kind {
			case v1alpha1.KindStatefulSet:
				s := createStatefulSet(t, ns, "db", 1, "db:v1")
				recordRevision(t, s, kind, s.Spec.Template, 1)
				s.Spec.Template.Spec.Containers[0].Image = "db:v2"
				s, err := apps.StatefulSets(ns).Update(ctx, s, metav1.UpdateOptions{})
				if err != nil {
					t.Fatal(err)
				}
				recordRevision(t, s, kind, s.Spec.Template, 2)
			case v1alpha1.KindDaemonSet:
				d := createDaemonSet(t, ns, "db", "db:v1")
				recordRevision(t, d, kind, d.Spec.Template, 1)
				d.Spec.Template.Spec.Containers[0].Image = "db:v2"
				d, err := apps.DaemonSets(ns).Update(ctx, d, metav1.UpdateOptions{})
				if err != nil {
					t.Fatal(err)
				}
				recordRevision(t, d, kind, d.Spec.Template, 2)
			}
			x := executor(t, cluster.Client)

			res, err := x.Execute(ctx, rollbackReq(kind, ns, "db", 0))
			if err != nil || res.Outcome != remediations.Succeeded || res.Before != "revision=2 db=db:v2" || res.After != "revision=1 db=db:v1" {
				t.Fatalf("rollback to previous = %+v, %v", res, err)
			}
			if img := imageOf(t, kind, ns, "db"); img != "db:v1" {
				t.Fatalf("image = %s, want db:v1", img)
			}
			// The previous revision is live now: nothing to do.
			res, err = x.Execute(ctx, rollbackReq(kind, ns, "db", 0))
			if err != nil || res.Outcome != remediations.Skipped || res.Reason != "AlreadyAtRevision" {
				t.Errorf("second rollback = %+v, %v; want Skipped/AlreadyAtRevision", res, err)
			}
			res, err = x.Execute(ctx, rollbackReq(kind, ns, "db", 2))
			if err != nil || res.Outcome != remediations.Succeeded || imageOf(t, kind, ns, "db") != "db:v2" {
				t.Errorf("rollback to revision 2 = %+v, %v, image %s", res, err, imageOf(t, kind, ns, "db"))
			}
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
	ns := namespace(t)
	s := createStatefulSet(t, ns, "db", 1, "db:v1")
	recordRevision(t, s, v1alpha1.KindStatefulSet, s.Spec.Template, 1)
	res, err := executor(t, cluster.Client).Execute(t.Context(), rollbackReq(v1alpha1.KindStatefulSet, ns, "db", 0))
	if err == nil || res.Reason != "NoRolloutHistory" || !strings.Contains(err.Error(), "no earlier revision of StatefulSet") {
		t.Fatalf("result = %+v, err = %v", res, err)
	}
}

// A dry run goes through the API server (server-side dry-run) and records
// what it would have done, changing nothing.
func TestDryRunChangesNothing(t *testing.T) {
	ns := namespace(t)
	deploymentWithHistory(t, ns)
	x := executor(t, cluster.Client)
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
