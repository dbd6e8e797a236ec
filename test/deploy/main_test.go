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
	testcluster.Main(m, "the deployment tests", &cluster, func() {
		if builtImage.dir != "" {
			if err := os.RemoveAll(builtImage.dir); err != nil {
				fmt.Fprintf(os.Stderr, "remove the image build folder: %v\n", err)
			}
		}
	})
}
