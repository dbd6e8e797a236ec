package remediations_test

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/kube"
	"github.com/alertmedic/alertmedic/remediations"
)

func restartReq(kind v1alpha1.Kind, ns, name string) remediations.Request {
	return remediations.Request{
		Action: v1alpha1.ActionRestart,
		Target: v1alpha1.Target{Kind: kind, Namespace: ns, Name: name},
		Rule:   "restart-crashlooping", AlertName: "KubePodCrashLooping", Fingerprint: "5e7b2c0a1f3d9e41",
	}
}

func TestRestartEachKind(t *testing.T) {
	t.Parallel()
	for _, kind := range []v1alpha1.Kind{v1alpha1.KindDeployment, v1alpha1.KindStatefulSet, v1alpha1.KindDaemonSet} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ns := namespace(t)
			createWorkload(t, kind, ns, "web")
			rolledOut(t, kind, ns, "web")
			before := podUIDs(t, ns, "web")
			reg := prometheus.NewRegistry()
			x := remediations.NewExecutor(medic(), remediations.Options{
				Instance: "test-replica", Now: func() time.Time { return clock }, Metrics: remediations.NewMetrics(reg),
			})
			res, err := x.Execute(t.Context(), restartReq(kind, ns, "web"))
			if err != nil {
				t.Fatalf("Execute: %v", err)
			}
			want := clock.Format(time.RFC3339)
			if res.Outcome != remediations.Succeeded || res.Reason != "Restarted" || res.After != "restartedAt="+want || res.Before != "restartedAt=never" {
				t.Errorf("result = %+v", res)
			}
			tmpl := liveTemplate(t, kind, ns, "web")
			if got := tmpl.Annotations[remediations.RestartedAtAnnotation]; got != want {
				t.Errorf("restartedAt = %q, want %q", got, want)
			}

			// The workload's controller replaces every pod: none of the
			// pods that ran before is left, as many run as before.
			rolledOut(t, kind, ns, "web")
			after := podUIDs(t, ns, "web")
			if len(after) != len(before) {
				t.Errorf("%d pods after the restart, want %d", len(after), len(before))
			}
			for uid := range after {
				if before[uid] {
					t.Errorf("pod %s survived the restart", uid)
				}
			}

			ev := oneEvent(t, ns, "web")
			if ev.Reason != "AlertmedicRestart" || ev.Type != "Normal" || ev.ReportingController != "alertmedic" ||
				ev.Source.Component != "alertmedic" || ev.ReportingInstance != "test-replica" {
				t.Errorf("event = reason %q type %q controller %q source %+v instance %q", ev.Reason, ev.Type, ev.ReportingController, ev.Source, ev.ReportingInstance)
			}
			if ev.InvolvedObject.Kind != string(kind) || ev.InvolvedObject.UID == "" || ev.InvolvedObject.APIVersion != "apps/v1" {
				t.Errorf("event involvedObject = %+v", ev.InvolvedObject)
			}
			for _, part := range []string{"succeeded", "rollout restart", "rule restart-crashlooping", "alert KubePodCrashLooping", "5e7b2c0a1f3d9e41"} {
				if !strings.Contains(ev.Message, part) {
					t.Errorf("event message %q lacks %q", ev.Message, part)
				}
			}
			if !managedBy(t, kind, ns, "web", "alertmedic") {
				t.Errorf("no managedFields entry for field manager alertmedic")
			}
			want = `# HELP alertmedic_remediations_total Remediations run (dry runs included), by action, workload kind, outcome and reason.
# TYPE alertmedic_remediations_total counter
alertmedic_remediations_total{action="restart",kind="` + string(kind) + `",outcome="Succeeded",reason="Restarted"} 1
`
			if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "alertmedic_remediations_total"); err != nil {
				t.Error(err)
			}
		})
	}
}

func managedBy(t *testing.T, kind v1alpha1.Kind, ns, name, manager string) bool {
	t.Helper()
	var fields []metav1.ManagedFieldsEntry
	apps := clientset().AppsV1()
	switch kind {
	case v1alpha1.KindDeployment:
		d, err := apps.Deployments(ns).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		fields = d.ManagedFields
	case v1alpha1.KindStatefulSet:
		s, err := apps.StatefulSets(ns).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		fields = s.ManagedFields
	case v1alpha1.KindDaemonSet:
		d, err := apps.DaemonSets(ns).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		fields = d.ManagedFields
	}
	for _, f := range fields {
		if f.Manager == manager {
			return true
		}
	}
	return false
}

func TestRestartRefusesPausedDeployment(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	createDeployment(t, ns, "web", 2, "nginx:1")
	patchWorkload(t, v1alpha1.KindDeployment, ns, "web", []byte(`{"spec":{"paused":true}}`))
	res, err := executor(t, medic()).Execute(t.Context(), restartReq(v1alpha1.KindDeployment, ns, "web"))
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	if res.Outcome != remediations.Skipped || res.Reason != "Paused" || !strings.Contains(res.Message, "rollout resume") {
		t.Errorf("result = %+v, want Skipped/Paused naming 'rollout resume'", res)
	}
	if v, ok := liveTemplate(t, v1alpha1.KindDeployment, ns, "web").Annotations[remediations.RestartedAtAnnotation]; ok {
		t.Errorf("paused Deployment was restarted: %q", v)
	}
	if ev := oneEvent(t, ns, "web"); ev.Type != "Warning" || !strings.Contains(ev.Message, "paused") {
		t.Errorf("event = %s %q, want a Warning about the pause", ev.Type, ev.Message)
	}
}

// Two restarts in the same second would be an empty patch ('kubectl rollout
// restart' says so too): the second is skipped and changes nothing.
func TestRestartTwiceInOneSecond(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	createDeployment(t, ns, "web", 2, "nginx:1")
	x := executor(t, medic())
	if res, err := x.Execute(t.Context(), restartReq(v1alpha1.KindDeployment, ns, "web")); err != nil || res.Outcome != remediations.Succeeded {
		t.Fatalf("first restart = %+v, %v", res, err)
	}
	// The controller's writes after the first restart are done.
	rolledOut(t, v1alpha1.KindDeployment, ns, "web")
	before, err := clientset().AppsV1().Deployments(ns).Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := x.Execute(t.Context(), restartReq(v1alpha1.KindDeployment, ns, "web"))
	if err != nil || res.Outcome != remediations.Skipped || res.Reason != "AlreadyRestarted" {
		t.Fatalf("second restart = %+v, %v; want Skipped/AlreadyRestarted", res, err)
	}
	after, err := clientset().AppsV1().Deployments(ns).Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if after.ResourceVersion != before.ResourceVersion {
		t.Errorf("second restart wrote the Deployment: resourceVersion %s -> %s", before.ResourceVersion, after.ResourceVersion)
	}
}

// conflictInjector makes the API server answer the first write of an action
// with a real 409: just before the request goes out, someone else changes
// the object.
type conflictInjector struct {
	next    http.RoundTripper
	method  string
	path    string // a substring of the request path that marks the write
	meddle  func()
	mu      sync.Mutex
	writes  int
	statuss []int
}

func (c *conflictInjector) RoundTrip(req *http.Request) (*http.Response, error) {
	write := req.Method == c.method && strings.Contains(req.URL.Path, c.path)
	if write {
		c.mu.Lock()
		c.writes++
		first := c.writes == 1
		c.mu.Unlock()
		if first {
			c.meddle()
		}
	}
	resp, err := c.next.RoundTrip(req)
	if write && err == nil {
		c.mu.Lock()
		c.statuss = append(c.statuss, resp.StatusCode)
		c.mu.Unlock()
	}
	return resp, err
}

func injectConflicts(t *testing.T, method, path string, meddle func()) (kube.Client, *conflictInjector) {
	t.Helper()
	inj := &conflictInjector{method: method, path: path, meddle: meddle}
	cfg := rest.CopyConfig(cluster.Config)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { inj.next = rt; return inj }
	client, err := kube.New(cfg, kube.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return client, inj
}

// touch changes a label and the replica count of the Deployment, as
// another writer would, and waits until the controller has acted on it.
func touch(t *testing.T, ns, name string) func() {
	return func() {
		// The Deployment controller writes the object too: retried on a
		// conflict, as any writer would.
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			d, err := clientset().AppsV1().Deployments(ns).Get(t.Context(), name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			d.Labels = map[string]string{"touched-by": "someone-else"}
			d.Spec.Replicas = ptr(*d.Spec.Replicas + 1)
			_, err = clientset().AppsV1().Deployments(ns).Update(t.Context(), d, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			t.Error(err)
			return
		}
		rolledOut(t, v1alpha1.KindDeployment, ns, name)
	}
}

func TestRestartConflictIsRetried(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	createDeployment(t, ns, "web", 2, "nginx:1")
	client, inj := injectConflicts(t, http.MethodPatch, "/deployments/web", touch(t, ns, "web"))
	res, err := executor(t, client).Execute(t.Context(), restartReq(v1alpha1.KindDeployment, ns, "web"))
	if err != nil || res.Outcome != remediations.Succeeded {
		t.Fatalf("restart = %+v, %v", res, err)
	}
	if len(inj.statuss) != 2 || inj.statuss[0] != http.StatusConflict || inj.statuss[1] != http.StatusOK {
		t.Errorf("PATCH answers = %v, want [409 200]", inj.statuss)
	}
	d, err := clientset().AppsV1().Deployments(ns).Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Labels["touched-by"] != "someone-else" || *d.Spec.Replicas != 3 {
		t.Errorf("the concurrent change was lost: labels %v replicas %d", d.Labels, *d.Spec.Replicas)
	}
	if d.Spec.Template.Annotations[remediations.RestartedAtAnnotation] == "" {
		t.Errorf("not restarted after the conflict")
	}
}

func TestMissingTargetFails(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	res, err := executor(t, medic()).Execute(t.Context(), restartReq(v1alpha1.KindDeployment, ns, "nope"))
	if err == nil || remediations.IsTransient(err) {
		t.Fatalf("err = %v, want a permanent error", err)
	}
	if res.Outcome != remediations.Failed || res.Reason != "NotFound" || !strings.Contains(err.Error(), `"nope" not found`) {
		t.Errorf("result = %+v, err = %v", res, err)
	}
	if ev := oneEvent(t, ns, "nope"); ev.Type != "Warning" || !strings.HasPrefix(ev.Message, "failed: ") {
		t.Errorf("event = %s %q, want a Warning saying it failed", ev.Type, ev.Message)
	}
}

func TestUnsupportedKindFails(t *testing.T) {
	t.Parallel()
	res, err := executor(t, medic()).Execute(t.Context(), restartReq("Job", "default", "x"))
	if err == nil || res.Outcome != remediations.Failed || res.Reason != "Unsupported" || !strings.Contains(err.Error(), `kind "Job"`) {
		t.Fatalf("result = %+v, err = %v", res, err)
	}
	// A kind alertmedic knows, but not for this action.
	res, err = executor(t, medic()).Execute(t.Context(), restartReq("CronJob", "default", "x"))
	if err == nil || res.Outcome != remediations.Failed || res.Reason != "Unsupported" ||
		!strings.Contains(err.Error(), "action restart does not act on a CronJob: want a target of kind Deployment, StatefulSet or DaemonSet") {
		t.Fatalf("result = %+v, err = %v", res, err)
	}
}

// An API server that is down is a transient failure: nothing was changed, and
// the caller may try again.
func TestAPIServerDownIsTransient(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	client, err := kube.New(&rest.Config{Host: "http://" + addr, Timeout: 5 * time.Second}, kube.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := executor(t, client).Execute(t.Context(), restartReq(v1alpha1.KindDeployment, "shop", "cart"))
	if err == nil || !remediations.IsTransient(err) {
		t.Fatalf("err = %v, want a transient error", err)
	}
	if res.Outcome != remediations.Failed || res.Reason != "APIUnavailable" {
		t.Errorf("result = %+v", res)
	}
}
