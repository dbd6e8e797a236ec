package chatops

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/engine/controller"
	"github.com/alertmedic/alertmedic/engine/ingest"
	"github.com/alertmedic/alertmedic/internal/testcluster"
	"github.com/alertmedic/alertmedic/internal/testslack"
)

// An automatic restart on a cluster that reconciles is told to the channel
// in one message, posted once and updated through the record's life; the
// payloads Slack received, in order, are those of the golden file
// testdata/lifecycle/NAME.json (timestamps, names and counts that differ
// from run to run normalised). A phase the record passes through in less
// time than one Slack call takes may be left out, and a verification is
// shown at most every verifyingUpdateEvery; the outcome never is.
func TestLifecycleOfAnAutomaticRestart(t *testing.T) {
	for _, tc := range []struct {
		name      string
		behaviour testcluster.Behaviour
		timeout   time.Duration // of the rollout check
		final     v1alpha1.Phase
		shows     []string // in the last message
	}{
		{name: "verified", timeout: time.Minute, final: v1alpha1.PhaseSucceeded,
			shows: []string{"Verified", "*Rollout* finished: 2/2 ready", "restartedAt="}},
		// The pods crash whatever the restart does: the rollout check fails
		// at its deadline, and the message says why, with the pods' Events.
		{name: "failed-crashloop", behaviour: testcluster.CrashLoop, timeout: 10 * time.Second, final: v1alpha1.PhaseFailed,
			shows: []string{"Failed", "RolloutStalled", "CrashLoopBackOff", "*Warning events*", "BackOff (x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.policy = controller.Policy{VerifyInterval: time.Second}
			e.behaving("web", tc.behaviour)
			if tc.behaviour == "" {
				if err := cluster.WaitDeploymentAvailable(t.Context(), e.ns, "web", 30*time.Second); err != nil {
					t.Fatal(err)
				}
				// Events keep whole seconds: one from the rollout above
				// (FailedScheduling while the fake node starts) in the
				// second the restart starts would count as the restart's.
				waitFor(t, "a second without Warning Events", func() bool {
					return e.lastWarning().Before(time.Now().Truncate(time.Second))
				})
			} else {
				waitFor(t, "both pods to report BackOff", func() bool { return e.warningPods() >= 2 })
			}
			e.start()
			rec := e.automaticRestart("web", tc.timeout)

			var final *v1alpha1.Remediation
			testcluster.WaitWithin(t, 2*tc.timeout+30*time.Second, "the record to end and its message to show it", func() bool {
				final = e.get(rec)
				s := final.Status.Slack
				return final.Status.Phase.Final() && s != nil && s.Digest == Render(final, Approvers{}).Digest()
			})
			if final.Status.Phase != tc.final {
				t.Fatalf("record ended %s (%s: %s), want %s", final.Status.Phase, final.Status.Reason, final.Status.Message, tc.final)
			}
			var writes []testslack.Write
			for _, w := range e.ws.Writes() {
				if w.TS == final.Status.Slack.TS {
					writes = append(writes, w)
				}
			}
			if n := len(e.ws.Messages()); n != 1 {
				t.Errorf("%d messages posted, want 1", n)
			}
			for i, w := range writes {
				want := "chat.update"
				if i == 0 {
					want = "chat.postMessage"
				}
				if w.Method != want || w.Channel != "C0OPS" {
					t.Errorf("write %d: %s to %s, want %s to the default channel C0OPS", i, w.Method, w.Channel, want)
				}
			}
			verifying := 0
			for _, w := range writes {
				if strings.HasPrefix(w.Text, "Verifying") {
					verifying++
				}
			}
			// Checked every second, the rollout changes at every look; the
			// message is updated when the record starts verifying, and at
			// most every verifyingUpdateEvery (30s) after.
			if verifying > 2 {
				t.Errorf("%d writes while verifying for %s, want at most 2", verifying, tc.timeout)
			}
			got := lifecycle(t, writes, e.ns, rec.Name)
			t.Logf("%d writes to Slack (%d distinct once normalised) from creation to %s in %s", len(writes), len(got),
				final.Status.Phase, final.Status.FinishedAt.Sub(final.CreationTimestamp.Time))
			last := string(got[len(got)-1])
			for _, s := range tc.shows {
				if !strings.Contains(last, s) {
					t.Errorf("the last message does not show %q:\n%s", s, last)
				}
			}
			compareLifecycle(t, filepath.Join("testdata", "lifecycle", tc.name+".json"), got)
		})
	}
}

// behaving creates Deployment name with 2 replicas whose pods behave as b
// ("": they become Ready).
func (e *env) behaving(name string, b testcluster.Behaviour) {
	e.t.Helper()
	podLabels := map[string]string{"app": name}
	if b != "" {
		podLabels[testcluster.BehaviourLabel] = string(b)
	}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: new(int32(2)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
			},
		},
	}
	if _, err := cluster.Client.AppsV1().Deployments(e.ns).Create(e.t.Context(), d, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// warningPods counts the pods with a Warning Event.
func (e *env) warningPods() int {
	evs, err := cluster.Client.CoreV1().Events(e.ns).List(e.t.Context(), metav1.ListOptions{FieldSelector: "type=Warning"})
	if err != nil {
		e.t.Fatal(err)
	}
	pods := map[string]bool{}
	for _, ev := range evs.Items {
		if ev.InvolvedObject.Kind == "Pod" {
			pods[ev.InvolvedObject.Name] = true
		}
	}
	return len(pods)
}

// lastWarning is when the newest Warning Event was last seen.
func (e *env) lastWarning() time.Time {
	evs, err := cluster.Client.CoreV1().Events(e.ns).List(e.t.Context(), metav1.ListOptions{FieldSelector: "type=Warning"})
	if err != nil {
		e.t.Fatal(err)
	}
	var last time.Time
	for _, ev := range evs.Items {
		if t := ev.LastTimestamp.Time; t.After(last) {
			last = t
		}
	}
	return last
}

// automaticRestart records, as the webhook would, a restart of Deployment
// target that needs no approval and is verified by its rollout.
func (e *env) automaticRestart(target string, timeout time.Duration, change ...func(*v1alpha1.Remediation)) *v1alpha1.Remediation {
	e.t.Helper()
	startsAt := metav1.NewMicroTime(time.Now().Add(-time.Minute).Truncate(time.Second))
	fp := fmt.Sprintf("%016x", time.Now().UnixNano())
	rec := &v1alpha1.Remediation{
		ObjectMeta: metav1.ObjectMeta{
			Name:      ingest.RecordName("restart-crashlooping|Deployment/" + e.ns + "/" + target + "|" + fp),
			Namespace: e.ns,
			Labels:    map[string]string{v1alpha1.LabelTarget: v1alpha1.TargetLabel("Deployment", e.ns, target)},
		},
		Spec: v1alpha1.RemediationSpec{
			Rule: "restart-crashlooping", Action: "restart",
			Target:    v1alpha1.Target{Kind: "Deployment", Namespace: e.ns, Name: target},
			TargetRef: "Deployment/" + e.ns + "/" + target,
			Alert: v1alpha1.AlertRef{Name: "KubePodCrashLooping", Fingerprint: fp, StartsAt: startsAt,
				Labels:       map[string]string{"alertname": "KubePodCrashLooping", "namespace": e.ns, "deployment": target, "severity": "warning"},
				Summary:      "Pod " + target + " is crash looping",
				Description:  "Pod " + e.ns + "/" + target + " has restarted more than 3 times in the last 10 minutes.",
				GeneratorURL: "http://prometheus.example:9090/graph?g0.expr=kube_pod_container_status_restarts_total",
				RunbookURL:   "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubepodcrashlooping"},
			Verify: &v1alpha1.VerifySpec{Rollout: &v1alpha1.RolloutCheck{Timeout: metav1.Duration{Duration: timeout}}},
		},
	}
	for _, f := range change {
		f(rec)
	}
	if err := e.records.Create(e.t.Context(), rec); err != nil {
		e.t.Fatal(err)
	}
	return rec
}

var (
	normDate     = regexp.MustCompile(`<!date\^\d+\^[^|]*\|[^>]*>`)
	normTime     = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`)
	normPod      = regexp.MustCompile(`\bweb-[a-z0-9]{6,10}-[a-z0-9]{5}\b`)
	normRS       = regexp.MustCompile(`\bweb-[a-z0-9]{6,10}\b`)
	normRestarts = regexp.MustCompile(`\b\d+ restarts\b`)
	normCount    = regexp.MustCompile(`\(x\d+, `)
	normDuration = regexp.MustCompile(`after [0-9.]+(ms|µs|s)\b`)
	normObserved = regexp.MustCompile(`(\*Rollout\* \(checking until [^)]*\): )(?:[^"\\]|\\.)*`)
)

// lifecycle is what Slack received for one message, normalised: what
// differs from run to run (times, generated names, counts that go up) is
// masked, and while the record is verifying what the check last saw is, as
// it depends on how far the rollout got when it was read. Consecutive
// writes that are equal after that are one.
func lifecycle(t *testing.T, writes []testslack.Write, ns, record string) []json.RawMessage {
	t.Helper()
	var out []json.RawMessage
	for _, w := range writes {
		var blocks []map[string]any
		if err := json.Unmarshal(w.Blocks, &blocks); err != nil {
			t.Fatal(err)
		}
		verifying := strings.HasPrefix(w.Text, "Verifying")
		blocks = slices.DeleteFunc(blocks, func(b map[string]any) bool {
			return verifying && strings.HasPrefix(blockText(b), "*Warning events*")
		})
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"text": w.Text, "blocks": blocks}); err != nil {
			t.Fatal(err)
		}
		s := strings.ReplaceAll(buf.String(), record, "RECORD")
		s = strings.ReplaceAll(s, ns, "NAMESPACE")
		s = normDate.ReplaceAllString(s, "<!date^T|T>")
		s = normTime.ReplaceAllString(s, "TIME")
		s = normPod.ReplaceAllString(s, "web-POD")
		s = normRS.ReplaceAllString(s, "web-RS")
		s = normRestarts.ReplaceAllString(s, "N restarts")
		s = normCount.ReplaceAllString(s, "(xN, ")
		s = normDuration.ReplaceAllString(s, "after D")
		if verifying {
			s = normObserved.ReplaceAllString(s, `${1}OBSERVED`)
		}
		if len(out) == 0 || string(out[len(out)-1]) != s {
			out = append(out, json.RawMessage(s))
		}
	}
	return out
}

func blockText(b map[string]any) string {
	if t, ok := b["text"].(map[string]any); ok {
		s, _ := t["text"].(string)
		return s
	}
	return ""
}

// compareLifecycle checks got against the golden file at path: got must
// be the golden sequence, or the golden sequence with some of its short
// phases left out (see short), ending as it ends. -update rewrites
// the file with got.
func compareLifecycle(t *testing.T, path string, got []json.RawMessage) {
	t.Helper()
	sep := "\n"
	joined := []byte{}
	for i, g := range got {
		if i > 0 {
			joined = append(joined, sep...)
		}
		joined = append(joined, g...)
	}
	if *update {
		// A run rarely sees the record Planned (the runner moves it on
		// within milliseconds): a Planned message already in the file
		// stays at its head.
		if old, err := os.ReadFile(path); err == nil && len(got) > 0 && !strings.Contains(string(got[0]), `"text": "Planned`) {
			var golden []json.RawMessage
			if json.Unmarshal(old, &golden) == nil && len(golden) > 0 && strings.Contains(canonical(t, golden[0]), `"text":"Planned`) {
				var buf bytes.Buffer
				_ = json.Indent(&buf, golden[0], "", "  ")
				joined = append(append(buf.Bytes(), "\n\n"...), joined...)
			}
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("["+strings.ReplaceAll(string(joined), "}\n\n{", "},\n{")+"]\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./chatops -run TestLifecycle -update to create it)", err)
	}
	var golden []json.RawMessage
	if err := json.Unmarshal(raw, &golden); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	want := make([]string, len(golden))
	for i, g := range golden {
		want[i] = canonical(t, g)
	}
	have := make([]string, len(got))
	for i, g := range got {
		have[i] = canonical(t, g)
	}
	// have must be a subsequence of want that keeps every long phase
	// (verifying, the outcome) and ends where want ends.
	j := 0
	for i, h := range have {
		for j < len(want) && want[j] != h {
			if !short(want[j]) {
				t.Fatalf("message %d of the lifecycle differs from %s (-update rewrites it); want\n%s\ngot\n%s\nwhole lifecycle:\n%s", i, path, want[j], h, joined)
			}
			j++
		}
		if j == len(want) {
			t.Fatalf("message %d of the lifecycle is not in %s (-update rewrites it):\n%s\nwhole lifecycle:\n%s", i, path, h, joined)
		}
		j++
	}
	if j != len(want) {
		t.Fatalf("the lifecycle ended before %s does (-update rewrites it):\n%s", path, joined)
	}
}

// short reports whether a golden message may be left out of a lifecycle:
// Planned and Running, which a record may pass through faster than the
// notifier looks, and Verifying, which is shown once as the record starts
// verifying and then at most every verifyingUpdateEvery, whatever the
// checks saw meanwhile. The outcome never is.
func short(m string) bool {
	return strings.Contains(m, `"text":"Planned`) || strings.Contains(m, `"text":"Running`) ||
		strings.Contains(m, `"text":"Verifying`)
}

func canonical(t *testing.T, m json.RawMessage) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(m, &v); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(buf.String())
}
