// Command devcluster runs a local kube-apiserver and etcd (the same envtest
// control plane the tests use) until interrupted, and writes a kubeconfig for
// it. With -full it runs a cluster that reconciles: kube-controller-manager,
// kube-scheduler and kwok with fake nodes, so Deployments make ReplicaSets
// and pods that become Ready. make demo uses it; it is handy for trying
// rules by hand too:
//
//	go run ./hack/devcluster -full -kubeconfig /tmp/am/kubeconfig
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/alertmedic/alertmedic/internal/testcluster"
)

func main() {
	// Our own flag set: controller-runtime registers a -kubeconfig flag of
	// its own on the global one.
	fs := flag.NewFlagSet("devcluster", flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", "", "where to write the kubeconfig (required)")
	fullCluster := fs.Bool("full", false, "also run kube-controller-manager, kube-scheduler and kwok (fake nodes), so workloads reconcile")
	nodes := fs.Int("nodes", 1, "fake nodes of a -full cluster")
	_ = fs.Parse(os.Args[1:])
	if *kubeconfig == "" {
		fmt.Fprintln(os.Stderr, "devcluster: -kubeconfig is required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *kubeconfig, testcluster.Options{Full: *fullCluster, Nodes: *nodes}); err != nil {
		fmt.Fprintln(os.Stderr, "devcluster:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, kubeconfig string, opts testcluster.Options) error {
	c, err := testcluster.StartWith(opts)
	if err != nil {
		return err
	}
	defer func() {
		if err := c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "devcluster: stop:", err)
		}
	}()
	dir := filepath.Dir(kubeconfig)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := c.Kubeconfig(dir)
	if err != nil {
		return err
	}
	// Rename last, so that a waiting script sees a complete file.
	if err := os.Rename(tmp, kubeconfig); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "devcluster: API server at %s; kubeconfig %s\n", c.Config.Host, kubeconfig)
	<-ctx.Done()
	return nil
}
