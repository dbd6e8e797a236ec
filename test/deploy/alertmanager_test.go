package deploy

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/config"
	amwebhook "github.com/prometheus/alertmanager/notify/webhook"
	"github.com/prometheus/alertmanager/template"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

const alertmanagerExample = "examples/alertmanager.yml"

// loadAlertmanagerExample loads examples/alertmanager.yml with Alertmanager's
// own configuration loader (strict: an unknown or misplaced field fails).
func loadAlertmanagerExample(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.LoadFile(filepath.Join(repo, alertmanagerExample))
	if err != nil {
		t.Fatalf("Alertmanager refuses %s: %v", alertmanagerExample, err)
	}
	return cfg
}

// alertmedicWebhook returns (a copy of) the example's webhook to alertmedic.
func alertmedicWebhook(t *testing.T) *config.WebhookConfig {
	t.Helper()
	cfg := loadAlertmanagerExample(t)
	for _, r := range cfg.Receivers {
		if r.Name == "alertmedic" {
			if len(r.WebhookConfigs) != 1 {
				t.Fatalf("receiver alertmedic has %d webhook_configs, want 1", len(r.WebhookConfigs))
			}
			wc := *r.WebhookConfigs[0]
			hc := *wc.HTTPConfig
			if hc.Authorization == nil {
				t.Fatal("the alertmedic webhook has no http_config.authorization")
			}
			auth := *hc.Authorization
			hc.Authorization = &auth
			wc.HTTPConfig = &hc
			return &wc
		}
	}
	t.Fatalf("%s has no receiver named alertmedic", alertmanagerExample)
	return nil
}

// alertmedicRoute returns the route that sends to alertmedic.
func alertmedicRoute(t *testing.T, cfg *config.Config) *config.Route {
	t.Helper()
	var found []*config.Route
	var walk func(r *config.Route)
	walk = func(r *config.Route) {
		if r.Receiver == "alertmedic" {
			found = append(found, r)
		}
		for _, c := range r.Routes {
			walk(c)
		}
	}
	walk(cfg.Route)
	if len(found) != 1 {
		t.Fatalf("want one route to receiver alertmedic, found %d", len(found))
	}
	return found[0]
}

// maxBodyBytes returns the default of alertmedic serve's --max-body-bytes
// (or the Deployment's own setting), as the binary reports it.
func maxBodyBytes(t *testing.T, dep *appsv1.Deployment) int64 {
	t.Helper()
	for _, a := range dep.Spec.Template.Spec.Containers[0].Args {
		if v, ok := strings.CutPrefix(a, "--max-body-bytes="); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("Deployment arg %s: %v", a, err)
			}
			return n
		}
	}
	bin, _, _, _ := imageBinary(t)
	out, _ := exec.Command(bin, "serve", "--help").CombinedOutput()
	m := regexp.MustCompile(`--max-body-bytes=(\d+)\s`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("alertmedic serve --help does not show a default for --max-body-bytes:\n%s", out)
	}
	n, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return n
}

// examples/alertmanager.yml is a valid Alertmanager configuration that
// reaches the Service the manifests create, authenticates with a bearer
// token from a file, sends resolved alerts, and bounds notifications so that
// none can exceed what alertmedic accepts.
func TestAlertmanagerExample(t *testing.T) {
	cfg := loadAlertmanagerExample(t)
	wc := alertmedicWebhook(t)
	objs := kustomize(t, "manifests")
	svc := typed[corev1.Service](t, find(t, objs, "Service", "alertmedic"))
	dep := typed[appsv1.Deployment](t, find(t, objs, "Deployment", "alertmedic"))

	u, err := url.Parse(string(wc.URL))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%s.%s.svc:%d", svc.Name, svc.Namespace, svc.Spec.Ports[0].Port); u.Host != want || u.Path != "/webhook" {
		t.Errorf("webhook url %s, want http://%s/webhook (the Service in manifests/)", u, want)
	}
	if !wc.SendResolved() {
		t.Error("send_resolved must be true: resolved alerts cancel pending approvals")
	}
	auth := wc.HTTPConfig.Authorization
	if auth.Type != "Bearer" || auth.CredentialsFile == "" || auth.Credentials != "" {
		t.Errorf("authorization = type %q, credentials_file %q, inline credentials %v; want Bearer from a credentials_file", auth.Type, auth.CredentialsFile, auth.Credentials != "")
	}
	if err := wc.HTTPConfig.Validate(); err != nil {
		t.Errorf("http_config: %v", err)
	}

	route := alertmedicRoute(t, cfg)
	if !route.Continue {
		t.Error("the alertmedic route must continue: people are still notified of the alerts it remediates")
	}
	if !slices.Equal(route.GroupByStr, []string{"..."}) {
		t.Errorf("alertmedic route group_by = %v, want ['...'] (one alert per group, never truncated)", route.GroupByStr)
	}
	if route.GroupWait == nil || route.GroupInterval == nil || route.RepeatInterval == nil {
		t.Fatal("the alertmedic route must set group_wait, group_interval and repeat_interval itself")
	}
	gi := time.Duration(*route.GroupInterval)
	if wc.Timeout <= 0 || 3*wc.Timeout > gi {
		t.Errorf("timeout %s: want it set, and at most a third of group_interval %s, the time Alertmanager keeps retrying", wc.Timeout, gi)
	}
	if wc.MaxAlerts == 0 {
		t.Fatal("max_alerts must be set")
	}

	// A notification of max_alerts large alerts, as Alertmanager encodes it,
	// stays well within alertmedic's body limit (a 413 is never retried).
	limit := maxBodyBytes(t, dep)
	big := template.Alert{
		Status: "firing", Labels: template.KV{}, Annotations: template.KV{},
		StartsAt: time.Now(), GeneratorURL: "http://prometheus.monitoring.svc:9090/graph?g0.expr=" + strings.Repeat("x", 500),
		Fingerprint: "0123456789abcdef",
	}
	for i := range 30 {
		big.Labels[fmt.Sprintf("label_%02d", i)] = strings.Repeat("v", 60)
	}
	big.Annotations["summary"] = strings.Repeat("s", 500)
	big.Annotations["description"] = strings.Repeat("d", 4000)
	big.Annotations["runbook_url"] = "https://runbooks.example.com/" + strings.Repeat("r", 200)
	msg := amwebhook.Message{Version: "4", Data: &template.Data{Receiver: "alertmedic", Status: "firing"}, GroupKey: strings.Repeat("k", 500)}
	for range wc.MaxAlerts {
		msg.Alerts = append(msg.Alerts, big)
	}
	body, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(body))*2 > limit {
		t.Errorf("a notification of max_alerts=%d alerts of ~%d bytes is %d bytes, more than half of alertmedic's --max-body-bytes %d; lower max_alerts",
			wc.MaxAlerts, len(body)/int(wc.MaxAlerts), len(body), limit)
	}
	t.Logf("max_alerts=%d: a notification of large alerts is %d KiB; alertmedic accepts %d KiB", wc.MaxAlerts, len(body)>>10, limit>>10)
}
