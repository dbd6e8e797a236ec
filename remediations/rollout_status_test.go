package remediations

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func i32(n int32) *int32 { return &n }

// The convergence rules of kubectl rollout status, one case each: a status
// not yet observed for the latest spec is never done, whatever its counts.
func TestRolloutStatusFollowsKubectl(t *testing.T) {
	dep := func(gen, observed int64, replicas, updated, total, available int32, conds ...appsv1.DeploymentCondition) *appsv1.Deployment {
		return &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Generation: gen},
			Spec:       appsv1.DeploymentSpec{Replicas: i32(replicas)},
			Status: appsv1.DeploymentStatus{ObservedGeneration: observed, UpdatedReplicas: updated, Replicas: total,
				AvailableReplicas: available, ReadyReplicas: available, Conditions: conds},
		}
	}
	sts := func(gen, observed int64, replicas, ready, updated int32, partition *int32, cur, upd string) *appsv1.StatefulSet {
		s := &appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Generation: gen},
			Spec:       appsv1.StatefulSetSpec{Replicas: i32(replicas), UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType}},
			Status: appsv1.StatefulSetStatus{ObservedGeneration: observed, ReadyReplicas: ready, UpdatedReplicas: updated,
				CurrentReplicas: ready, CurrentRevision: cur, UpdateRevision: upd},
		}
		if partition != nil {
			s.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: partition}
		}
		return s
	}
	ds := func(gen, observed int64, desired, updated, available int32) *appsv1.DaemonSet {
		return &appsv1.DaemonSet{
			ObjectMeta: metav1.ObjectMeta{Generation: gen},
			Spec:       appsv1.DaemonSetSpec{UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType}},
			Status: appsv1.DaemonSetStatus{ObservedGeneration: observed, DesiredNumberScheduled: desired,
				UpdatedNumberScheduled: updated, NumberAvailable: available, NumberReady: available},
		}
	}
	onDelete := sts(2, 2, 3, 3, 3, nil, "a", "a")
	onDelete.Spec.UpdateStrategy.Type = appsv1.OnDeleteStatefulSetStrategyType
	tests := []struct {
		name        string
		got         Rollout
		done, stuck bool
		status      string
	}{
		{"deployment: counts of the old spec are not the new spec's", deploymentRollout(dep(3, 2, 4, 4, 4, 4)), false, false, "to be observed"},
		{"deployment: new replicas not all updated", deploymentRollout(dep(3, 3, 4, 2, 5, 3)), false, false, "2 of 4 new replicas updated"},
		{"deployment: old replicas still terminating", deploymentRollout(dep(3, 3, 4, 4, 5, 4)), false, false, "1 old replicas pending termination"},
		{"deployment: updated replicas not all available", deploymentRollout(dep(3, 3, 4, 4, 4, 2)), false, false, "2 of 4 updated replicas available"},
		{"deployment: converged", deploymentRollout(dep(3, 3, 4, 4, 4, 4)), true, false, "successfully rolled out"},
		{"deployment: past its progress deadline is stuck", deploymentRollout(dep(3, 3, 4, 1, 5, 4,
			appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded", Message: "ReplicaSet web-1 has timed out progressing."})),
			false, true, "progress deadline"},
		{"statefulset: not observed", statefulSetRollout(sts(3, 2, 3, 3, 3, nil, "a", "a")), false, false, "to be observed"},
		{"statefulset: never observed", statefulSetRollout(sts(1, 0, 3, 3, 3, nil, "a", "a")), false, false, "to be observed"},
		{"statefulset: pods not ready", statefulSetRollout(sts(2, 2, 3, 1, 3, nil, "a", "b")), false, false, "waiting for 2 pods to be ready"},
		{"statefulset: revisions differ", statefulSetRollout(sts(2, 2, 3, 3, 1, nil, "a", "b")), false, false, "rolling update: 1 pods at revision b"},
		{"statefulset: converged", statefulSetRollout(sts(2, 2, 3, 3, 3, nil, "b", "b")), true, false, "rolling update complete"},
		{"statefulset: partition not reached", statefulSetRollout(sts(2, 2, 3, 3, 0, i32(1), "a", "b")), false, false, "0 of 2 new pods updated"},
		{"statefulset: partition reached", statefulSetRollout(sts(2, 2, 3, 3, 2, i32(1), "a", "b")), true, false, "partitioned roll out complete"},
		{"statefulset: OnDelete cannot be seen to finish", statefulSetRollout(onDelete), false, true, "OnDelete"},
		{"daemonset: not observed", daemonSetRollout(ds(2, 1, 3, 3, 3)), false, false, "to be observed"},
		{"daemonset: not all updated", daemonSetRollout(ds(2, 2, 3, 1, 3)), false, false, "1 of 3 new pods updated"},
		{"daemonset: updated pods unavailable", daemonSetRollout(ds(2, 2, 3, 3, 2)), false, false, "2 of 3 updated pods available"},
		{"daemonset: converged", daemonSetRollout(ds(2, 2, 3, 3, 3)), true, false, "successfully rolled out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got.Done != tt.done || tt.got.Stuck != tt.stuck || !strings.Contains(tt.got.Status, tt.status) {
				t.Errorf("rollout = %+v, want done %v, stuck %v, status containing %q", tt.got, tt.done, tt.stuck, tt.status)
			}
		})
	}
}

// Each reason a pod is not ready, as a responder reads it; ready and
// terminating pods are not mentioned.
func TestDiagnosePods(t *testing.T) {
	ready := corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue}
	notReady := corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse}
	unschedulable := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable",
		Message: "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."}
	waiting := func(reason string, restarts int32, last string) corev1.PodStatus {
		cs := corev1.ContainerStatus{Name: "app", RestartCount: restarts, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}
		if last != "" {
			cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{Reason: last}
		}
		return corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{notReady}, ContainerStatuses: []corev1.ContainerStatus{cs}}
	}
	gone := metav1.Now()
	pods := []corev1.Pod{
		{Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{unschedulable}}},
		{Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{unschedulable}}},
		{Status: waiting("CrashLoopBackOff", 7, "OOMKilled")},
		{Status: waiting("ImagePullBackOff", 0, "")},
		{Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{notReady}}},
		{Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{ready}}},
		{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &gone}, Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{notReady}}},
	}
	want := "2 Pending (Unschedulable: 0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.), " +
		"1 Running not ready, 1 Waiting (CrashLoopBackOff, 7 restarts, last OOMKilled), 1 Waiting (ImagePullBackOff)"
	if got := DiagnosePods(pods); got != want {
		t.Errorf("DiagnosePods =\n  %s\nwant\n  %s", got, want)
	}
}
