package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// pair is alertmedic serving rules over recNS, with --alertmanager-url, and
// a real Alertmanager whose webhook receiver is that alertmedic.
type pair struct {
	t                    *testing.T
	medicBin, medicAddr  string
	medicURL, amURL      string
	rulesFile, tokenFile string
	kubeconfig, recNS    string
	medic, am            *process
}

// startPair starts alertmedic (serve's flags plus medicArgs) and then
// Alertmanager, with its configuration passed through amConfig (nil: as
// alertmanagerYAML says), and waits until both are ready.
func startPair(t *testing.T, recNS, rulesYAML string, amConfig func(string) string, medicArgs ...string) *pair {
	t.Helper()
	amBin := alertmanagerBinary(t)
	p := &pair{t: t, medicBin: buildAlertmedic(t), recNS: recNS}
	// Separate folders: alertmedic reloads its rules when anything in their
	// folder changes.
	medicDir, amDir := t.TempDir(), t.TempDir()
	p.tokenFile = filepath.Join(medicDir, "token")
	if err := os.WriteFile(p.tokenFile, []byte(recNS+"-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.rulesFile = filepath.Join(medicDir, "rules.yaml")
	if err := os.WriteFile(p.rulesFile, []byte(rulesYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	var err error
	if p.kubeconfig, err = cluster.Kubeconfig(medicDir); err != nil {
		t.Fatal(err)
	}
	amAddr := freeAddr(t)
	p.medicAddr = freeAddr(t)
	p.medicURL, p.amURL = "http://"+p.medicAddr, "http://"+amAddr
	p.startMedic(medicArgs...)

	config := fmt.Sprintf(alertmanagerYAML, p.medicURL, p.tokenFile)
	if amConfig != nil {
		config = amConfig(config)
	}
	configFile := filepath.Join(amDir, "alertmanager.yml")
	if err := os.WriteFile(configFile, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	p.am = startProcess(t, "alertmanager", amBin,
		"--config.file="+configFile, "--storage.path="+filepath.Join(amDir, "data"),
		"--web.listen-address="+amAddr, "--cluster.listen-address=", "--log.level=debug")
	p.waitReady("Alertmanager /-/ready", p.amURL+"/-/ready")
	return p
}

// startMedic starts (or starts again) alertmedic, and waits until it is
// ready.
func (p *pair) startMedic(extra ...string) {
	p.t.Helper()
	p.medic = startProcess(p.t, "alertmedic", p.medicBin, append([]string{"serve",
		"--listen", p.medicAddr, "--rules", p.rulesFile, "--token-file", p.tokenFile,
		"--kubeconfig", p.kubeconfig, "--namespace", p.recNS, "--alertmanager-url", p.amURL,
		"--leader-elect-retry-period", "500ms", "--log.format", "logfmt"}, extra...)...)
	p.waitReady("alertmedic /readyz", p.medicURL+"/readyz")
}

// procs are the processes whose logs a failed wait shows.
func (p *pair) procs() []*process {
	if p.am == nil {
		return []*process{p.medic}
	}
	return []*process{p.medic, p.am}
}

func (p *pair) waitReady(what, url string) {
	p.t.Helper()
	waitFor(p.t, what, 30*time.Second, p.procs(), func() (bool, string) {
		code, body := httpGet(p.t.Context(), url)
		return code == http.StatusOK, fmt.Sprintf("%d %s", code, body)
	})
}
