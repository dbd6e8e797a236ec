package chatops

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/engine/controller"
	"github.com/alertmedic/alertmedic/engine/ingest"
	"github.com/alertmedic/alertmedic/internal/kube"
	"github.com/alertmedic/alertmedic/internal/testcluster"
	"github.com/alertmedic/alertmedic/internal/testslack"
	"github.com/alertmedic/alertmedic/remediations"
)

var cluster *testcluster.Cluster

func TestMain(m *testing.M) {
	// A cluster that reconciles: the lifecycle tests watch real rollouts,
	// pods in CrashLoopBackOff and their Warning Events.
	testcluster.MainWith(m, "the chatops tests", testcluster.Options{Full: true}, &cluster)
}

const secret = "8f742231b10e8888abcd99yyyzzz85a5"

// bot is one alertmedic replica as far as Slack approvals go: the Slack
// mirror and the runner (it leads), and the interactions endpoint.
type bot struct {
	chat    *Chat
	metrics *Metrics
	url     string // of POST /slack/interactions
	stop    func()
}

// env is a test's namespace, Slack workspace and records client.
type env struct {
	t       *testing.T
	ns      string
	ws      *testslack.Workspace
	records kube.Client
	policy  controller.Policy // the runner's
	config  *rest.Config      // the bot's; nil: the cluster's
	// reg counts the controllers' reconciles, across the bots started.
	reg *prometheus.Registry
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ns := fmt.Sprintf("chatops-%d", time.Now().UnixNano()%1_000_000_000)
	if _, err := cluster.Client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c, err := kube.New(cluster.Config, kube.Options{Scheme: cluster.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, ns: ns, ws: testslack.Start(t), records: c, reg: prometheus.NewRegistry()}
}

// start runs a bot until stop or the end of the test.
func (e *env) start(change ...func(*Options)) *bot {
	t := e.t
	t.Helper()
	m := NewMetrics(nil)
	opts := Options{
		API: e.ws.Client(), Records: e.records, Namespace: e.ns,
		DefaultChannel: "C0OPS", SigningSecret: secret, Metrics: m,
		Retry: Retry{Backoff: 20 * time.Millisecond, MaxWait: 3 * time.Second},
	}
	for _, f := range change {
		f(&opts)
	}
	chat, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	cfg := cluster.Config
	if e.config != nil {
		cfg = e.config
	}
	kc, err := kube.New(cfg, kube.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := kube.NewManager(kc, kc, kube.ManagerOptions{
		Object: &v1alpha1.Remediation{}, List: &v1alpha1.RemediationList{},
		// As serve's: settled records trimmed (v1alpha1.TrimForCache).
		Cache:      kube.CacheOptions{Namespace: e.ns, Transform: v1alpha1.CacheTransform, LabelSelector: v1alpha1.NotArchived()},
		Registerer: e.reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	exec := remediations.NewExecutor(cluster.Records, remediations.Options{Instance: "test-replica"})
	if _, err := controller.NewRunner(mgr, controller.Options{Executor: exec, Identity: "test-replica", Policy: e.policy}); err != nil {
		t.Fatal(err)
	}
	if err := chat.Register(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	srv := httptest.NewServer(chat)
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		srv.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
		_ = chat.Wait(context.WithoutCancel(t.Context()))
	}
	t.Cleanup(stop)
	return &bot{chat: chat, metrics: m, url: srv.URL + "/slack/interactions", stop: stop}
}

// pendingRestart starts a bot over a Deployment "web" whose restart waits
// for approval, and returns the approval message once it is posted.
func pendingRestart(t *testing.T, approval v1alpha1.ApprovalSpec, change ...func(*Options)) (*env, *bot, *v1alpha1.Remediation, testslack.Message) {
	t.Helper()
	e := newEnv(t)
	e.workload("web")
	b := e.start(change...)
	rec := e.restartNeedingApproval("web", approval)
	return e, b, rec, e.posted(rec)
}

// workload creates Deployment name with 2 replicas.
func (e *env) workload(name string) {
	e.t.Helper()
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: new(int32(2)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
			},
		},
	}
	if _, err := cluster.Client.AppsV1().Deployments(e.ns).Create(e.t.Context(), d, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// restartNeedingApproval records, as the webhook would, a restart of
// Deployment target that approval decides.
func (e *env) restartNeedingApproval(target string, approval v1alpha1.ApprovalSpec) *v1alpha1.Remediation {
	e.t.Helper()
	if approval.Timeout.Duration == 0 {
		approval.Timeout.Duration = time.Hour
	}
	startsAt := metav1.NewMicroTime(time.Now().Add(-time.Minute).Truncate(time.Second))
	fp := fmt.Sprintf("%016x", time.Now().UnixNano())
	rec := &v1alpha1.Remediation{
		ObjectMeta: metav1.ObjectMeta{
			Name:      ingest.RecordName("restart-crashlooping|Deployment/" + e.ns + "/" + target + "|" + fp),
			Namespace: e.ns,
			Labels:    map[string]string{v1alpha1.LabelTarget: v1alpha1.TargetLabel("Deployment", e.ns, target)},
		},
		Spec: v1alpha1.RemediationSpec{
			Rule: "restart-crashlooping", Action: "restart",
			Target:    v1alpha1.Target{Kind: "Deployment", Namespace: e.ns, Name: target},
			TargetRef: "Deployment/" + e.ns + "/" + target,
			Alert: v1alpha1.AlertRef{Name: "KubePodCrashLooping", Fingerprint: fp, StartsAt: startsAt,
				Labels: map[string]string{"alertname": "KubePodCrashLooping", "namespace": e.ns, "deployment": target}},
			Approval: &approval,
		},
	}
	if err := e.records.Create(e.t.Context(), rec); err != nil {
		e.t.Fatal(err)
	}
	return rec
}

func (e *env) get(rec *v1alpha1.Remediation) *v1alpha1.Remediation {
	e.t.Helper()
	var out v1alpha1.Remediation
	if err := e.records.Get(e.t.Context(), kube.ObjectKeyFromObject(rec), &out); err != nil {
		e.t.Fatal(err)
	}
	return &out
}

var waitFor = testcluster.WaitFor

// posted waits for the approval message of rec and returns it.
func (e *env) posted(rec *v1alpha1.Remediation) testslack.Message {
	e.t.Helper()
	var msg testslack.Message
	waitFor(e.t, "the approval message", func() bool {
		for _, m := range e.ws.Messages() {
			if strings.Contains(string(m.Blocks), rec.Name) {
				msg = m
				return true
			}
		}
		return false
	})
	return msg
}

// message is rec's message as it stands in Slack now.
func (e *env) message(rec *v1alpha1.Remediation) testslack.Message {
	e.t.Helper()
	var found []testslack.Message
	for _, m := range e.ws.Messages() {
		if strings.Contains(string(m.Blocks), rec.Name) {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		e.t.Fatalf("%d messages for %s, want exactly 1", len(found), rec.Name)
	}
	return found[0]
}

// click sends a click signed as Slack signs it, and returns the HTTP status.
func (e *env) click(b *bot, c testslack.Click) int {
	e.t.Helper()
	return e.send(b, testslack.Request(e.t, b.url, secret, time.Now(), c.Body()))
}

func (e *env) send(b *bot, req *http.Request) int {
	e.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func approveBy(user string, msg testslack.Message, rec *v1alpha1.Remediation) testslack.Click {
	return testslack.Click{User: user, UserName: strings.ToLower(strings.TrimPrefix(user, "U0")), Channel: msg.Channel, TS: msg.TS,
		ActionID: ActionApprove, Value: rec.Name}
}

// restarts counts the restarts done on the Deployment, by their Events.
func (e *env) restarts(name string) int {
	e.t.Helper()
	evs, err := cluster.Client.CoreV1().Events(e.ns).List(e.t.Context(), metav1.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, ev := range evs.Items {
		if ev.InvolvedObject.Name == name && ev.Reason == remediations.EventReason(v1alpha1.ActionRestart) && ev.Action == "Restarted" {
			n++
		}
	}
	return n
}

func phaseIs(e *env, rec *v1alpha1.Remediation, p v1alpha1.Phase) func() bool {
	return func() bool { return e.get(rec).Status.Phase == p }
}

func interactions(b *bot, result string) int {
	return int(testutil.ToFloat64(b.metrics.interactions.WithLabelValues(result)))
}
