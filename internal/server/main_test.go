package server

import (
	"fmt"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/internal/testcluster"
)

var cluster *testcluster.Cluster

func TestMain(m *testing.M) {
	// A test's child process (TestLibraryLogsGoThroughServesLogger) needs
	// no API server.
	if os.Getenv(libLogsChild) == "1" {
		os.Exit(m.Run())
	}
	testcluster.Main(m, "these tests", &cluster)
}

var waitFor = testcluster.WaitFor

// uniqueNamespace is a namespace name made from prefix, new for every call.
func uniqueNamespace(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1_000_000_000)
}

// recordsNamespace creates a namespace for the records of one test.
func recordsNamespace(t testing.TB) string {
	t.Helper()
	ns := uniqueNamespace("alertmedic")
	if _, err := cluster.Client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return ns
}
