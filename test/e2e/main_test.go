package e2e

import (
	"testing"

	"github.com/alertmedic/alertmedic/internal/testcluster"
)

// cluster is the real kube-apiserver + etcd the package's tests act on.
var cluster *testcluster.Cluster

func TestMain(m *testing.M) { testcluster.Main(m, "the end-to-end tests", &cluster) }
