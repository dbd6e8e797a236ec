package remediations_test

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/testcluster"
	"github.com/alertmedic/alertmedic/remediations"
)

// What alertmedic does differently from kubectl, on purpose, and nothing
// else (README, "What each action does"): the field manager it writes
// under, and the Event it records on the workload for each action. The
// conformance test checks both and ignores them in its comparison.
var (
	kubectlManagers    = []string{"kubectl-rollout", "kubectl"}
	alertmedicManagers = []string{remediations.Component}
)

// twins are two identical workloads of one kind, each in its own
// namespace: kubectl acts on one, alertmedic on the other.
type twins struct {
	kind             v1alpha1.Kind
	kubectlNS, amNS  string
	kubectl, kubecfg string
	x                *remediations.Executor
	actions          int // alertmedic's actions, each with its Event
}

// kubectlDo runs the cached kubectl (the one built with the API server) on
// the kubectl twin.
func (tw *twins) kubectlDo(t *testing.T, args ...string) (string, error) {
	t.Helper()
	args = append([]string{"--kubeconfig", tw.kubecfg, "-n", tw.kubectlNS}, args...)
	out, err := exec.CommandContext(t.Context(), tw.kubectl, args...).CombinedOutput()
	t.Logf("kubectl %s: %s", strings.Join(args[4:], " "), strings.TrimSpace(string(out)))
	return string(out), err
}

// do makes the same change on both twins: kubectl with args, alertmedic
// with req (its target's namespace set to the twin's); both must succeed.
func (tw *twins) do(t *testing.T, req remediations.Request, args ...string) {
	t.Helper()
	if _, err := tw.kubectlDo(t, args...); err != nil {
		t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
	}
	req.Target.Namespace = tw.amNS
	res, err := tw.x.Execute(t.Context(), req)
	if err != nil || res.Outcome != remediations.Succeeded {
		t.Fatalf("alertmedic %s = %+v, %v", req.Action, res, err)
	}
	tw.actions++
}

// restartedAtValue and templateHash are the parts of the objects that
// differ between the twins by construction: the time of the restart, and
// the hashes computed from templates holding it (pod-template-hash, the
// names of ReplicaSets and ControllerRevisions).
var restartedAtValue = regexp.MustCompile(`("kubectl\.kubernetes\.io/restartedAt":)"([^"]*)"`)

// normalized is v as JSON, each restartedAt value replaced by "<time>"
// after checking it is RFC 3339 (kubectl's format).
func normalized(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return restartedAtValue.ReplaceAllStringFunc(string(raw), func(m string) string {
		sub := restartedAtValue.FindStringSubmatch(m)
		if _, err := time.Parse(time.RFC3339, sub[2]); err != nil {
			t.Errorf("restartedAt %q is not RFC 3339: %v", sub[2], err)
		}
		return sub[1] + `"<time>"`
	})
}

// snapshot is what a user sees of a workload after an action, with the
// parts that differ by construction normalized (see normalized): the object
// (generation, labels, annotations, spec), its rollout status, its history
// (ReplicaSets or ControllerRevisions, by revision) and its pods.
type snapshot struct {
	Generation  int64
	Labels      map[string]string
	Annotations string
	Spec        string
	Status      string
	History     []string
	Pods        []string
	Managers    []string `json:"-"` // compared apart: a known difference
}

func takeSnapshot(t *testing.T, kind v1alpha1.Kind, ns string) snapshot {
	t.Helper()
	apps := clientset().AppsV1()
	var (
		s    snapshot
		meta metav1.Object
	)
	switch kind {
	case v1alpha1.KindDeployment:
		d, err := apps.Deployments(ns).Get(t.Context(), "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		meta, s.Spec = d, normalized(t, d.Spec)
		s.Status = fmt.Sprintf("replicas=%d updated=%d available=%d observed=%v", d.Status.Replicas, d.Status.UpdatedReplicas,
			d.Status.AvailableReplicas, d.Status.ObservedGeneration == d.Generation)
		rss, err := apps.ReplicaSets(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			t.Fatal(err)
		}
		for _, rs := range rss.Items {
			if !metav1.IsControlledBy(&rs, d) {
				continue
			}
			tmpl := rs.Spec.Template.DeepCopy()
			delete(tmpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
			s.History = append(s.History, fmt.Sprintf("revision=%s history=%q replicas=%d annotations=%s template=%s",
				rs.Annotations[remediations.RevisionAnnotation], rs.Annotations["deployment.kubernetes.io/revision-history"],
				*rs.Spec.Replicas, normalized(t, rs.Annotations), normalized(t, tmpl)))
		}
	case v1alpha1.KindStatefulSet:
		st, err := apps.StatefulSets(ns).Get(t.Context(), "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		revs := revisionNumbers(t, ns, st)
		meta, s.Spec = st, normalized(t, st.Spec)
		s.Status = fmt.Sprintf("replicas=%d ready=%d updated=%d current=%d update=%d observed=%v", st.Status.Replicas, st.Status.ReadyReplicas,
			st.Status.UpdatedReplicas, revs[st.Status.CurrentRevision], revs[st.Status.UpdateRevision], st.Status.ObservedGeneration == st.Generation)
		s.History = controllerHistory(t, ns, st)
	case v1alpha1.KindDaemonSet:
		d, err := apps.DaemonSets(ns).Get(t.Context(), "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		meta, s.Spec = d, normalized(t, d.Spec)
		s.Status = fmt.Sprintf("desired=%d updated=%d available=%d observed=%v", d.Status.DesiredNumberScheduled, d.Status.UpdatedNumberScheduled,
			d.Status.NumberAvailable, d.Status.ObservedGeneration == d.Generation)
		s.History = controllerHistory(t, ns, d)
	}
	s.Generation, s.Labels = meta.GetGeneration(), meta.GetLabels()
	s.Annotations = normalized(t, meta.GetAnnotations())
	for _, f := range meta.GetManagedFields() {
		if !slices.Contains(s.Managers, f.Manager) {
			s.Managers = append(s.Managers, f.Manager)
		}
	}
	slices.Sort(s.Managers)
	slices.Sort(s.History)
	for _, p := range pods(t, ns, "web") {
		_, restarted := p.Annotations[remediations.RestartedAtAnnotation]
		s.Pods = append(s.Pods, fmt.Sprintf("image=%s restartedAt=%v ready=%v", p.Spec.Containers[0].Image, restarted, podReady(&p)))
	}
	slices.Sort(s.Pods)
	return s
}

// revisionNumbers maps the names of the ControllerRevisions owner controls
// to their revision numbers.
func revisionNumbers(t *testing.T, ns string, owner metav1.Object) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, cr := range ownedRevisions(t, ns, owner) {
		out[cr.Name] = cr.Revision
	}
	return out
}

func ownedRevisions(t *testing.T, ns string, owner metav1.Object) []appsv1.ControllerRevision {
	t.Helper()
	list, err := clientset().AppsV1().ControllerRevisions(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	var out []appsv1.ControllerRevision
	for _, cr := range list.Items {
		if metav1.IsControlledBy(&cr, owner) {
			out = append(out, cr)
		}
	}
	return out
}

// controllerHistory lists owner's ControllerRevisions: number and data.
func controllerHistory(t *testing.T, ns string, owner metav1.Object) []string {
	t.Helper()
	var out []string
	for _, cr := range ownedRevisions(t, ns, owner) {
		out = append(out, fmt.Sprintf("revision=%d data=%s", cr.Revision,
			restartedAtValue.ReplaceAllString(string(cr.Data.Raw), `$1"<time>"`)))
	}
	return out
}

// compare waits until both twins are rolled out and checks they are the
// same, the known differences aside.
func (tw *twins) compare(t *testing.T, step string) snapshot {
	t.Helper()
	rolledOut(t, tw.kind, tw.kubectlNS, "web")
	rolledOut(t, tw.kind, tw.amNS, "web")
	k, a := takeSnapshot(t, tw.kind, tw.kubectlNS), takeSnapshot(t, tw.kind, tw.amNS)
	kj, _ := json.MarshalIndent(k, "", "  ")
	aj, _ := json.MarshalIndent(a, "", "  ")
	if string(kj) != string(aj) {
		t.Errorf("after %s the twins differ:\nkubectl's:    %s\nalertmedic's: %s", step, kj, aj)
	}
	// The known differences: who wrote (managedFields) and the Events.
	var km, am []string
	for _, m := range k.Managers {
		if !slices.Contains(a.Managers, m) {
			km = append(km, m)
		}
	}
	for _, m := range a.Managers {
		if !slices.Contains(k.Managers, m) {
			am = append(am, m)
		}
	}
	for _, m := range km {
		if !slices.Contains(kubectlManagers, m) {
			t.Errorf("after %s: field manager %q on kubectl's twin only, not a known difference (%v)", step, m, kubectlManagers)
		}
	}
	t.Logf("after %s: field managers on kubectl's twin only %v, on alertmedic's only %v", step, km, am)
	for _, m := range am {
		if !slices.Contains(alertmedicManagers, m) {
			t.Errorf("after %s: field manager %q on alertmedic's twin only, not a known difference (%v)", step, m, alertmedicManagers)
		}
	}
	if n := len(events(t, tw.kubectlNS, "web")); n != 0 {
		t.Errorf("after %s: %d Events on kubectl's twin besides the controllers', want none", step, n)
	}
	if n := len(events(t, tw.amNS, "web")); n != tw.actions {
		t.Errorf("after %s: %d Events by alertmedic, want one per action (%d)", step, n, tw.actions)
	}
	return a
}

// The same change made by kubectl and by alertmedic on twin workloads
// leaves them the same: the object, its rollout history as the controllers
// make it, and its pods. kubectl is the one built with the API server.
func TestKubectlConformance(t *testing.T) {
	t.Parallel()
	assets, err := testcluster.Assets()
	if err != nil {
		t.Fatal(err)
	}
	kubecfg, err := cluster.Kubeconfig(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []v1alpha1.Kind{v1alpha1.KindDeployment, v1alpha1.KindStatefulSet, v1alpha1.KindDaemonSet} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			tw := &twins{kind: kind, kubectlNS: namespace(t), amNS: namespace(t),
				kubectl: filepath.Join(assets, "kubectl"), kubecfg: kubecfg, x: executor(t, medic())}
			resource := strings.ToLower(string(kind)) + "/web"
			for _, ns := range []string{tw.kubectlNS, tw.amNS} {
				release(t, kind, ns, "web", 2, "web:v1", "web:v2", "web:v3")
			}
			tw.compare(t, "three releases")

			tw.do(t, restartReq(kind, "", "web"), "rollout", "restart", resource)
			s := tw.compare(t, "rollout restart")
			if !strings.Contains(s.Spec, `"kubectl.kubernetes.io/restartedAt":"<time>"`) {
				t.Errorf("after a restart the template has no restartedAt annotation: %s", s.Spec)
			}

			if kind == v1alpha1.KindDaemonSet {
				// Neither scales a DaemonSet: it has no scale subresource.
				if _, err := tw.kubectlDo(t, "scale", "--replicas=3", resource); err == nil {
					t.Errorf("kubectl scaled a DaemonSet")
				}
				req := scaleReq(kind, tw.amNS, "web", v1alpha1.ScaleParams{Op: v1alpha1.ScaleTo, N: 3})
				if res, err := tw.x.Execute(t.Context(), req); err == nil || res.Reason != "Unsupported" {
					t.Errorf("alertmedic scale of a DaemonSet = %+v, %v; want Unsupported", res, err)
				}
				tw.actions++ // its Event tells of the refusal
			} else {
				tw.do(t, scaleReq(kind, "", "web", v1alpha1.ScaleParams{Op: v1alpha1.ScaleTo, N: 3}), "scale", "--replicas=3", resource)
				if s := tw.compare(t, "scale --replicas=3"); len(s.Pods) != 3 {
					t.Errorf("after scale --replicas=3: %d pods", len(s.Pods))
				}
			}

			// Back to the release before the restart.
			tw.do(t, rollbackReq(kind, "", "web", 0), "rollout", "undo", resource)
			if s := tw.compare(t, "rollout undo"); strings.Contains(s.Spec, "restartedAt") || !strings.Contains(s.Spec, `"image":"web:v3"`) {
				t.Errorf("after undo the template is not revision 3's: %s", s.Spec)
			}
			// To revision 2 (web:v2), then to the restart's revision, both by
			// number: the controllers renumbered each as it became live.
			tw.do(t, rollbackReq(kind, "", "web", 2), "rollout", "undo", "--to-revision=2", resource)
			if s := tw.compare(t, "rollout undo --to-revision=2"); !strings.Contains(s.Spec, `"image":"web:v2"`) {
				t.Errorf("after undo to revision 2 the template is not web:v2: %s", s.Spec)
			}
			tw.do(t, rollbackReq(kind, "", "web", 4), "rollout", "undo", "--to-revision=4", resource)
			if s := tw.compare(t, "rollout undo --to-revision=4"); !strings.Contains(s.Spec, `"kubectl.kubernetes.io/restartedAt":"<time>"`) {
				t.Errorf("after undo to the restart's revision the template has no restartedAt: %s", s.Spec)
			}
			if t.Failed() {
				return
			}
			// A revision neither has: both refuse.
			if _, err := tw.kubectlDo(t, "rollout", "undo", "--to-revision=99", resource); err == nil {
				t.Errorf("kubectl undo to a missing revision succeeded")
			}
			req := rollbackReq(kind, tw.amNS, "web", 99)
			if res, err := tw.x.Execute(t.Context(), req); err == nil || res.Reason != "RevisionNotFound" {
				t.Errorf("alertmedic rollback to a missing revision = %+v, %v", res, err)
			}
			tw.actions++
			tw.compare(t, "rollout undo --to-revision=99")
		})
	}
}
