package deploy

import (
	"fmt"
	"os"
	"testing"

	"github.com/alertmedic/alertmedic/internal/testcluster"
)

// cluster is one real kube-apiserver + etcd shared by the package's tests.
var cluster *testcluster.Cluster

func TestMain(m *testing.M) {
	c, err := testcluster.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: the deployment tests need a real Kubernetes API server: %v\n", err)
		os.Exit(1)
	}
	cluster = c
	code := m.Run()
	if builtImage.dir != "" {
		if err := os.RemoveAll(builtImage.dir); err != nil {
			fmt.Fprintf(os.Stderr, "remove the image build folder: %v\n", err)
		}
	}
	if err := c.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stop control plane: %v\n", err)
	}
	os.Exit(code)
}
