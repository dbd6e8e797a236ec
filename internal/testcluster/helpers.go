package testcluster

import (
	"fmt"
	"github.com/alertmedic/alertmedic/internal/kube"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

var namespaces atomic.Int64

// Namespace creates a namespace for one test, named prefix and a number no
// other call of this process (nor, most likely, an earlier run against the
// same cluster) used, and returns its name. envtest never finishes deleting
// a namespace, so a test does not reuse one.
func (c *Cluster) Namespace(t testing.TB, prefix string) string {
	t.Helper()
	ns := fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1_000_000, namespaces.Add(1))
	obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
	if _, err := c.Client.CoreV1().Namespaces().Create(t.Context(), obj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return ns
}

// NewClient returns a client that reads from and writes to the API server
// (no cache) with the cluster's scheme, as cfg's user (nil: the cluster's
// administrator).
func (c *Cluster) NewClient(t testing.TB, cfg *rest.Config) kube.Client {
	t.Helper()
	if cfg == nil {
		cfg = c.Config
	}
	cl, err := kube.New(cfg, kube.Options{Scheme: c.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}
