package testcluster

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Behaviour is how kwok plays a pod on a full cluster's fake nodes instead
// of making it Ready: a pod asks for one with the BehaviourLabel, or with
// an image whose tag is the behaviour's name ("web:crashloop"), so that
// "kubectl set image" can make a bad release. The stages are in stages/.
type Behaviour string

// BehaviourLabel is the pod label that names a pod's Behaviour. Put it in
// a workload's pod template, not in its selector.
const BehaviourLabel = "alertmedic.io/test-behaviour"

const (
	// NeverReady pods run but never become Ready (a readiness probe that
	// keeps failing); a Deployment of them is never available.
	NeverReady Behaviour = "never-ready"
	// CrashLoop pods wait in CrashLoopBackOff, their restartCount going up
	// by one every 2 seconds, the last state a termination with exit code 1.
	CrashLoop Behaviour = "crashloop"
	// OOMKilled pods are killed for memory over and over: as CrashLoop,
	// with the last state a termination with reason OOMKilled (exit 137).
	OOMKilled Behaviour = "oomkilled"
	// JobFail pods of a Job fail once they run: their containers exit with
	// code 1 (reason Error) and the pod is Failed. Without it a Job's pods
	// succeed (kwok's pod-complete stage).
	JobFail Behaviour = "job-fail"
)

// WaitDeploymentAvailable waits up to timeout until the Deployment has
// rolled out, as "kubectl rollout status" sees it: its controller has
// observed the current generation, every replica runs the current template,
// no old replica is left and every one is available. The error says what
// the Deployment's status was when time ran out.
func (c *Cluster) WaitDeploymentAvailable(ctx context.Context, namespace, name string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		d, err := c.Client.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
		if err == nil && deploymentAvailable(d) {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			if err != nil {
				return fmt.Errorf("deployment %s/%s not available after %s: %w", namespace, name, timeout, err)
			}
			return fmt.Errorf("deployment %s/%s not available after %s: %s", namespace, name, timeout, deploymentStatus(d))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func deploymentAvailable(d *appsv1.Deployment) bool {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == want &&
		s.Replicas == want && s.AvailableReplicas == want
}

// deploymentStatus is a Deployment's status in one line, for errors.
func deploymentStatus(d *appsv1.Deployment) string {
	s := d.Status
	out := fmt.Sprintf("generation %d observed %d, replicas %d updated %d ready %d available %d unavailable %d",
		d.Generation, s.ObservedGeneration, s.Replicas, s.UpdatedReplicas, s.ReadyReplicas, s.AvailableReplicas, s.UnavailableReplicas)
	for _, c := range s.Conditions {
		out += fmt.Sprintf("; %s=%s (%s: %s)", c.Type, c.Status, c.Reason, c.Message)
	}
	return out
}
