package remediations_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/remediations"
)

// generationOf is the Deployment's metadata.generation.
func generationOf(t *testing.T, ns, name string) int64 {
	t.Helper()
	d, err := clientset().AppsV1().Deployments(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Generation
}

func TestPlanPreviewsWithoutChangingOrRecording(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	deploymentWithHistory(t, ns)
	x := executor(t, medic())
	rv, gen := resourceVersion(t, ns, "web"), generationOf(t, ns, "web")
	d, err := clientset().AppsV1().Deployments(ns).Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		req           remediations.Request
		before, after string
	}{
		{restartReq(v1alpha1.KindDeployment, ns, "web"), "restartedAt=never", "restartedAt=2026-11-23T09:30:00Z"},
		{scaleReq(v1alpha1.KindDeployment, ns, "web", v1alpha1.ScaleParams{Op: v1alpha1.ScaleMultiply, Factor: "2"}), "replicas=2", "replicas=4"},
		{rollbackReq(v1alpha1.KindDeployment, ns, "web", 0), "revision=3 web=web:v3", "revision=2 web=web:v2"},
	} {
		t.Run(string(tc.req.Action), func(t *testing.T) {
			t.Parallel()
			res, err := x.Plan(t.Context(), tc.req)
			if err != nil {
				t.Fatal(err)
			}
			want := remediations.Result{Outcome: remediations.Succeeded, Before: tc.before, After: tc.after, DryRun: true, Generation: gen, UID: string(d.UID)}
			res.Reason, res.Message = "", ""
			if res != want {
				t.Errorf("plan = %+v\nwant   %+v", res, want)
			}
		})
	}
	if got := resourceVersion(t, ns, "web"); got != rv {
		t.Errorf("planning wrote the Deployment (resourceVersion %s -> %s)", rv, got)
	}
	if evs := events(t, ns, "web"); len(evs) != 0 {
		t.Errorf("planning recorded %d Events, want none: %v", len(evs), evs)
	}
}

func TestPlanOfMissingTargetFails(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	res, err := executor(t, medic()).Plan(t.Context(), restartReq(v1alpha1.KindDeployment, ns, "gone"))
	if err == nil || res.Reason != "NotFound" {
		t.Fatalf("plan of a missing Deployment = %+v, %v; want a NotFound failure", res, err)
	}
}

// An approved action runs only on the target it was planned against: a
// change of spec since (here another writer scaling it) makes it Skipped as
// TargetChanged, and nothing is written.
func TestStalePlanIsNotApplied(t *testing.T) {
	t.Parallel()
	for _, action := range []v1alpha1.Action{v1alpha1.ActionRestart, v1alpha1.ActionScale, v1alpha1.ActionRollback} {
		t.Run(string(action), func(t *testing.T) {
			t.Parallel()
			ns := namespace(t)
			deploymentWithHistory(t, ns)
			x := executor(t, medic())
			req := map[v1alpha1.Action]remediations.Request{
				v1alpha1.ActionRestart:  restartReq(v1alpha1.KindDeployment, ns, "web"),
				v1alpha1.ActionScale:    scaleReq(v1alpha1.KindDeployment, ns, "web", v1alpha1.ScaleParams{Op: v1alpha1.ScaleBy, N: 2}),
				v1alpha1.ActionRollback: rollbackReq(v1alpha1.KindDeployment, ns, "web", 0),
			}[action]
			plan, err := x.Plan(t.Context(), req)
			if err != nil || plan.Generation == 0 {
				t.Fatalf("plan = %+v, %v", plan, err)
			}
			touch(t, ns, "web")() // someone scales it from 2 to 3 meanwhile
			rv := resourceVersion(t, ns, "web")

			req.ExpectGeneration = plan.Generation
			res, err := x.Execute(t.Context(), req)
			if err != nil || res.Outcome != remediations.Skipped || res.Reason != "TargetChanged" {
				t.Fatalf("execute of a stale plan = %+v, %v; want Skipped TargetChanged", res, err)
			}
			want := fmt.Sprintf("(generation %d, now %d)", plan.Generation, plan.Generation+1)
			if !strings.Contains(res.Message, want) {
				t.Errorf("message %q does not say %q", res.Message, want)
			}
			if got := resourceVersion(t, ns, "web"); got != rv {
				t.Errorf("a stale plan wrote the Deployment (resourceVersion %s -> %s)", rv, got)
			}
			if ev := oneEvent(t, ns, "web"); ev.Action != "TargetChanged" {
				t.Errorf("event action = %q, want TargetChanged", ev.Action)
			}

			// Planned again against the target as it is now, it runs.
			req.ExpectGeneration = generationOf(t, ns, "web")
			if res, err := x.Execute(t.Context(), req); err != nil || res.Outcome != remediations.Succeeded {
				t.Errorf("execute of a fresh plan = %+v, %v", res, err)
			}
		})
	}
}

// A change that lands between the generation check and the write is caught
// by the resourceVersion the write carries: the action re-reads, sees the new
// generation and refuses, rather than applying the stale plan.
func TestChangeDuringStalePlanCheckIsCaught(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	createDeployment(t, ns, "web", 2, "nginx:1")
	x0 := executor(t, medic())
	req := restartReq(v1alpha1.KindDeployment, ns, "web")
	plan, err := x0.Plan(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	client, inj := injectConflicts(t, http.MethodPatch, "/deployments/web", touch(t, ns, "web"))
	req.ExpectGeneration = plan.Generation
	res, err := executor(t, client).Execute(t.Context(), req)
	if err != nil || res.Reason != "TargetChanged" {
		t.Fatalf("execute = %+v, %v; want Skipped TargetChanged", res, err)
	}
	if len(inj.statuss) != 1 || inj.statuss[0] != http.StatusConflict {
		t.Errorf("PATCH answers = %v, want one 409 and no second write", inj.statuss)
	}
	d, err := clientset().AppsV1().Deployments(ns).Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Spec.Template.Annotations[remediations.RestartedAtAnnotation] != "" {
		t.Errorf("restarted although the plan went stale")
	}
}
