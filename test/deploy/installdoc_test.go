package deploy

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/internal/testcluster"
)

// docBlock is one fenced code block of a Markdown file.
type docBlock struct {
	lang, text string
	line       int    // of the opening fence
	skip       string // why the test does not run it ("" = it does)
}

var skipMarker = regexp.MustCompile(`^<!-- not run by the test: (.+) -->$`)

// docSection returns the fenced blocks of the section of path that starts
// with the heading line start and ends at the next heading of the same
// level. A `<!-- not run by the test: why -->` line marks the next block.
func docSection(t *testing.T, path, start string) []docBlock {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repo, path))
	if err != nil {
		t.Fatal(err)
	}
	level := start[:strings.Index(start, " ")+1]
	var blocks []docBlock
	in, fence := false, false
	skip := ""
	var cur *docBlock
	for i, line := range strings.Split(string(data), "\n") {
		switch {
		case !in && line == start:
			in = true
		case !in:
		case fence && line == "```":
			fence = false
			blocks = append(blocks, *cur)
		case fence:
			cur.text += line + "\n"
		case strings.HasPrefix(line, level) && line != start:
			in = false
		case strings.HasPrefix(line, "```"):
			fence = true
			cur = &docBlock{lang: strings.TrimPrefix(line, "```"), line: i + 1, skip: skip}
			skip = ""
		case skipMarker.MatchString(line):
			skip = skipMarker.FindStringSubmatch(line)[1]
		}
	}
	if len(blocks) == 0 {
		t.Fatalf("%s has no section %q with code blocks", path, start)
	}
	return blocks
}

var valuesFileComment = regexp.MustCompile(`^# ([A-Za-z0-9._-]+\.yaml)\n`)

// The Helm section of docs/install.md works as written: its shell blocks
// run, in order, in a folder holding the repository's charts/, manifests/
// and examples/ and the values files the section shows ("# name.yaml" on
// their first line), with kubectl and the Helm of hack/helm.sh against a
// cluster whose controllers and fake nodes run the Deployment to Ready. An
// upgrade keeps the generated webhook token, the token reaches
// Alertmanager's namespace, and the receiver the section shows is the one
// the chart's notes print.
func TestInstallDocHelm(t *testing.T) {
	blocks := docSection(t, "docs/install.md", "## Install with Helm")
	helmBin := helmBinary(t)
	kubectl := kubectlPath(t)

	c, err := testcluster.StartWith(testcluster.Options{Full: true})
	if err != nil {
		t.Fatalf("start a full cluster: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stop the cluster: %v", err)
		}
	})
	work := t.TempDir()
	kubeconfig, err := c.Kubeconfig(work)
	if err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs(repo)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"charts", "manifests", "examples"} {
		if err := os.Symlink(filepath.Join(root, d), filepath.Join(work, d)); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(work, ".bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, path := range map[string]string{"helm": helmBin, "kubectl": kubectl} {
		if err := os.Symlink(path, filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	env := helmEnv(t, "KUBECONFIG="+kubeconfig, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	run := func(what, script string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
		cmd.Dir, cmd.Env = work, env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s:\n%s\nfailed: %v\n%s", what, script, err, out.String())
		}
		return out.String()
	}

	// The cluster the guide assumes: Alertmanager runs in monitoring.
	run("setup", "kubectl create namespace monitoring")

	var receiver string
	ran := 0
	for _, b := range blocks {
		where := fmt.Sprintf("docs/install.md:%d", b.line)
		switch {
		case b.skip != "":
			t.Logf("NOTE: %s not run: %s", where, b.skip)
		case b.lang == "sh":
			run(where, b.text)
			ran++
		case b.lang == "yaml" && valuesFileComment.MatchString(b.text):
			name := valuesFileComment.FindStringSubmatch(b.text)[1]
			if err := os.WriteFile(filepath.Join(work, name), []byte(b.text), 0o600); err != nil {
				t.Fatal(err)
			}
		case b.lang == "yaml" && strings.HasPrefix(b.text, "route:"):
			receiver = b.text
		}
	}
	if ran < 3 {
		t.Fatalf("ran %d shell blocks of the Helm section; it has lost its commands", ran)
	}

	ctx := t.Context()
	dep, err := c.Client.AppsV1().Deployments(releaseNamespace).Get(ctx, "alertmedic", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if dep.Status.AvailableReplicas != 2 {
		t.Errorf("after the guide's commands, %d replicas are available, want 2", dep.Status.AvailableReplicas)
	}
	token := func(ns string) string {
		t.Helper()
		s, err := c.Client.CoreV1().Secrets(ns).Get(ctx, "alertmedic-webhook", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("the webhook token Secret in %s: %v", ns, err)
		}
		if len(s.Data["token"]) < 32 {
			t.Fatalf("the webhook token in %s is %d bytes, want a random token of at least 32", ns, len(s.Data["token"]))
		}
		return string(s.Data["token"])
	}
	first := token(releaseNamespace)
	if copied := token("monitoring"); copied != first {
		t.Error("the token copied to Alertmanager's namespace differs from alertmedic's")
	}
	// The same upgrade again: the token is kept, or Alertmanager's copy
	// would stop working at the next upgrade.
	run("upgrade", "helm upgrade --install alertmedic charts/alertmedic --namespace alertmedic --values my-values.yaml")
	if token(releaseNamespace) != first {
		t.Error("helm upgrade replaced the generated webhook token")
	}

	if receiver == "" {
		t.Fatal("the Helm section shows no Alertmanager route and receiver (a yaml block starting with route:)")
	}
	notes := run("notes", "helm get notes alertmedic --namespace alertmedic")
	if !strings.Contains(notes, receiver) {
		t.Errorf("the receiver in docs/install.md:\n%s\nis not the one the chart's notes print:\n%s", receiver, notes)
	}
}
