package testcluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// misbehaving is a Deployment whose pods ask for b by the label.
func misbehaving(ns, name string, replicas int32, b Behaviour) *appsv1.Deployment {
	d := deployment(ns, name, name+":1", replicas)
	d.Spec.Template.Labels[BehaviourLabel] = string(b)
	// Short, so that the Deployment controller reports the stalled rollout
	// within the test's wait.
	d.Spec.ProgressDeadlineSeconds = ptr.To(int32(10))
	return d
}

func pods(t *testing.T, ns, app string) []corev1.Pod {
	t.Helper()
	list, err := cluster.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func condition(d *appsv1.Deployment, t appsv1.DeploymentConditionType) (appsv1.DeploymentCondition, bool) {
	for _, c := range d.Status.Conditions {
		if c.Type == t {
			return c, true
		}
	}
	return appsv1.DeploymentCondition{}, false
}

// waitStalled waits until the Deployment controller gives up on the
// rollout of name (Progressing False, ProgressDeadlineExceeded) and checks
// that wantAvailable replicas are available.
func waitStalled(t *testing.T, ns, name string, wantAvailable int32) {
	t.Helper()
	var d *appsv1.Deployment
	waitLong(t, name+" ProgressDeadlineExceeded", func() (bool, error) {
		var err error
		d, err = cluster.Client.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		c, ok := condition(d, appsv1.DeploymentProgressing)
		return ok && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded", nil
	})
	if d.Status.AvailableReplicas != wantAvailable {
		t.Errorf("%s: %s; want %d available", name, deploymentStatus(d), wantAvailable)
	}
}

// Pods that ask for NeverReady run and stay unready for as long as one
// looks (10 seconds here, while their well-behaved twin became Ready), and
// their Deployment is never available.
func TestNeverReadyPodsRunButAreNeverReady(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := namespace(t, "never-ready")
	apps := cluster.Client.AppsV1().Deployments(ns)
	for _, d := range []*appsv1.Deployment{deployment(ns, "twin", "twin:1", 4), misbehaving(ns, "bad", 4, NeverReady)} {
		if _, err := apps.Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := cluster.WaitDeploymentAvailable(ctx, ns, "twin", time.Minute); err != nil {
		t.Fatal(err)
	}
	waitLong(t, "the bad pods running", func() (bool, error) {
		ps := pods(t, ns, "bad")
		running := 0
		for _, p := range ps {
			if p.Status.Phase == corev1.PodRunning && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Running != nil {
				running++
			}
		}
		return running == 4, nil
	})
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		for _, p := range pods(t, ns, "bad") {
			if podReady(&p) || p.Status.ContainerStatuses[0].Ready {
				t.Fatalf("pod %s became Ready: %+v", p.Name, p.Status)
			}
		}
	}
	waitStalled(t, ns, "bad", 0)
	d, err := apps.Get(ctx, "bad", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := condition(d, appsv1.DeploymentAvailable); c.Status != corev1.ConditionFalse || d.Status.UnavailableReplicas != 4 {
		t.Errorf("bad: %s; want Available False", deploymentStatus(d))
	}
	if err := cluster.WaitDeploymentAvailable(ctx, ns, "bad", time.Second); err == nil {
		t.Error("WaitDeploymentAvailable(bad) = nil, want an error")
	} else {
		t.Logf("WaitDeploymentAvailable(bad): %v", err)
	}
}

// Pods that ask for CrashLoop or OOMKilled wait in CrashLoopBackOff with
// the last termination's reason, and their restartCount keeps going up.
func TestCrashingPodsRestartOverAndOver(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		behaviour Behaviour
		reason    string
		exitCode  int32
	}{
		{CrashLoop, "Error", 1},
		{OOMKilled, "OOMKilled", 137},
	} {
		t.Run(string(tc.behaviour), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			ns := namespace(t, "behaviour-"+string(tc.behaviour))
			if _, err := cluster.Client.AppsV1().Deployments(ns).Create(ctx, misbehaving(ns, "bad", 2, tc.behaviour), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			// restartCount of each pod when first seen crashing.
			first := map[string]int32{}
			check := func(p *corev1.Pod) (int32, error) {
				if len(p.Status.ContainerStatuses) != 1 {
					return 0, fmt.Errorf("pod %s: no container status yet", p.Name)
				}
				s := p.Status.ContainerStatuses[0]
				last := s.LastTerminationState.Terminated
				if s.State.Waiting == nil || s.State.Waiting.Reason != "CrashLoopBackOff" || last == nil {
					return 0, fmt.Errorf("pod %s: state %+v, last state %+v; want waiting in CrashLoopBackOff after a termination", p.Name, s.State, s.LastTerminationState)
				}
				if last.Reason != tc.reason || last.ExitCode != tc.exitCode || s.Ready || podReady(p) {
					t.Fatalf("pod %s: last termination %s (exit %d), ready %v; want %s (exit %d), not ready", p.Name, last.Reason, last.ExitCode, s.Ready, tc.reason, tc.exitCode)
				}
				return s.RestartCount, nil
			}
			waitLong(t, "both pods crashing", func() (bool, error) {
				for _, p := range pods(t, ns, "bad") {
					n, err := check(&p)
					if err != nil {
						return false, err
					}
					if _, ok := first[p.Name]; !ok {
						first[p.Name] = n
					}
				}
				return len(first) == 2, nil
			})
			waitLong(t, "restartCount up by 2 in each pod", func() (bool, error) {
				for _, p := range pods(t, ns, "bad") {
					n, err := check(&p)
					if err != nil {
						return false, err
					}
					if n < first[p.Name]+2 {
						return false, fmt.Errorf("pod %s restartCount %d, first seen %d", p.Name, n, first[p.Name])
					}
				}
				return true, nil
			})
			waitStalled(t, ns, "bad", 0)
		})
	}
}

// A release whose image tag names a behaviour is a bad release: the new
// ReplicaSet's pod crashes, the old pods stay available, and the rollout
// stalls at revision 2, as a real one does.
func TestABadImageTagStallsTheRollout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := namespace(t, "bad-release")
	apps := cluster.Client.AppsV1().Deployments(ns)
	d := deployment(ns, "web", "web:1", 2)
	d.Spec.ProgressDeadlineSeconds = ptr.To(int32(10))
	if _, err := apps.Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cluster.WaitDeploymentAvailable(ctx, ns, "web", time.Minute); err != nil {
		t.Fatal(err)
	}
	patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"web:%s"}]}}}}`, CrashLoop)
	if _, err := apps.Patch(ctx, "web", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitStalled(t, ns, "web", 2)
	var crashing int
	for _, p := range pods(t, ns, "web") {
		s := p.Status.ContainerStatuses
		if len(s) != 1 {
			t.Fatalf("pod %s: container statuses %+v", p.Name, s)
		}
		if s[0].Image == "web:crashloop" {
			if s[0].State.Waiting == nil || s[0].State.Waiting.Reason != "CrashLoopBackOff" {
				t.Errorf("pod %s of the bad release: state %+v, want CrashLoopBackOff", p.Name, s[0].State)
			}
			crashing++
		} else if !podReady(&p) {
			t.Errorf("pod %s of the good release is not Ready", p.Name)
		}
	}
	if crashing == 0 {
		t.Error("no pod of the bad release")
	}
	d, err := apps.Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Status.UpdatedReplicas != 1 || d.Annotations["deployment.kubernetes.io/revision"] != "2" {
		t.Errorf("web: %s, revision %s; want 1 updated replica of revision 2", deploymentStatus(d), d.Annotations["deployment.kubernetes.io/revision"])
	}
}
