package remediations_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/kube"
	"github.com/alertmedic/alertmedic/remediations"
)

// loseAnswer forwards the first write it matches to the API server, which
// applies it, and then loses the answer: the client sees a 504 (as from a
// proxy or load balancer that gave up) or a cut connection.
type loseAnswer struct {
	next   http.RoundTripper
	method string
	path   string
	as     string // "504", "cut", or "drop": cut before forwarding
	mu     sync.Mutex
	lost   int
}

func (l *loseAnswer) RoundTrip(req *http.Request) (*http.Response, error) {
	l.mu.Lock()
	hit := l.lost == 0 && req.Method == l.method && strings.Contains(req.URL.Path, l.path)
	if hit {
		l.lost++
	}
	l.mu.Unlock()
	if !hit {
		return l.next.RoundTrip(req)
	}
	if l.as == "drop" {
		return nil, errors.New("read: connection reset by peer")
	}
	resp, err := l.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return nil, fmt.Errorf("the write itself failed with %d: the test expected it to apply", resp.StatusCode)
	}
	if l.as == "cut" {
		return nil, errors.New("read: connection reset by peer")
	}
	body := `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"the server was unable to return a response in the time allotted","reason":"Timeout","code":504}`
	return &http.Response{StatusCode: http.StatusGatewayTimeout, Header: http.Header{"Content-Type": []string{"application/json"}},
		Body: io.NopCloser(strings.NewReader(body)), Request: req}, nil
}

func lossy(t *testing.T, method, path, as string) kube.Client {
	t.Helper()
	l := &loseAnswer{method: method, path: path, as: as}
	cfg := rest.CopyConfig(cluster.Config)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { l.next = rt; return l }
	c, err := kube.New(cfg, kube.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ambiguous is one action whose write's answer is lost: how to ask for it,
// which request is its write, and what the target looks like.
type ambiguous struct {
	name   string
	setup  func(t *testing.T, ns string)
	req    func(ns string) remediations.Request
	method string
	path   string
	state  func(t *testing.T, ns string) string
	before string
	after  string
	// acted, when set, waits until the workload's controller has acted on
	// the applied write, as it will have by the time a retry comes (a
	// rollback's revision is renumbered then).
	acted func(t *testing.T, ns string)
}

func ambiguousActions() []ambiguous {
	dep := v1alpha1.KindDeployment
	out := []ambiguous{
		{name: "restart", setup: func(t *testing.T, ns string) { createDeployment(t, ns, "web", 2, "web:v1") },
			req: func(ns string) remediations.Request { return restartReq(dep, ns, "web") }, method: http.MethodPatch, path: "/deployments/web",
			state: func(t *testing.T, ns string) string {
				return "restartedAt=" + liveTemplate(t, dep, ns, "web").Annotations[remediations.RestartedAtAnnotation]
			},
			before: "restartedAt=", after: "restartedAt=" + clock.Format("2006-01-02T15:04:05Z07:00")},
		{name: "scale by +2", setup: func(t *testing.T, ns string) { createDeployment(t, ns, "web", 2, "web:v1") },
			req: func(ns string) remediations.Request {
				return scaleReq(dep, ns, "web", v1alpha1.ScaleParams{Op: v1alpha1.ScaleBy, N: 2})
			}, method: http.MethodPut, path: "/deployments/web/scale",
			state:  func(t *testing.T, ns string) string { return fmt.Sprintf("replicas=%d", replicasOf(t, dep, ns, "web")) },
			before: "replicas=2", after: "replicas=4"},
		{name: "scale x2", setup: func(t *testing.T, ns string) { createDeployment(t, ns, "web", 3, "web:v1") },
			req: func(ns string) remediations.Request {
				return scaleReq(dep, ns, "web", v1alpha1.ScaleParams{Op: v1alpha1.ScaleMultiply, Factor: "2"})
			}, method: http.MethodPut, path: "/deployments/web/scale",
			state:  func(t *testing.T, ns string) string { return fmt.Sprintf("replicas=%d", replicasOf(t, dep, ns, "web")) },
			before: "replicas=3", after: "replicas=6"},
		{name: "rollback to the previous revision", setup: func(t *testing.T, ns string) { deploymentWithHistory(t, ns) },
			req:    func(ns string) remediations.Request { return rollbackReq(dep, ns, "web", 0) },
			method: http.MethodPatch, path: "/deployments/web",
			state:  func(t *testing.T, ns string) string { return "image=" + imageOf(t, dep, ns, "web") },
			before: "image=web:v3", after: "image=web:v2",
			// Revision 2's ReplicaSet is revision 4 now: "the previous
			// revision" is the bad one, 3.
			acted: func(t *testing.T, ns string) { settledAt(t, ns, "4", "web:v2") }},
	}
	out = append(out, ambiguous{name: "raise an HPA's minReplicas",
		setup: func(t *testing.T, ns string) {
			createDeployment(t, ns, "web", 2, "web:v1")
			createHPA(t, ns, "web", 2, 10)
		},
		req: func(ns string) remediations.Request {
			r := scaleReq(dep, ns, "web", v1alpha1.ScaleParams{Op: v1alpha1.ScaleTo, N: 5, HPA: v1alpha1.HPARaise, HPAFor: &metav1.Duration{Duration: time.Hour}})
			r.Record = "rem-raise"
			return r
		}, method: http.MethodPatch, path: "/horizontalpodautoscalers/web",
		state: func(t *testing.T, ns string) string {
			h, err := clientset().AutoscalingV2().HorizontalPodAutoscalers(ns).Get(t.Context(), "web", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return fmt.Sprintf("minReplicas=%d", *h.Spec.MinReplicas)
		},
		before: "minReplicas=2", after: "minReplicas=5"})
	for _, kind := range []v1alpha1.Kind{v1alpha1.KindStatefulSet, v1alpha1.KindDaemonSet} {
		out = append(out, ambiguous{name: "rollback a " + string(kind),
			setup: func(t *testing.T, ns string) {
				release(t, kind, ns, "web", 1, "web:v1", "web:v2")
				settledRevisions(t, kind, ns, "web", "1:web:v1 2:web:v2")
			},
			req:    func(ns string) remediations.Request { return rollbackReq(kind, ns, "web", 0) },
			method: http.MethodPatch, path: "/" + strings.ToLower(string(kind)) + "s/web",
			state:  func(t *testing.T, ns string) string { return "image=" + imageOf(t, kind, ns, "web") },
			before: "image=web:v2", after: "image=web:v1",
			// The controller renumbers revision 1 as 3.
			acted: func(t *testing.T, ns string) { settledRevisions(t, kind, ns, "web", "2:web:v2 3:web:v1") }})
	}
	return out
}

// A write that was applied but whose answer was lost (504, or the
// connection cut after the request went out) is settled by the next
// attempt from the target: it is recorded as done, the target changed
// exactly once, and one Event tells of it. Without that, the retry would
// add 2 again, double again, or roll back the rollback.
func TestLostAnswerIsNotAppliedTwice(t *testing.T) {
	t.Parallel()
	for _, a := range ambiguousActions() {
		for _, as := range []string{"504", "cut"} {
			t.Run(a.name+"/"+as, func(t *testing.T) {
				t.Parallel()
				ns := namespace(t)
				a.setup(t, ns)
				var hooked *v1alpha1.Write
				req := a.req(ns)
				req.BeforeWrite = func(_ context.Context, w *v1alpha1.Write) error { hooked = w; return nil }
				res, err := executor(t, lossy(t, a.method, a.path, as)).Execute(t.Context(), req)
				if err == nil || !remediations.IsTransient(err) {
					t.Fatalf("first attempt: err = %v, want a transient error", err)
				}
				if res.Write == nil || res.Write != hooked {
					t.Fatalf("first attempt's Write = %+v, want the change handed to BeforeWrite (%+v)", res.Write, hooked)
				}
				if got := a.state(t, ns); got != a.after {
					t.Fatalf("after the lost answer the target shows %s, want %s (the write applied)", got, a.after)
				}
				if n := len(events(t, ns, "web")); n != 0 {
					t.Errorf("events after the transient failure = %d, want 0 until the outcome is known", n)
				}

				if a.acted != nil {
					a.acted(t, ns)
				}

				// The next attempt, told what was sent.
				retry := a.req(ns)
				retry.Prior = res.Write
				sent := false
				retry.BeforeWrite = func(context.Context, *v1alpha1.Write) error { sent = true; return nil }
				res2, err := executor(t, medic()).Execute(t.Context(), retry)
				if err != nil || res2.Outcome != remediations.Succeeded || !strings.Contains(res2.Message, "applied by attempt") {
					t.Fatalf("second attempt = %+v, %v; want Succeeded as applied by the first", res2, err)
				}
				if sent {
					t.Errorf("the second attempt sent a change again")
				}
				if got := a.state(t, ns); got != a.after {
					t.Errorf("after the second attempt the target shows %s, want still %s (changed once)", got, a.after)
				}
				if evs := events(t, ns, "web"); len(evs) != 1 || evs[0].Type != "Normal" {
					t.Errorf("events = %d, want one Normal Event for the action", len(evs))
				}
			})
		}
	}
}

// A write cut before it reached the API server was not applied: the next
// attempt sends the very same change, once.
func TestWriteThatNeverArrivedIsSentAgain(t *testing.T) {
	t.Parallel()
	for _, a := range ambiguousActions() {
		t.Run(a.name, func(t *testing.T) {
			t.Parallel()
			ns := namespace(t)
			a.setup(t, ns)
			res, err := executor(t, lossy(t, a.method, a.path, "drop")).Execute(t.Context(), a.req(ns))
			if err == nil || res.Write == nil {
				t.Fatalf("first attempt = %+v, %v; want a failure with the change it sent", res, err)
			}
			if got := a.state(t, ns); got != a.before {
				t.Fatalf("after a dropped write the target shows %s, want %s", got, a.before)
			}
			retry := a.req(ns)
			retry.Prior = res.Write
			res2, err := executor(t, medic()).Execute(t.Context(), retry)
			if err != nil || res2.Outcome != remediations.Succeeded {
				t.Fatalf("second attempt = %+v, %v", res2, err)
			}
			if got := a.state(t, ns); got != a.after {
				t.Errorf("after the second attempt the target shows %s, want %s", got, a.after)
			}
		})
	}
}

// The first attempt's write was still on its way when the second attempt
// read the target (so it looked unapplied), and it landed before the second
// attempt's write: that write conflicts, and the re-read settles it as
// applied instead of scaling again from the new count.
func TestWriteLandingDuringTheRetryIsNotAppliedTwice(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	createDeployment(t, ns, "web", 2, "web:v1")
	req := scaleReq(v1alpha1.KindDeployment, ns, "web", v1alpha1.ScaleParams{Op: v1alpha1.ScaleBy, N: 2})
	res, err := executor(t, lossy(t, http.MethodPut, "/deployments/web/scale", "drop")).Execute(t.Context(), req)
	if err == nil || res.Write == nil {
		t.Fatalf("first attempt = %+v, %v", res, err)
	}
	// The late write lands just before the retry's own write.
	land := func() {
		if err := setReplicas(t, ns, "web", *res.Write.Replicas); err != nil {
			t.Error(err)
		}
	}
	client, inj := injectConflicts(t, http.MethodPut, "/deployments/web/scale", land)
	retry := req
	retry.Prior = res.Write
	res2, err := executor(t, client).Execute(t.Context(), retry)
	if err != nil || res2.Outcome != remediations.Succeeded {
		t.Fatalf("second attempt = %+v, %v", res2, err)
	}
	if len(inj.statuss) != 1 || inj.statuss[0] != http.StatusConflict {
		t.Errorf("the retry's writes were answered %v, want one 409 and no second write", inj.statuss)
	}
	if n := replicasOf(t, v1alpha1.KindDeployment, ns, "web"); n != 4 {
		t.Errorf("replicas = %d, want 4 (2 + 2, once)", n)
	}
}

// What the next attempt does when the target is not as the lost write left
// it: replaced by a new object of the same name, or changed by someone else.
func TestLostAnswerOnAMovedTarget(t *testing.T) {
	t.Parallel()
	dep := v1alpha1.KindDeployment
	for _, tc := range []struct {
		name        string
		meddle      func(t *testing.T, ns string)
		wantOutcome remediations.Outcome
		wantReason  string
		wantReps    int32
	}{
		{name: "deleted and created again", meddle: func(t *testing.T, ns string) {
			if err := clientset().AppsV1().Deployments(ns).Delete(t.Context(), "web", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			createDeployment(t, ns, "web", 5, "web:v1")
		}, wantOutcome: remediations.Skipped, wantReason: "TargetChanged", wantReps: 5},
		{name: "scaled by someone else", meddle: func(t *testing.T, ns string) {
			if err := setReplicas(t, ns, "web", 7); err != nil {
				t.Fatal(err)
			}
		}, wantOutcome: remediations.Failed, wantReason: "OutcomeUnknown", wantReps: 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := namespace(t)
			createDeployment(t, ns, "web", 2, "web:v1")
			req := scaleReq(dep, ns, "web", v1alpha1.ScaleParams{Op: v1alpha1.ScaleBy, N: 2})
			res, err := executor(t, lossy(t, http.MethodPut, "/deployments/web/scale", "504")).Execute(t.Context(), req)
			if err == nil || res.Write == nil {
				t.Fatalf("first attempt = %+v, %v", res, err)
			}
			tc.meddle(t, ns)
			retry := req
			retry.Prior = res.Write
			res2, _ := executor(t, medic()).Execute(t.Context(), retry)
			if res2.Outcome != tc.wantOutcome || res2.Reason != tc.wantReason {
				t.Errorf("second attempt = %+v, want %s %s", res2, tc.wantOutcome, tc.wantReason)
			}
			if n := replicasOf(t, dep, ns, "web"); n != tc.wantReps {
				t.Errorf("replicas = %d, want %d (not acted on)", n, tc.wantReps)
			}
		})
	}
}

// A plan pins the target's UID: an object deleted and created again under
// the same name starts at generation 1 again, and an approved plan must not
// run on it.
func TestPlanPinsTheTargetsIdentity(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	dep := v1alpha1.KindDeployment
	createDeployment(t, ns, "web", 5, "web:v1")
	x := executor(t, medic())
	req := scaleReq(dep, ns, "web", v1alpha1.ScaleParams{Op: v1alpha1.ScaleMultiply, Factor: "2"})
	plan, err := x.Plan(t.Context(), req)
	if err != nil || plan.UID == "" || plan.Generation == 0 {
		t.Fatalf("plan = %+v, %v; want the target's UID and generation", plan, err)
	}
	if err := clientset().AppsV1().Deployments(ns).Delete(t.Context(), "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	createDeployment(t, ns, "web", 5, "web:v1")
	if g := generationOf(t, ns, "web"); g != plan.Generation {
		t.Fatalf("the new object's generation is %d, the plan's %d: the test needs them equal", g, plan.Generation)
	}
	req.ExpectGeneration, req.ExpectUID = plan.Generation, plan.UID
	res, err := x.Execute(t.Context(), req)
	if err != nil || res.Outcome != remediations.Skipped || res.Reason != "TargetChanged" {
		t.Fatalf("execute = %+v, %v; want Skipped TargetChanged", res, err)
	}
	if n := replicasOf(t, dep, ns, "web"); n != 5 {
		t.Errorf("replicas = %d, want 5 (the new object untouched)", n)
	}
}

// A target deleted after the action was planned (and approved) is not
// there to act on: Skipped as NotFound, not a failure.
func TestTargetDeletedAfterThePlanIsSkipped(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	dep := v1alpha1.KindDeployment
	createDeployment(t, ns, "web", 2, "web:v1")
	x := executor(t, medic())
	req := restartReq(dep, ns, "web")
	plan, err := x.Plan(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if err := clientset().AppsV1().Deployments(ns).Delete(t.Context(), "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	req.ExpectGeneration, req.ExpectUID = plan.Generation, plan.UID
	res, err := x.Execute(t.Context(), req)
	if err != nil || res.Outcome != remediations.Skipped || res.Reason != "NotFound" {
		t.Fatalf("execute = %+v, %v; want Skipped NotFound", res, err)
	}
}

// setReplicas scales the Deployment through its scale subresource as
// another writer would, retrying when its controller wrote it meanwhile.
func setReplicas(t *testing.T, ns, name string, n int32) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s, err := clientset().AppsV1().Deployments(ns).GetScale(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		s.Spec.Replicas = n
		_, err = clientset().AppsV1().Deployments(ns).UpdateScale(t.Context(), name, s, metav1.UpdateOptions{})
		return err
	})
}

// createHPA makes a HorizontalPodAutoscaler of the Deployment name, on CPU.
func createHPA(t *testing.T, ns, name string, minReplicas, maxReplicas int32) {
	t.Helper()
	_, err := clientset().AutoscalingV2().HorizontalPodAutoscalers(ns).Create(t.Context(), &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: name},
			MinReplicas:    &minReplicas, MaxReplicas: maxReplicas,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: "cpu", Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &maxReplicas}}}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}
