package testcluster

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/kube"
)

// Cluster is a running API server with its clients.
type Cluster struct {
	Config *rest.Config
	Client kubernetes.Interface
	// Records reads and writes alertmedic's own objects (and any built-in).
	Records kube.Client
	// Scheme knows the built-in kinds and alertmedic's, for clients and
	// managers the tests build themselves.
	Scheme *runtime.Scheme
	env    *envtest.Environment
	full   *full // nil: a bare API server
}

// Stop shuts the cluster down: a full cluster's controllers, scheduler and
// kwok first, then the API server and etcd.
func (c *Cluster) Stop() error {
	var err error
	if c.full != nil {
		err = c.full.stop()
	}
	return errors.Join(err, c.env.Stop())
}

// EtcdURL is the client URL of the cluster's etcd (plain HTTP, no
// authentication), for tools that must write many objects faster than the
// API server takes them (test/bench).
func (c *Cluster) EtcdURL() *url.URL { return c.env.ControlPlane.Etcd.URL }

// IsFull reports whether the cluster reconciles (Options.Full).
func (c *Cluster) IsFull() bool { return c.full != nil }

// Kubeconfig writes a kubeconfig for the cluster to dir and returns its path.
func (c *Cluster) Kubeconfig(dir string) (string, error) {
	return c.KubeconfigFor(dir, "alertmedic-test", "system:masters")
}

// KubeconfigFor writes to dir a kubeconfig of the named user in the given
// groups (no groups: a user RBAC grants nothing) and returns its path.
func (c *Cluster) KubeconfigFor(dir, name string, groups ...string) (string, error) {
	user, err := c.env.ControlPlane.AddUser(envtest.User{Name: name, Groups: groups}, nil)
	if err != nil {
		return "", fmt.Errorf("add user: %w", err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		return "", fmt.Errorf("render kubeconfig: %w", err)
	}
	path := filepath.Join(dir, "."+name+".kubeconfig")
	return path, os.WriteFile(path, data, 0o600)
}

// Start brings up kube-apiserver and etcd and installs the CRDs found in the
// repository's manifests/crds folder, if any. Call Stop when done (TestMain).
// Nothing reconciles in it: StartWith(Options{Full: true}) for a cluster
// whose controllers, scheduler and (fake) kubelets act.
func Start() (*Cluster, error) { return StartWith(Options{}) }

// StartWith brings up the cluster opts describe; see Start and Options.
func StartWith(opts Options) (c *Cluster, err error) {
	if opts.Log == nil {
		opts.Log = os.Stderr
	}
	begin := time.Now()
	assets, err := Assets()
	if err != nil {
		return nil, err
	}
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		CRDDirectoryPaths:        []string{filepath.Join(root, "manifests", "crds")},
		ErrorIfCRDPathMissing:    false,
		ControlPlaneStartTimeout: 90 * time.Second,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("start envtest with assets in %s: %w", assets, err)
	}
	clientset, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("clientset: %w", err)
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		_ = env.Stop()
		return nil, err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		_ = env.Stop()
		return nil, err
	}
	// client-go's default 5 requests per second would make tests that
	// write many records slow for no reason.
	fast := rest.CopyConfig(cfg)
	fast.QPS, fast.Burst = 1000, 1000
	records, err := kube.New(fast, kube.Options{Scheme: scheme})
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("records client: %w", err)
	}
	c = &Cluster{Config: cfg, Client: clientset, Records: records, Scheme: scheme, env: env}
	fmt.Fprintf(opts.Log, "testcluster: kube-apiserver and etcd started in %s\n", time.Since(begin).Round(time.Millisecond))
	if opts.Full {
		if err := c.startFull(opts); err != nil {
			return nil, errors.Join(err, c.Stop())
		}
	}
	return c, nil
}

// Assets returns the folder holding kube-apiserver and etcd: KUBEBUILDER_ASSETS
// when set, else the output of hack/envtest-assets.sh, which builds them into
// the cache when missing.
func Assets() (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(filepath.Join(root, "hack", "envtest-assets.sh"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("hack/envtest-assets.sh failed (a test that needs a Kubernetes API server cannot run without it): %w\n%s", err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// WaitFor waits up to 30 seconds for cond to hold, polling it, and fails
// the test naming what it waited for if it never does.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	WaitWithin(t, 30*time.Second, what, cond)
}

// WaitWithin is WaitFor with a bound of d, for what takes longer than 30
// seconds on a slow machine (listing tens of thousands of objects).
func WaitWithin(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Main runs a package's tests against a control plane started for them, and
// exits; call it from TestMain:
//
//	func TestMain(m *testing.M) { testcluster.Main(m, "the engine tests", &cluster) }
//
// When no API server can be started the tests fail, saying why (they never
// skip). cleanup, if given, runs after the tests, before the control plane
// stops.
func Main(m *testing.M, what string, cluster **Cluster, cleanup ...func()) {
	MainWith(m, what, Options{}, cluster, cleanup...)
}

// MainWith is Main with the cluster opts describe (Options.Full: one that
// reconciles).
func MainWith(m *testing.M, what string, opts Options, cluster **Cluster, cleanup ...func()) {
	c, err := StartWith(opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %s need a real Kubernetes API server: %v\n", what, err)
		os.Exit(1)
	}
	*cluster = c
	code := m.Run()
	for _, f := range cleanup {
		f()
	}
	var crashed error
	if c.full != nil {
		// A controller, the scheduler or kwok that stopped during the tests
		// fails them: what they checked did not run on the cluster asked for.
		crashed = c.full.stop()
		c.full = nil
	}
	if err := c.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stop control plane: %v\n", err)
	}
	if crashed != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %v\n", crashed)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}
