package remediations_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/remediations"
)

func TestReplicas(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		current int32
		spec    v1alpha1.ScaleParams
		want    int32
		clamp   string
	}{
		{"to", 2, v1alpha1.ScaleParams{Op: v1alpha1.ScaleTo, N: 5}, 5, ""},
		{"by up", 2, v1alpha1.ScaleParams{Op: v1alpha1.ScaleBy, N: 2}, 4, ""},
		{"by down", 4, v1alpha1.ScaleParams{Op: v1alpha1.ScaleBy, N: -1}, 3, ""},
		{"by down below zero", 1, v1alpha1.ScaleParams{Op: v1alpha1.ScaleBy, N: -3}, 0, ""},
		{"by down below min", 3, v1alpha1.ScaleParams{Op: v1alpha1.ScaleBy, N: -3, Min: 2}, 2, "min"},
		{"multiply rounds up", 3, v1alpha1.ScaleParams{Op: v1alpha1.ScaleMultiply, Factor: "1.5"}, 5, ""},
		{"multiply clamped", 4, v1alpha1.ScaleParams{Op: v1alpha1.ScaleMultiply, Factor: "2", Max: 6}, 6, "max"},
		{"multiply from zero stays zero", 0, v1alpha1.ScaleParams{Op: v1alpha1.ScaleMultiply, Factor: "2"}, 0, ""},
		{"to above max", 2, v1alpha1.ScaleParams{Op: v1alpha1.ScaleTo, N: 50, Max: 10}, 10, "max"},
		{"max 0 is unbounded", 2, v1alpha1.ScaleParams{Op: v1alpha1.ScaleBy, N: 100}, 102, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, clamp, err := remediations.Replicas(tc.current, tc.spec)
			if got != tc.want || clamp != tc.clamp || err != nil {
				t.Errorf("Replicas(%d, %+v) = %d, %q, %v; want %d, %q", tc.current, tc.spec, got, clamp, err, tc.want, tc.clamp)
			}
		})
	}
	// A factor that does not read is an error, never a multiplication by 0.
	for _, f := range []v1alpha1.Factor{"", "0", "abc", "NaN", "-2"} {
		if got, _, err := remediations.Replicas(4, v1alpha1.ScaleParams{Op: v1alpha1.ScaleMultiply, Factor: f}); err == nil || got != 4 {
			t.Errorf("Replicas(4, x%q) = %d, %v; want 4 and an error", f, got, err)
		}
	}
}

// A scale whose parameters do not validate never acts: the executor checks
// them itself, whoever built the request, and the replica count stays as
// it was (a factor of 0 or "" is not a scale to zero, nor to the minimum).
func TestScaleWithInvalidParametersNeverActs(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	createWorkload(t, v1alpha1.KindDeployment, ns, "web")
	before := replicasOf(t, v1alpha1.KindDeployment, ns, "web")
	for _, sc := range []*v1alpha1.ScaleParams{
		{Op: v1alpha1.ScaleMultiply, Factor: "0"},
		{Op: v1alpha1.ScaleMultiply, Factor: ""},
		{Op: v1alpha1.ScaleMultiply, Factor: "abc"},
		{Op: v1alpha1.ScaleMultiply, Factor: "NaN"},
		{Op: v1alpha1.ScaleTo, N: -1},
		{Op: "double", N: 2},
		{Op: v1alpha1.ScaleTo, N: 3, Min: 5, Max: 2},
		{Op: v1alpha1.ScaleBy, N: -5, Min: -1},
		nil,
	} {
		req := scaleReq(v1alpha1.KindDeployment, ns, "web", v1alpha1.ScaleParams{})
		req.Scale = sc
		for _, x := range []func(context.Context, remediations.Request) (remediations.Result, error){
			executor(t, medic()).Execute, executor(t, medic()).Plan,
		} {
			res, err := x(t.Context(), req)
			if err == nil || remediations.IsTransient(err) || res.Outcome == remediations.Succeeded {
				t.Errorf("scale %+v = %+v, %v; want a permanent error", sc, res, err)
			}
			if err != nil && res.Reason != "InvalidParameters" {
				t.Errorf("scale %+v: reason %q, want InvalidParameters", sc, res.Reason)
			}
		}
		if got := replicasOf(t, v1alpha1.KindDeployment, ns, "web"); got != before {
			t.Fatalf("after scale %+v: %d replicas, want still %d", sc, got, before)
		}
	}
}

func scaleReq(kind v1alpha1.Kind, ns, name string, s v1alpha1.ScaleParams) remediations.Request {
	return remediations.Request{
		Action: v1alpha1.ActionScale, Scale: &s,
		Target: v1alpha1.Target{Kind: kind, Namespace: ns, Name: name},
		Rule:   "scale-on-latency", AlertName: "CheckoutLatencyHigh",
	}
}

func replicasOf(t *testing.T, kind v1alpha1.Kind, ns, name string) int32 {
	t.Helper()
	apps := clientset().AppsV1()
	switch kind {
	case v1alpha1.KindDeployment:
		d, err := apps.Deployments(ns).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return *d.Spec.Replicas
	case v1alpha1.KindStatefulSet:
		s, err := apps.StatefulSets(ns).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return *s.Spec.Replicas
	}
	t.Fatalf("no replicas for %s", kind)
	return 0
}

func TestScale(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		kind    v1alpha1.Kind
		current int32
		spec    v1alpha1.ScaleParams
		want    int32
		outcome remediations.Outcome
		reason  string
		message string
	}{
		{"deployment to 5", v1alpha1.KindDeployment, 2, v1alpha1.ScaleParams{Op: v1alpha1.ScaleTo, N: 5}, 5, remediations.Succeeded, "Scaled", "scaled from 2 to 5 replicas"},
		{"statefulset by +2", v1alpha1.KindStatefulSet, 2, v1alpha1.ScaleParams{Op: v1alpha1.ScaleBy, N: 2}, 4, remediations.Succeeded, "Scaled", "scaled from 2 to 4 replicas"},
		{"x2 clamped at max", v1alpha1.KindDeployment, 4, v1alpha1.ScaleParams{Op: v1alpha1.ScaleMultiply, Factor: "2", Max: 6}, 6, remediations.Succeeded, "Scaled", "scaled from 4 to 6 replicas (held at the rule's max of 6)"},
		{"already at max", v1alpha1.KindDeployment, 6, v1alpha1.ScaleParams{Op: v1alpha1.ScaleBy, N: 1, Max: 6}, 6, remediations.Skipped, "AtMaximum", "already at 6 replicas (held at the rule's max of 6)"},
		{"statefulset down held at min", v1alpha1.KindStatefulSet, 4, v1alpha1.ScaleParams{Op: v1alpha1.ScaleBy, N: -3, Min: 2}, 2, remediations.Succeeded, "Scaled", "scaled from 4 to 2 replicas (held at the rule's min of 2)"},
		{"already there", v1alpha1.KindDeployment, 3, v1alpha1.ScaleParams{Op: v1alpha1.ScaleTo, N: 3}, 3, remediations.Skipped, "AlreadyAtReplicas", "already at 3 replicas"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := namespace(t)
			if tc.kind == v1alpha1.KindDeployment {
				createDeployment(t, ns, "web", tc.current, "nginx:1")
			} else {
				createStatefulSet(t, ns, "web", tc.current, "nginx:1")
			}
			rolledOut(t, tc.kind, ns, "web")
			res, err := executor(t, medic()).Execute(t.Context(), scaleReq(tc.kind, ns, "web", tc.spec))
			if err != nil {
				t.Fatalf("Execute: %v", err)
			}
			if res.Outcome != tc.outcome || res.Reason != tc.reason || res.Message != tc.message {
				t.Errorf("result = %+v; want %s/%s %q", res, tc.outcome, tc.reason, tc.message)
			}
			if got := replicasOf(t, tc.kind, ns, "web"); got != tc.want {
				t.Errorf("replicas = %d, want %d", got, tc.want)
			}
			// The pods follow: the controller makes or removes them.
			rolledOut(t, tc.kind, ns, "web")
			if n := len(pods(t, ns, "web")); n != int(tc.want) {
				t.Errorf("%d pods run, want %d", n, tc.want)
			}
			ev := oneEvent(t, ns, "web")
			if ev.Reason != "AlertmedicScale" || !strings.Contains(ev.Message, tc.message) {
				t.Errorf("event %s %q", ev.Reason, ev.Message)
			}
			if tc.outcome == remediations.Succeeded && !managedBy(t, tc.kind, ns, "web", "alertmedic") {
				t.Errorf("no managedFields entry for field manager alertmedic")
			}
		})
	}
}

func TestScaleDaemonSetIsUnsupported(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	createDaemonSet(t, ns, "agent", "agent:1")
	res, err := executor(t, medic()).Execute(t.Context(), scaleReq(v1alpha1.KindDaemonSet, ns, "agent", v1alpha1.ScaleParams{Op: v1alpha1.ScaleTo, N: 3}))
	if err == nil || res.Outcome != remediations.Failed || res.Reason != "Unsupported" || !strings.Contains(err.Error(), "no replica count") {
		t.Fatalf("result = %+v, err = %v", res, err)
	}
}

// A relative scale that meets a concurrent change is recomputed from the
// count that is really there: +2 on top of the other writer's +1.
func TestScaleConflictIsRetried(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	createDeployment(t, ns, "web", 2, "nginx:1")
	client, inj := injectConflicts(t, http.MethodPut, "/deployments/web/scale", touch(t, ns, "web"))
	res, err := executor(t, client).Execute(t.Context(), scaleReq(v1alpha1.KindDeployment, ns, "web", v1alpha1.ScaleParams{Op: v1alpha1.ScaleBy, N: 2}))
	if err != nil || res.Outcome != remediations.Succeeded {
		t.Fatalf("scale = %+v, %v", res, err)
	}
	if len(inj.statuss) != 2 || inj.statuss[0] != http.StatusConflict || inj.statuss[1] != http.StatusOK {
		t.Errorf("PUT scale answers = %v, want [409 200]", inj.statuss)
	}
	if got := replicasOf(t, v1alpha1.KindDeployment, ns, "web"); got != 5 {
		t.Errorf("replicas = %d, want 5 (2, +1 by someone else, +2 by alertmedic)", got)
	}
	if res.Message != "scaled from 3 to 5 replicas" {
		t.Errorf("message = %q", res.Message)
	}
}
