package deploy

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/config"
	"github.com/prometheus/alertmanager/notify"
	amwebhook "github.com/prometheus/alertmanager/notify/webhook"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/alertmanager/types"
	"github.com/prometheus/common/model"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"

	"github.com/alertmedic/alertmedic/internal/testlog"
)

// projectVolume writes files the way the kubelet writes ConfigMap and Secret
// volumes: into a timestamped directory that ..data points at, with one
// symlink per file, each file root-owned with group gid and mode.
func projectVolume(t *testing.T, dir string, files map[string]string, mode os.FileMode, gid int) {
	t.Helper()
	const ts = "..2026_11_23_10_00_00.000000001"
	if err := os.MkdirAll(filepath.Join(dir, ts), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		p := filepath.Join(dir, ts, name)
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if os.Geteuid() == 0 {
			if err := os.Chown(p, 0, gid); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.Symlink(ts, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for name := range files {
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

// podRoot lays out, in root, the files the kubelet would give the
// Deployment's container: its volumes (the rules ConfigMap from the build,
// the webhook token and Slack Secrets the install guide has the user create,
// emptyDirs) and the ServiceAccount token mount.
func podRoot(t *testing.T, root string, objs []*unstructured.Unstructured, dep *appsv1.Deployment, webhookToken, saToken string, gid int) {
	t.Helper()
	pod := dep.Spec.Template.Spec
	c := pod.Containers[0]
	userSecrets := map[string]map[string]string{
		"alertmedic-webhook": {"token": webhookToken},
		"alertmedic-slack":   {"bot-token": "xoxb-from-the-alertmedic-slack-secret", "signing-secret": "signing-secret-from-the-alertmedic-slack-secret"},
	}
	for _, m := range c.VolumeMounts {
		var v *corev1.Volume
		for i := range pod.Volumes {
			if pod.Volumes[i].Name == m.Name {
				v = &pod.Volumes[i]
			}
		}
		if v == nil {
			t.Fatalf("volumeMount %s names no volume", m.Name)
		}
		dir := filepath.Join(root, m.MountPath)
		switch {
		case v.ConfigMap != nil:
			cm := find(t, objs, "ConfigMap", v.ConfigMap.Name)
			data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
			projectVolume(t, dir, data, 0o644, gid)
		case v.Secret != nil:
			data, ok := userSecrets[v.Secret.SecretName]
			if !ok {
				if v.Secret.Optional == nil || !*v.Secret.Optional {
					t.Fatalf("volume %s needs Secret %s, which the install guide does not have the user create", v.Name, v.Secret.SecretName)
				}
				if err := os.MkdirAll(dir, 0o755); err != nil { // an optional, missing Secret mounts empty
					t.Fatal(err)
				}
				continue
			}
			files := data
			if len(v.Secret.Items) > 0 {
				files = map[string]string{}
				for _, it := range v.Secret.Items {
					files[it.Path] = data[it.Key]
				}
			}
			mode := os.FileMode(0o644)
			if v.Secret.DefaultMode != nil {
				mode = os.FileMode(*v.Secret.DefaultMode)
			}
			projectVolume(t, dir, files, mode, gid)
		case v.EmptyDir != nil:
			if err := os.MkdirAll(dir, 0o777); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, 0o777|os.ModeSticky); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("volume %s: a kind this test does not lay out: %+v", v.Name, v.VolumeSource)
		}
	}
	if pod.AutomountServiceAccountToken == nil || !*pod.AutomountServiceAccountToken {
		t.Fatal("the pod does not mount its ServiceAccount token; alertmedic needs it to reach the API server")
	}
	projectVolume(t, filepath.Join(root, "var/run/secrets/kubernetes.io/serviceaccount"), map[string]string{
		"token":     saToken,
		"ca.crt":    string(cluster.Config.CAData),
		"namespace": dep.Namespace,
	}, 0o644, gid)
}

// containerEnv resolves the environment of container c of a pod named
// podName in namespace as the kubelet would, plus the variables that point
// in-cluster clients at the API server.
func containerEnv(t *testing.T, c corev1.Container, podName, namespace string) []string {
	t.Helper()
	var env []string
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env = append(env, e.Name+"="+e.Value)
		case e.ValueFrom.FieldRef != nil:
			v, ok := map[string]string{"metadata.name": podName, "metadata.namespace": namespace}[e.ValueFrom.FieldRef.FieldPath]
			if !ok {
				t.Fatalf("env %s: field %s is not one this test resolves", e.Name, e.ValueFrom.FieldRef.FieldPath)
			}
			env = append(env, e.Name+"="+v)
		case e.ValueFrom.ResourceFieldRef != nil:
			ref := e.ValueFrom.ResourceFieldRef
			res := strings.TrimPrefix(strings.TrimPrefix(ref.Resource, "limits."), "requests.")
			q, ok := c.Resources.Limits[corev1.ResourceName(res)]
			if strings.HasPrefix(ref.Resource, "requests.") {
				q, ok = c.Resources.Requests[corev1.ResourceName(res)]
			}
			if !ok {
				t.Fatalf("env %s refers to %s, which the container does not set", e.Name, ref.Resource)
			}
			div := int64(1)
			if !ref.Divisor.IsZero() {
				div = ref.Divisor.Value()
			}
			env = append(env, fmt.Sprintf("%s=%d", e.Name, q.Value()/div))
		default:
			t.Fatalf("env %s: a valueFrom this test does not resolve: %+v", e.Name, e.ValueFrom)
		}
	}
	u, err := url.Parse(cluster.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	return append(env, "KUBERNETES_SERVICE_HOST="+u.Hostname(), "KUBERNETES_SERVICE_PORT="+u.Port())
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// The image's binary, run as the production overlay's Deployment runs it —
// its args, env, volumes laid out as the kubelet does, the image's non-root
// user, no libc, and a real token of the ServiceAccount under the base's
// RBAC — becomes ready, takes a notification sent by Alertmanager's own
// webhook notifier configured from examples/alertmanager.yml, restarts the
// workload the alert names with an Event on it, and stops cleanly on
// SIGTERM within the pod's grace period.
func TestImageServesAsTheDeploymentRunsIt(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	root, binPath, uid, gid := imageRoot(t)
	objs := kustomize(t, "examples/overlays/production")
	dep := typed[appsv1.Deployment](t, find(t, objs, "Deployment", "alertmedic"))
	c := dep.Spec.Template.Spec.Containers[0]

	installRBAC(t, "manifests")
	waitAuthorized(t, authorizationv1.ResourceAttributes{Namespace: "payments", Verb: "patch", Group: "apps", Resource: "deployments"}, true)
	tok, err := cluster.Client.CoreV1().ServiceAccounts(saNamespace).CreateToken(ctx, "alertmedic",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest for the ServiceAccount: %v", err)
	}
	const webhookToken = "s3cret-token-from-the-alertmedic-webhook-secret"
	podRoot(t, root, objs, dep, webhookToken, tok.Status.Token, gid)

	ensureNamespace(t, "payments")
	target, err := cluster.Client.AppsV1().Deployments("payments").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "checkout", Namespace: "payments"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "checkout"}},
			Template: podTemplate("checkout", imageV2),
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	port := freePort(t)
	args := make([]string, 0, len(c.Args))
	for _, a := range c.Args {
		if strings.HasPrefix(a, "--listen=") {
			a = fmt.Sprintf("--listen=127.0.0.1:%d", port) // the pod's own network namespace is not ours
		}
		args = append(args, a)
	}
	if len(c.Command) > 0 {
		t.Fatalf("the Deployment overrides the image's ENTRYPOINT with %v; this test runs the image's", c.Command)
	}
	cmd := inImage(root, binPath, uid, gid, args...)
	cmd.Env = containerEnv(t, c, "alertmedic-7c9d5b8f4-x2x7q", dep.Namespace)
	var logs testlog.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start alertmedic %v: %v", args, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("alertmedic's log:\n%s", logs.String())
		}
	}()

	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	for _, probe := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
		p := probe.HTTPGet.Path
		err := waitFor(ctx, 60*time.Second, "alertmedic "+p, func() (bool, error) {
			select {
			case err := <-exited:
				stopped = true
				return false, fmt.Errorf("alertmedic exited: %v", err)
			default:
			}
			resp, err := http.Get(base + p)
			if err != nil {
				return false, err
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK, fmt.Errorf("%s answered %s", p, resp.Status)
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	// Alertmanager's own webhook notifier, configured by the example.
	credentials := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(credentials, []byte(webhookToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wc := alertmedicWebhook(t)
	wc.URL = config.SecretTemplateURL(base + "/webhook")
	wc.HTTPConfig.Authorization.CredentialsFile = credentials
	tmpl, err := template.FromGlobs(nil)
	if err != nil {
		t.Fatal(err)
	}
	if tmpl.ExternalURL, err = url.Parse("http://alertmanager.monitoring.svc:9093"); err != nil {
		t.Fatal(err)
	}
	notifier, err := amwebhook.New(wc, tmpl, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	alert := &types.Alert{Alert: model.Alert{
		Labels: model.LabelSet{
			"alertname": "KubePodCrashLooping", "namespace": "payments", "deployment": "checkout",
			"pod": "checkout-7d9c-x2x", "severity": "warning",
		},
		Annotations: model.LabelSet{"summary": "checkout is crash looping"},
		StartsAt:    now.Add(-time.Minute),
		EndsAt:      now.Add(5 * time.Minute),
	}, UpdatedAt: now}
	nctx := notify.WithGroupKey(ctx, `{}/{alertname=~"KubePodCrashLooping"}:{alertname="KubePodCrashLooping", namespace="payments"}`)
	nctx = notify.WithReceiverName(nctx, "alertmedic")
	nctx = notify.WithGroupLabels(nctx, model.LabelSet{"alertname": "KubePodCrashLooping", "namespace": "payments"})
	if retry, err := notifier.Notify(nctx, alert); err != nil {
		t.Fatalf("Alertmanager's webhook notifier: %v (retry %v)", err, retry)
	}

	err = waitFor(ctx, 30*time.Second, "payments/checkout to be restarted by alertmedic", func() (bool, error) {
		d, err := cluster.Client.AppsV1().Deployments("payments").Get(ctx, target.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return d.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] != "", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = waitFor(ctx, 30*time.Second, "alertmedic's Event on payments/checkout", func() (bool, error) {
		evs, err := cluster.Client.CoreV1().Events("payments").List(ctx, metav1.ListOptions{
			FieldSelector: "involvedObject.name=checkout,involvedObject.kind=Deployment",
		})
		if err != nil {
			return false, err
		}
		for _, ev := range evs.Items {
			if ev.Source.Component == "alertmedic" || ev.ReportingController == "alertmedic" {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// SIGTERM, as the kubelet sends it, ends alertmedic cleanly before the
	// grace period would make the kubelet kill it.
	grace := 30 * time.Second
	if s := dep.Spec.Template.Spec.TerminationGracePeriodSeconds; s != nil {
		grace = time.Duration(*s) * time.Second
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Errorf("alertmedic exited with %v on SIGTERM, want 0", err)
		}
	case <-time.After(grace):
		t.Errorf("alertmedic did not stop within the pod's grace period (%s) of SIGTERM", grace)
	}
}
