package e2e

import (
	"fmt"
	"os"
	"testing"

	"github.com/alertmedic/alertmedic/internal/testcluster"
)

// cluster is the real kube-apiserver + etcd the package's tests act on.
var cluster *testcluster.Cluster

func TestMain(m *testing.M) {
	c, err := testcluster.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: the end-to-end tests need a real Kubernetes API server: %v\n", err)
		os.Exit(1)
	}
	cluster = c
	code := m.Run()
	if err := c.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stop control plane: %v\n", err)
	}
	os.Exit(code)
}
