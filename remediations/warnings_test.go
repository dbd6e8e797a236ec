package remediations_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
)

// Warnings reads the Warning Events of a Deployment, its ReplicaSets and
// their pods (a pod already deleted too), newest first, alike ones counted
// together, and leaves out Normal Events, Events of other workloads (one
// whose name starts alike included) and Events last seen before since.
func TestWarnings(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	d := createDeployment(t, ns, "web", 1, "web:1")
	createDeployment(t, ns, "web-api", 1, "web:1")
	rss, err := clientset().AppsV1().ReplicaSets(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil || len(rss.Items) != 1 {
		t.Fatalf("ReplicaSets of web: %v, %v", rss, err)
	}
	rs := rss.Items[0].Name
	// The Events here are dated after since, an hour ahead: what the
	// cluster itself reports meanwhile (FailedScheduling while its node
	// starts) is before it, and left out.
	since := time.Now().Add(time.Hour).Truncate(time.Second)
	n := 0
	event := func(kind, name, typ, reason, msg string, count int32, last time.Time) {
		t.Helper()
		n++
		_, err := clientset().CoreV1().Events(ns).Create(t.Context(), &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: fmt.Sprintf("ev-%d", n), Namespace: ns},
			InvolvedObject: corev1.ObjectReference{Kind: kind, Namespace: ns, Name: name},
			Type:           typ, Reason: reason, Message: msg, Count: count,
			FirstTimestamp: metav1.NewTime(last.Add(-time.Minute)), LastTimestamp: metav1.NewTime(last),
			Source: corev1.EventSource{Component: "kubelet"},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	at := func(s int) time.Time { return since.Add(time.Duration(s) * time.Second) }
	event("Pod", rs+"-aaaaa", "Warning", "BackOff", "Back-off restarting failed container", 7, at(10))
	event("Pod", rs+"-bbbbb", "Warning", "BackOff", "Back-off restarting failed container", 5, at(12)) // deleted pod: no such pod now
	event("Pod", rs+"-aaaaa", "Warning", "Unhealthy", "Readiness probe failed: 503", 3, at(8))
	event("ReplicaSet", rs, "Warning", "FailedCreate", `pods "x" is forbidden: exceeded quota`, 1, at(5))
	event("Deployment", "web", "Warning", "ProgressDeadline", "stalled", 1, at(1))
	event("Pod", rs+"-aaaaa", "Normal", "Pulled", "Container image pulled", 1, at(20))
	event("Pod", "web-api-5d8f7c9b4-zzzzz", "Warning", "BackOff", "Back-off restarting failed container", 9, at(30))
	event("Pod", rs+"-ccccc", "Warning", "BackOff", "Back-off restarting failed container", 100, since.Add(-time.Second)) // before since
	event("Deployment", "web", "Warning", "A", "six", 1, at(2))
	event("Deployment", "web", "Warning", "B", "seven", 1, at(0))

	got, err := executor(t, medic()).Warnings(t.Context(), v1alpha1.Target{Kind: v1alpha1.KindDeployment, Namespace: ns, Name: d.Name}, since)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"BackOff (x12, Pod/" + rs + "-bbbbb and 1 more): Back-off restarting failed container",
		"Unhealthy (x3, Pod/" + rs + "-aaaaa): Readiness probe failed: 503",
		"FailedCreate (ReplicaSet/" + rs + `): pods "x" is forbidden: exceeded quota`,
		"A (Deployment/web): six",
		"ProgressDeadline (Deployment/web): stalled",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Warnings =\n%q\nwant\n%q", got, want)
	}
}
