package remediations_test

import (
	"net/http"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/remediations"
)

func TestReplicas(t *testing.T) {
	for _, tc := range []struct {
		name    string
		current int32
		spec    remediations.ScaleSpec
		want    int32
		clamp   string
	}{
		{"to", 2, remediations.ScaleSpec{Op: remediations.ScaleTo, N: 5}, 5, ""},
		{"by up", 2, remediations.ScaleSpec{Op: remediations.ScaleBy, N: 2}, 4, ""},
		{"by down", 4, remediations.ScaleSpec{Op: remediations.ScaleBy, N: -1}, 3, ""},
		{"by down below zero", 1, remediations.ScaleSpec{Op: remediations.ScaleBy, N: -3}, 0, ""},
		{"by down below min", 3, remediations.ScaleSpec{Op: remediations.ScaleBy, N: -3, Min: 2}, 2, "min"},
		{"multiply rounds up", 3, remediations.ScaleSpec{Op: remediations.ScaleMultiply, Factor: 1.5}, 5, ""},
		{"multiply clamped", 4, remediations.ScaleSpec{Op: remediations.ScaleMultiply, Factor: 2, Max: 6}, 6, "max"},
		{"multiply from zero stays zero", 0, remediations.ScaleSpec{Op: remediations.ScaleMultiply, Factor: 2}, 0, ""},
		{"to above max", 2, remediations.ScaleSpec{Op: remediations.ScaleTo, N: 50, Max: 10}, 10, "max"},
		{"max 0 is unbounded", 2, remediations.ScaleSpec{Op: remediations.ScaleBy, N: 100}, 102, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, clamp := remediations.Replicas(tc.current, tc.spec)
			if got != tc.want || clamp != tc.clamp {
				t.Errorf("Replicas(%d, %+v) = %d, %q; want %d, %q", tc.current, tc.spec, got, clamp, tc.want, tc.clamp)
			}
		})
	}
}

func scaleReq(kind, ns, name string, s remediations.ScaleSpec) remediations.Request {
	return remediations.Request{
		Action: remediations.ActionScale, Scale: s,
		Target: remediations.Target{Kind: kind, Namespace: ns, Name: name},
		Rule:   "scale-on-latency", AlertName: "CheckoutLatencyHigh",
	}
}

func replicasOf(t *testing.T, kind, ns, name string) int32 {
	t.Helper()
	apps := cluster.Client.AppsV1()
	switch kind {
	case remediations.KindDeployment:
		d, err := apps.Deployments(ns).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return *d.Spec.Replicas
	case remediations.KindStatefulSet:
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
	for _, tc := range []struct {
		name    string
		kind    string
		current int32
		spec    remediations.ScaleSpec
		want    int32
		outcome remediations.Outcome
		reason  string
		message string
	}{
		{"deployment to 5", remediations.KindDeployment, 2, remediations.ScaleSpec{Op: remediations.ScaleTo, N: 5}, 5, remediations.Succeeded, "Scaled", "scaled from 2 to 5 replicas"},
		{"statefulset by +2", remediations.KindStatefulSet, 2, remediations.ScaleSpec{Op: remediations.ScaleBy, N: 2}, 4, remediations.Succeeded, "Scaled", "scaled from 2 to 4 replicas"},
		{"x2 clamped at max", remediations.KindDeployment, 4, remediations.ScaleSpec{Op: remediations.ScaleMultiply, Factor: 2, Max: 6}, 6, remediations.Succeeded, "Scaled", "scaled from 4 to 6 replicas (held at the rule's max of 6)"},
		{"already at max", remediations.KindDeployment, 6, remediations.ScaleSpec{Op: remediations.ScaleBy, N: 1, Max: 6}, 6, remediations.Skipped, "AtMaximum", "already at 6 replicas (held at the rule's max of 6)"},
		{"statefulset down held at min", remediations.KindStatefulSet, 4, remediations.ScaleSpec{Op: remediations.ScaleBy, N: -3, Min: 2}, 2, remediations.Succeeded, "Scaled", "scaled from 4 to 2 replicas (held at the rule's min of 2)"},
		{"already there", remediations.KindDeployment, 3, remediations.ScaleSpec{Op: remediations.ScaleTo, N: 3}, 3, remediations.Skipped, "AlreadyAtReplicas", "already at 3 replicas"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := namespace(t)
			if tc.kind == remediations.KindDeployment {
				createDeployment(t, ns, "web", tc.current, "nginx:1")
			} else {
				createStatefulSet(t, ns, "web", tc.current, "nginx:1")
			}
			res, err := executor(t, cluster.Client).Execute(t.Context(), scaleReq(tc.kind, ns, "web", tc.spec))
			if err != nil {
				t.Fatalf("Execute: %v", err)
			}
			if res.Outcome != tc.outcome || res.Reason != tc.reason || res.Message != tc.message {
				t.Errorf("result = %+v; want %s/%s %q", res, tc.outcome, tc.reason, tc.message)
			}
			if got := replicasOf(t, tc.kind, ns, "web"); got != tc.want {
				t.Errorf("replicas = %d, want %d", got, tc.want)
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
	ns := namespace(t)
	createDaemonSet(t, ns, "agent", "agent:1")
	res, err := executor(t, cluster.Client).Execute(t.Context(), scaleReq(remediations.KindDaemonSet, ns, "agent", remediations.ScaleSpec{Op: remediations.ScaleTo, N: 3}))
	if err == nil || res.Outcome != remediations.Failed || res.Reason != "Unsupported" || !strings.Contains(err.Error(), "no replica count") {
		t.Fatalf("result = %+v, err = %v", res, err)
	}
}

// A relative scale that meets a concurrent change is recomputed from the
// count that is really there: +2 on top of the other writer's +1.
func TestScaleConflictIsRetried(t *testing.T) {
	ns := namespace(t)
	createDeployment(t, ns, "web", 2, "nginx:1")
	client, inj := injectConflicts(t, http.MethodPut, "/deployments/web/scale", touch(t, ns, "web"))
	res, err := executor(t, client).Execute(t.Context(), scaleReq(remediations.KindDeployment, ns, "web", remediations.ScaleSpec{Op: remediations.ScaleBy, N: 2}))
	if err != nil || res.Outcome != remediations.Succeeded {
		t.Fatalf("scale = %+v, %v", res, err)
	}
	if len(inj.statuss) != 2 || inj.statuss[0] != http.StatusConflict || inj.statuss[1] != http.StatusOK {
		t.Errorf("PUT scale answers = %v, want [409 200]", inj.statuss)
	}
	if got := replicasOf(t, remediations.KindDeployment, ns, "web"); got != 5 {
		t.Errorf("replicas = %d, want 5 (2, +1 by someone else, +2 by alertmedic)", got)
	}
	if res.Message != "scaled from 3 to 5 replicas" {
		t.Errorf("message = %q", res.Message)
	}
}
