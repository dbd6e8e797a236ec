package deploy

import (
	"fmt"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/remediations"
)

// The actions themselves — remediations.Executor, what alertmedic runs —
// performed as the ServiceAccount under the manifests' RBAC.

// executorAction is one real action on the workloads of a namespace and the
// effect it must have, read back as the cluster admin.
type executorAction struct {
	name   string
	req    func(w *workloads) remediations.Request
	effect func(t *testing.T, w *workloads) error
}

func target(kind v1alpha1.Kind, ns, name string) v1alpha1.Target {
	return v1alpha1.Target{Kind: kind, Namespace: ns, Name: name}
}

func request(a v1alpha1.Action, tg v1alpha1.Target) remediations.Request {
	return remediations.Request{Action: a, Target: tg, Rule: "deploy-test", AlertName: "DeployTest", Fingerprint: "d3p10y7e57"}
}

var executorActions = []executorAction{
	{"restart Deployment", func(w *workloads) remediations.Request {
		return request(v1alpha1.ActionRestart, target(v1alpha1.KindDeployment, w.ns, w.deployment.Name))
	}, func(t *testing.T, w *workloads) error {
		d, err := cluster.Client.AppsV1().Deployments(w.ns).Get(t.Context(), w.deployment.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		return hasRestartedAt(d.Spec.Template.Annotations)
	}},
	{"restart StatefulSet", func(w *workloads) remediations.Request {
		return request(v1alpha1.ActionRestart, target(v1alpha1.KindStatefulSet, w.ns, w.statefulSet.Name))
	}, func(t *testing.T, w *workloads) error {
		s, err := cluster.Client.AppsV1().StatefulSets(w.ns).Get(t.Context(), w.statefulSet.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		return hasRestartedAt(s.Spec.Template.Annotations)
	}},
	{"restart DaemonSet", func(w *workloads) remediations.Request {
		return request(v1alpha1.ActionRestart, target(v1alpha1.KindDaemonSet, w.ns, w.daemonSet.Name))
	}, func(t *testing.T, w *workloads) error {
		d, err := cluster.Client.AppsV1().DaemonSets(w.ns).Get(t.Context(), w.daemonSet.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		return hasRestartedAt(d.Spec.Template.Annotations)
	}},
	{"scale Deployment to 5", func(w *workloads) remediations.Request {
		r := request(v1alpha1.ActionScale, target(v1alpha1.KindDeployment, w.ns, w.deployment.Name))
		r.Scale = &v1alpha1.ScaleParams{Op: v1alpha1.ScaleTo, N: 5}
		return r
	}, func(t *testing.T, w *workloads) error {
		d, err := cluster.Client.AppsV1().Deployments(w.ns).Get(t.Context(), w.deployment.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if *d.Spec.Replicas != 5 {
			return fmt.Errorf("replicas = %d, want 5", *d.Spec.Replicas)
		}
		return nil
	}},
	{"scale StatefulSet by +2", func(w *workloads) remediations.Request {
		r := request(v1alpha1.ActionScale, target(v1alpha1.KindStatefulSet, w.ns, w.statefulSet.Name))
		r.Scale = &v1alpha1.ScaleParams{Op: v1alpha1.ScaleBy, N: 2}
		return r
	}, func(t *testing.T, w *workloads) error {
		s, err := cluster.Client.AppsV1().StatefulSets(w.ns).Get(t.Context(), w.statefulSet.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if *s.Spec.Replicas != 3 {
			return fmt.Errorf("replicas = %d, want 1+2", *s.Spec.Replicas)
		}
		return nil
	}},
	{"roll back Deployment to the previous revision", func(w *workloads) remediations.Request {
		return request(v1alpha1.ActionRollback, target(v1alpha1.KindDeployment, w.ns, w.deployment.Name))
	}, func(t *testing.T, w *workloads) error {
		d, err := cluster.Client.AppsV1().Deployments(w.ns).Get(t.Context(), w.deployment.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		return hasImage(d.Spec.Template.Spec.Containers[0].Image)
	}},
	{"roll back StatefulSet to the previous revision", func(w *workloads) remediations.Request {
		return request(v1alpha1.ActionRollback, target(v1alpha1.KindStatefulSet, w.ns, w.statefulSet.Name))
	}, func(t *testing.T, w *workloads) error {
		s, err := cluster.Client.AppsV1().StatefulSets(w.ns).Get(t.Context(), w.statefulSet.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		return hasImage(s.Spec.Template.Spec.Containers[0].Image)
	}},
	{"evict a Deployment's Pod", func(w *workloads) remediations.Request {
		return request(v1alpha1.ActionEvictPod, target(v1alpha1.KindPod, w.ns, w.pod.Name))
	}, func(t *testing.T, w *workloads) error {
		p, err := cluster.Client.CoreV1().Pods(w.ns).Get(t.Context(), w.pod.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) || err == nil && p.DeletionTimestamp != nil {
			return nil
		}
		return fmt.Errorf("pod still there (%v)", err)
	}},
	{"run a Job from a CronJob", func(w *workloads) remediations.Request {
		r := request(v1alpha1.ActionRunJob, target(v1alpha1.KindCronJob, w.ns, w.cronJob.Name))
		r.Record = "rem-deploytest"
		return r
	}, func(t *testing.T, w *workloads) error {
		_, err := cluster.Client.BatchV1().Jobs(w.ns).Get(t.Context(), remediations.JobName(w.cronJob.Name, "rem-deploytest"), metav1.GetOptions{})
		return err
	}},
	{"roll back DaemonSet to the previous revision", func(w *workloads) remediations.Request {
		return request(v1alpha1.ActionRollback, target(v1alpha1.KindDaemonSet, w.ns, w.daemonSet.Name))
	}, func(t *testing.T, w *workloads) error {
		d, err := cluster.Client.AppsV1().DaemonSets(w.ns).Get(t.Context(), w.daemonSet.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		return hasImage(d.Spec.Template.Spec.Containers[0].Image)
	}},
}

func hasRestartedAt(annotations map[string]string) error {
	if annotations["kubectl.kubernetes.io/restartedAt"] == "" {
		return fmt.Errorf("no kubectl.kubernetes.io/restartedAt annotation on the pod template")
	}
	return nil
}

func hasImage(got string) error {
	if got != imageV1 {
		return fmt.Errorf("image = %s, want revision 1's %s", got, imageV1)
	}
	return nil
}

// executorAsServiceAccount is the Executor alertmedic runs, acting as its
// ServiceAccount.
func executorAsServiceAccount(t *testing.T) *remediations.Executor {
	return remediations.NewExecutor(asServiceAccount(t).medic, remediations.Options{FieldManager: "alertmedic", Instance: "deploy-test"})
}

// expectActionsSucceed runs every action on w and checks its effect and the
// Event it leaves on its target.
func expectActionsSucceed(t *testing.T, exec *remediations.Executor, w *workloads) {
	t.Helper()
	for _, a := range executorActions {
		req := a.req(w)
		res, err := exec.Execute(t.Context(), req)
		if err != nil || res.Outcome != remediations.Succeeded {
			t.Errorf("%s in %s: outcome %s (%s: %s), err %v", a.name, w.ns, res.Outcome, res.Reason, res.Message, err)
			continue
		}
		if err := a.effect(t, w); err != nil {
			t.Errorf("%s in %s succeeded, but %v", a.name, w.ns, err)
		}
		// What verification reads afterwards: the target (the evicted
		// pod's owner), its newest ReplicaSet and the pods not ready
		// (nothing converges here, so every read is made); the Job.
		switch req.Action {
		case v1alpha1.ActionRunJob:
			if _, err := exec.JobStatus(t.Context(), w.ns, res.Job); err != nil {
				t.Errorf("%s in %s: job status: %v", a.name, w.ns, err)
			}
		case v1alpha1.ActionEvictPod:
			if res.Owner == nil || res.Owner.Name != w.deployment.Name {
				t.Errorf("%s in %s: owner %v, want the Deployment %s", a.name, w.ns, res.Owner, w.deployment.Name)
			} else if ro, err := exec.RolloutStatus(t.Context(), *res.Owner); err != nil || ro.Done {
				t.Errorf("%s in %s: rollout status of the owner %+v, err %v; want it read, not done", a.name, w.ns, ro, err)
			}
		default:
			if ro, err := exec.RolloutStatus(t.Context(), req.Target); err != nil || ro.Done {
				t.Errorf("%s in %s: rollout status %+v, err %v; want it read, not done", a.name, w.ns, ro, err)
			}
		}
		// The Warning Events verification reads: the target's, the evicted
		// pod's owner's; none for a Job (its failed pods are in its check).
		warned := &req.Target
		switch req.Action {
		case v1alpha1.ActionEvictPod:
			warned = res.Owner
		case v1alpha1.ActionRunJob:
			warned = nil
		}
		if warned != nil {
			if _, err := exec.Warnings(t.Context(), *warned, time.Time{}); err != nil {
				t.Errorf("%s in %s: Warning Events not read: %v", a.name, w.ns, err)
			}
		}
		evs, err := cluster.Client.CoreV1().Events(w.ns).List(t.Context(), metav1.ListOptions{
			FieldSelector: fmt.Sprintf("involvedObject.kind=%s,involvedObject.name=%s,reason=%s", req.Target.Kind, req.Target.Name, remediations.EventReason(req.Action)),
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs.Items) == 0 {
			t.Errorf("%s in %s: no %s Event on the target", a.name, w.ns, remediations.EventReason(req.Action))
		}
	}
}

// expectActionsForbidden runs every action on w and checks that each fails
// as Forbidden and changes nothing.
func expectActionsForbidden(t *testing.T, exec *remediations.Executor, w *workloads) {
	t.Helper()
	for _, a := range executorActions {
		res, err := exec.Execute(t.Context(), a.req(w))
		if !apierrors.IsForbidden(err) || res.Outcome != remediations.Failed || res.Reason != "Forbidden" {
			t.Errorf("%s in %s: outcome %s (%s), err %v; want Failed, Forbidden", a.name, w.ns, res.Outcome, res.Reason, err)
		}
	}
	apps := cluster.Client.AppsV1()
	d, err := apps.Deployments(w.ns).Get(t.Context(), w.deployment.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := apps.StatefulSets(w.ns).Get(t.Context(), w.statefulSet.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := apps.DaemonSets(w.ns).Get(t.Context(), w.daemonSet.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.ResourceVersion != w.deployment.ResourceVersion || s.ResourceVersion != w.statefulSet.ResourceVersion || ds.ResourceVersion != w.daemonSet.ResourceVersion {
		t.Errorf("workloads in %s changed although every action was forbidden", w.ns)
	}
}
