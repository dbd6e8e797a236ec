package faultproxy_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/alertmedic/alertmedic/internal/faultproxy"
	"github.com/alertmedic/alertmedic/internal/testcluster"
)

var cluster *testcluster.Cluster

func TestMain(m *testing.M) {
	testcluster.Main(m, "the fault proxy tests", &cluster)
}

// start returns a proxy in front of the test cluster and a client using it.
func start(t *testing.T) (*faultproxy.Proxy, kubernetes.Interface) {
	t.Helper()
	p, err := faultproxy.Start(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	c, err := kubernetes.NewForConfig(p.Config())
	if err != nil {
		t.Fatal(err)
	}
	return p, c
}

// configMap creates a ConfigMap directly on the API server.
func configMap(t *testing.T) *corev1.ConfigMap {
	t.Helper()
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%d", time.Now().UnixNano()), Namespace: "default"},
		Data:       map[string]string{"v": "before"},
	}
	cm, err := cluster.Client.CoreV1().ConfigMaps("default").Create(t.Context(), cm, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm
}

// upstreamValue reads the ConfigMap's value directly from the API server.
func upstreamValue(t *testing.T, name string) string {
	t.Helper()
	cm, err := cluster.Client.CoreV1().ConfigMaps("default").Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm.Data["v"]
}

func patch(ctx context.Context, c kubernetes.Interface, name string) error {
	_, err := c.CoreV1().ConfigMaps("default").Patch(ctx, name, types.MergePatchType,
		[]byte(`{"data":{"v":"after"}}`), metav1.PatchOptions{})
	return err
}

// logged waits until the proxy has logged at least n requests (it logs one
// once its handler returns, which may be after the client has its answer)
// and returns the log.
func logged(t *testing.T, p *faultproxy.Proxy, n int) []faultproxy.Request {
	t.Helper()
	testcluster.WaitFor(t, fmt.Sprintf("%d requests in the proxy's log", n), func() bool { return len(p.Requests()) >= n })
	return p.Requests()
}

func TestForwards(t *testing.T) {
	p, c := start(t)
	cm := configMap(t)
	got, err := c.CoreV1().ConfigMaps("default").Get(t.Context(), cm.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get through the proxy: %v", err)
	}
	if got.UID != cm.UID {
		t.Errorf("got UID %s, want %s", got.UID, cm.UID)
	}
	log := logged(t, p, 1)
	want := faultproxy.Request{Method: "GET", Path: "/api/v1/namespaces/default/configmaps/" + cm.Name, Status: 200, Upstream: 200}
	if len(log) != 1 || log[0] != want {
		t.Errorf("log = %+v, want [%+v]", log, want)
	}
}

func TestStatus(t *testing.T) {
	for _, tc := range []struct {
		code int
		is   func(error) bool
		name string
	}{
		{http.StatusServiceUnavailable, apierrors.IsServiceUnavailable, "IsServiceUnavailable"},
		{http.StatusInternalServerError, apierrors.IsInternalError, "IsInternalError"},
		{http.StatusTooManyRequests, apierrors.IsTooManyRequests, "IsTooManyRequests"},
		{http.StatusGatewayTimeout, apierrors.IsTimeout, "IsTimeout"},
		{http.StatusConflict, apierrors.IsConflict, "IsConflict"},
	} {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			p, c := start(t)
			cm := configMap(t)
			p.Add(faultproxy.Rule{Name: "fail", Method: "PATCH", Path: "/configmaps/" + cm.Name, Status: tc.code, Times: 1})
			err := patch(t.Context(), c, cm.Name)
			if !tc.is(err) {
				t.Fatalf("patch answered %d: err = %v; want apierrors.%s", tc.code, err, tc.name)
			}
			if v := upstreamValue(t, cm.Name); v != "before" {
				t.Errorf("the patch answered %d before forwarding was applied: value %q", tc.code, v)
			}
			if err := patch(t.Context(), c, cm.Name); err != nil {
				t.Errorf("second patch (Times: 1 spent): %v", err)
			}
			if n := p.Hits("fail"); n != 1 {
				t.Errorf("Hits = %d, want 1", n)
			}
		})
	}
}

// TestAnswer504 is "the write was applied, the client was told it timed
// out". client-go maps 504 to reason Timeout: apierrors.IsTimeout, not
// IsServerTimeout (that is reason ServerTimeout, sent with a 500 and a
// retry hint).
func TestAnswer504(t *testing.T) {
	p, c := start(t)
	cm := configMap(t)
	p.Add(faultproxy.Rule{Name: "lost", Method: "PATCH", Path: "/configmaps/" + cm.Name, After: faultproxy.Answer504})
	err := patch(t.Context(), c, cm.Name)
	if !apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) {
		t.Fatalf("err = %v (IsTimeout %v, IsServerTimeout %v); want IsTimeout only", err, apierrors.IsTimeout(err), apierrors.IsServerTimeout(err))
	}
	if v := upstreamValue(t, cm.Name); v != "after" {
		t.Errorf("value upstream = %q; want the patch applied", v)
	}
	log := logged(t, p, 1)
	last := log[len(log)-1]
	if last.Status != 504 || last.Upstream != 200 || last.Rule != "lost" {
		t.Errorf("log = %+v; want status 504, upstream 200, rule lost", last)
	}
}

func TestDropAnswer(t *testing.T) {
	p, c := start(t)
	cm := configMap(t)
	p.Add(faultproxy.Rule{Name: "lost", Method: "PATCH", Path: "/configmaps/" + cm.Name, After: faultproxy.DropAnswer})
	err := patch(t.Context(), c, cm.Name)
	var st apierrors.APIStatus
	if err == nil || errors.As(err, &st) {
		t.Fatalf("err = %v; want a transport error, no API status", err)
	}
	if v := upstreamValue(t, cm.Name); v != "after" {
		t.Errorf("value upstream = %q; want the patch applied", v)
	}
	log := logged(t, p, 1)
	last := log[len(log)-1]
	if last.Status != 0 || last.Upstream != 200 {
		t.Errorf("log = %+v; want no answer (0), upstream 200", last)
	}
}

// TestCut cuts a create before it is forwarded: a transport error, and
// nothing created.
func TestCut(t *testing.T) {
	p, c := start(t)
	p.Add(faultproxy.Rule{Name: "cut", Method: "POST", Path: "/configmaps", Cut: true})
	name := fmt.Sprintf("cut-%d", time.Now().UnixNano())
	_, err := c.CoreV1().ConfigMaps("default").Create(t.Context(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	var st apierrors.APIStatus
	if err == nil || errors.As(err, &st) {
		t.Fatalf("err = %v; want a transport error, no API status", err)
	}
	if _, err := cluster.Client.CoreV1().ConfigMaps("default").Get(t.Context(), name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("get upstream: %v; want NotFound (cut before forwarding)", err)
	}
	if n := p.Hits("cut"); n != 1 {
		t.Errorf("Hits = %d, want 1", n)
	}
}

func TestDelay(t *testing.T) {
	p, c := start(t)
	cm := configMap(t)
	const delay = 3 * time.Second
	p.Add(faultproxy.Rule{Name: "slow", Method: "GET", Path: "/configmaps/" + cm.Name, Delay: delay})
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err := c.CoreV1().ConfigMaps("default").Get(ctx, cm.Name, metav1.GetOptions{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("get with a deadline shorter than the delay: err = %v; want context.DeadlineExceeded", err)
	}
	start := time.Now()
	if _, err := c.CoreV1().ConfigMaps("default").Get(t.Context(), cm.Name, metav1.GetOptions{}); err != nil {
		t.Fatalf("get without a deadline: %v", err)
	}
	if d := time.Since(start); d < delay {
		t.Errorf("get took %s; want at least the delay %s", d, delay)
	}
}

// TestAnswerDelay: the write is applied upstream at once; the client has
// its answer only after the delay, or gives up without one.
func TestAnswerDelay(t *testing.T) {
	p, c := start(t)
	cm := configMap(t)
	const delay = 3 * time.Second
	p.Add(faultproxy.Rule{Name: "late", Method: "PATCH", Path: "/configmaps/" + cm.Name, AnswerDelay: delay})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	patched := make(chan error, 1)
	go func() { patched <- patch(ctx, c, cm.Name) }()
	testcluster.WaitFor(t, "the patch applied upstream", func() bool { return upstreamValue(t, cm.Name) == "after" })
	select {
	case err := <-patched:
		t.Fatalf("the client had its answer (%v) while it was held", err)
	default:
	}
	if err := <-patched; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("patch with a deadline shorter than the delay: err = %v; want context.DeadlineExceeded", err)
	}
	start := time.Now()
	if err := patch(t.Context(), c, cm.Name); err != nil {
		t.Fatalf("patch without a deadline: %v", err)
	}
	if d := time.Since(start); d < delay {
		t.Errorf("patch answered after %s; want at least the delay %s", d, delay)
	}
}

func TestDownUp(t *testing.T) {
	p, c := start(t)
	cm := configMap(t)
	get := func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		_, err := c.CoreV1().ConfigMaps("default").Get(ctx, cm.Name, metav1.GetOptions{})
		return err
	}
	p.Down()
	if err := get(); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("get while down: err = %v; want connection refused", err)
	}
	if err := p.Up(); err != nil {
		t.Fatal(err)
	}
	if err := get(); err != nil {
		t.Fatalf("get after Up: %v", err)
	}
}

func TestDownCutsWatch(t *testing.T) {
	p, c := start(t)
	w, err := c.CoreV1().ConfigMaps("default").Watch(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	p.Down()
	timeout := time.After(20 * time.Second) // the server ends a watch after 30 minutes or more
	for {
		select {
		case _, open := <-w.ResultChan():
			if !open {
				// The proxy logs the watch once its handler returns.
				testcluster.WaitFor(t, "the watch in the log, answered 200", func() bool {
					log := p.Requests()
					return len(log) == 1 && log[0].Watch && log[0].Status == 200
				})
				return
			}
		case <-timeout:
			t.Fatal("the watch is still open 20s after Down")
		}
	}
}
