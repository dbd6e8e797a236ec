package testcluster

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Options say what Start brings up besides kube-apiserver and etcd.
type Options struct {
	// Full adds what makes the cluster reconcile: kube-controller-manager
	// (Deployments make ReplicaSets, ReplicaSets make pods, rollout history,
	// garbage collection), kube-scheduler and kwok, which plays the kubelet
	// of fake nodes: it makes them Ready and runs their pods, without
	// containers, through the stages in stages/ (pods Ready, or
	// misbehaving as their Behaviour asks).
	Full bool
	// Nodes is how many fake nodes a full cluster has (default 1).
	Nodes int
	// Log receives each component's start time and, for a full cluster,
	// where the components' own logs are (default os.Stderr).
	Log io.Writer
}

// The annotation kwok manages fake nodes by, and the label they carry.
const (
	FakeNodeAnnotation = "kwok.x-k8s.io/node"
	FakeNodeValue      = "fake"
)

// component is one control-plane process of a full cluster.
type component struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	err  error
}

// full holds the processes a full cluster adds to envtest's.
type full struct {
	dir        string // kubeconfig and logs
	components []*component
	mu         sync.Mutex
}

// ClusterAssets returns the folder holding kube-controller-manager,
// kube-scheduler and kwok: ALERTMEDIC_CLUSTER_ASSETS
// when set, else the output of hack/cluster-assets.sh, which builds them
// into the cache when missing.
func ClusterAssets() (string, error) {
	if dir := os.Getenv("ALERTMEDIC_CLUSTER_ASSETS"); dir != "" {
		return dir, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(filepath.Join(root, "hack", "cluster-assets.sh"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("hack/cluster-assets.sh failed (a test that needs a cluster that reconciles cannot run without it): %w\n%s", err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

// startFull starts the controller-manager, the scheduler and kwok against
// c's API server and registers the fake nodes; it returns when every node
// is Ready.
func (c *Cluster) startFull(opts Options) error {
	assets, err := ClusterAssets()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "alertmedic-cluster-")
	if err != nil {
		return err
	}
	f := &full{dir: dir}
	c.full = f
	kubeconfig, err := c.KubeconfigFor(dir, "system:kube-controller-manager", "system:masters")
	if err != nil {
		return err
	}
	secure := []string{"--kubeconfig", kubeconfig, "--authentication-kubeconfig", kubeconfig,
		"--authorization-kubeconfig", kubeconfig, "--leader-elect=false", "--secure-port=0"}
	stages, err := writeStages(dir)
	if err != nil {
		return err
	}
	// Every fake node has the address 10.0.0.1; kwok hands pods addresses
	// counting up from the one --cidr names, so 10.0.0.2 on, never the
	// node's. kwok takes a fresh address each time a stage asks for one:
	// the stages in stages/ ask only for a pod that has none, as a second
	// one would make the status patch invalid (two IPs of one family).
	// --node-lease-duration-seconds makes kwok renew each node's Lease in
	// kube-node-lease (every quarter of it, as a kubelet does): without
	// that heartbeat the node controller marks the node NotReady after its
	// grace period (about 50s) and every pod on it not ready, for good.
	kwokArgs := []string{"--kubeconfig", kubeconfig,
		"--manage-nodes-with-annotation-selector=" + FakeNodeAnnotation + "=" + FakeNodeValue,
		"--server-address=", "--node-ip=10.0.0.1", "--cidr=10.0.0.1/16",
		"--node-lease-duration-seconds=40"}
	for _, s := range stages {
		kwokArgs = append(kwokArgs, "--config", s)
	}
	for _, p := range []struct {
		name string
		args []string
	}{
		{"kube-controller-manager", append([]string{"--controllers=*,-serviceaccount-token", "--horizontal-pod-autoscaler-sync-period=2s",
			"--use-service-account-credentials=false"}, secure...)},
		{"kube-scheduler", secure},
		{"kwok", kwokArgs},
	} {
		if err := f.start(filepath.Join(assets, p.name), p.name, p.args); err != nil {
			return err
		}
		fmt.Fprintf(opts.Log, "testcluster: %s running (log %s)\n", p.name, filepath.Join(dir, p.name+".log"))
	}
	start := time.Now()
	if err := c.waitControllers(); err != nil {
		return err
	}
	fmt.Fprintf(opts.Log, "testcluster: controllers acting after %s more\n", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	n := opts.Nodes
	if n <= 0 {
		n = 1
	}
	for i := range n {
		if err := c.AddNode(context.Background(), fmt.Sprintf("fake-node-%d", i)); err != nil {
			return err
		}
	}
	fmt.Fprintf(opts.Log, "testcluster: %d fake node(s) Ready in %s\n", n, time.Since(start).Round(time.Millisecond))
	return nil
}

// stages are kwok's stage configurations: how fake nodes and their pods
// move through their lifecycle (kwok's own, pod-ready.yaml changed to
// leave misbehaving pods alone), then the misbehaviours a test asks for
// with a Behaviour.
//
//go:embed stages/*.yaml
var stages embed.FS

// writeStages writes the stage files into dir, for kwok's --config, and
// returns their paths.
func writeStages(dir string) ([]string, error) {
	entries, err := stages.ReadDir("stages")
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		data, err := stages.ReadFile("stages/" + e.Name())
		if err != nil {
			return nil, err
		}
		path := filepath.Join(dir, "stage-"+e.Name())
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, fmt.Errorf("write kwok stage: %w", err)
		}
		files = append(files, path)
	}
	return files, nil
}

func (f *full) start(bin, name string, args []string) error {
	log, err := os.Create(filepath.Join(f.dir, name+".log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group, so that a test binary killed by a signal does
	// not leave it behind waiting on a terminal.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	p := &component{name: name, cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	f.mu.Lock()
	f.components = append(f.components, p)
	f.mu.Unlock()
	return nil
}

// stop ends the components, the last started first, and removes their
// folder unless one of them had exited on its own (its log is kept then,
// and named in the error).
func (f *full) stop() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var errs []error
	for i := len(f.components) - 1; i >= 0; i-- {
		p := f.components[i]
		select {
		case <-p.done:
			errs = append(errs, fmt.Errorf("%s exited while the cluster ran (%v); its log: %s", p.name, p.err, p.log.Name()))
			continue
		default:
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		p.log.Close()
	}
	if len(errs) == 0 {
		_ = os.RemoveAll(f.dir)
	}
	return errors.Join(errs...)
}

// AddNode registers a fake node that kwok manages and waits until it is
// Ready. Pods scheduled to it become Running and Ready by kwok's stages.
func (c *Cluster) AddNode(ctx context.Context, name string) error {
	if c.full == nil {
		return errors.New("AddNode needs a full cluster (Options.Full)")
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name:        name,
		Annotations: map[string]string{FakeNodeAnnotation: FakeNodeValue},
		Labels:      map[string]string{"type": "kwok", corev1.LabelHostname: name},
	}}
	if _, err := c.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create node %s: %w", name, err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err == nil && nodeReady(n) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node %s not Ready after 60s (is kwok running? its log: %s)", name, filepath.Join(c.full.dir, "kwok.log"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitControllers waits until the controller-manager acts: its
// ServiceAccount controller gives every namespace a "default" account.
func (c *Cluster) waitControllers() error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := c.Client.CoreV1().ServiceAccounts("default").Get(context.Background(), "default", metav1.GetOptions{})
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kube-controller-manager not acting after 60s (no default ServiceAccount: %v); its log: %s", err, filepath.Join(c.full.dir, "kube-controller-manager.log"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
