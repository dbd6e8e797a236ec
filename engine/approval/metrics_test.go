package approval

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
)

// alertmedic_approvals_waiting counts the records of its namespace in
// PendingApproval at each scrape: not the ones approved, denied or of
// another namespace; one decided leaves the count.
func TestApprovalsWaitingGauge(t *testing.T) {
	ns, other := cluster.Namespace(t, "records"), cluster.Namespace(t, "records")
	c := cluster.NewClient(t, nil)
	reg := prometheus.NewRegistry()
	if err := RegisterWaiting(t.Context(), reg, c, ns); err != nil {
		t.Fatal(err)
	}
	want := func(n string) {
		t.Helper()
		exp := "# HELP alertmedic_approvals_waiting Remediations waiting for a person's approval now (PendingApproval), as this replica's cache sees them.\n" +
			"# TYPE alertmedic_approvals_waiting gauge\nalertmedic_approvals_waiting " + n + "\n"
		if err := testutil.GatherAndCompare(reg, strings.NewReader(exp), "alertmedic_approvals_waiting"); err != nil {
			t.Error(err)
		}
	}
	want("0")
	waitingA := put(t, c, ns, restartRecord("rem-a", ns, "web"), v1alpha1.RemediationStatus{Phase: v1alpha1.PhasePendingApproval})
	put(t, c, ns, restartRecord("rem-b", ns, "web"), v1alpha1.RemediationStatus{Phase: v1alpha1.PhasePendingApproval})
	put(t, c, ns, restartRecord("rem-c", ns, "web"), v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseApproved})
	put(t, c, other, restartRecord("rem-d", other, "web"), v1alpha1.RemediationStatus{Phase: v1alpha1.PhasePendingApproval})
	want("2")
	if _, err := Decide(t.Context(), c, client.ObjectKeyFromObject(waitingA), false, "kubernetes:alice", t0); err != nil {
		t.Fatal(err)
	}
	want("1")
}

// BenchmarkApprovalsWaitingScrape: one scrape of the gauge over 2,000
// records in a replica's cache, as Prometheus makes it every 30 s or so.
// B/op is what a scrape allocates: with a copy of every record made for
// it, that grows with the records retained.
func BenchmarkApprovalsWaitingScrape(b *testing.B) {
	ns := cluster.Namespace(b, "records")
	c := cluster.NewClient(b, nil)
	for i := range 2000 {
		rec := restartRecord(fmt.Sprintf("rem-%d", i), ns, "web")
		rec.Namespace = ns
		rec.Spec.TargetRef = rec.Spec.Target.String()
		rec.Spec.Alert = v1alpha1.AlertRef{Name: "KubePodCrashLooping", Fingerprint: "0123456789abcdef", StartsAt: metav1.NewMicroTime(t0),
			Labels:      map[string]string{"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": fmt.Sprintf("web-%d", i)},
			Description: strings.Repeat("a description of the alert ", 10)}
		if err := c.Create(b.Context(), rec); err != nil {
			b.Fatal(err)
		}
	}
	cc, err := cache.New(cluster.Config, cache.Options{Scheme: cluster.Scheme, DefaultNamespaces: map[string]cache.Config{ns: {}}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	go func() { _ = cc.Start(ctx) }()
	var list v1alpha1.RemediationList
	for {
		if err := cc.List(ctx, &list, client.InNamespace(ns)); err == nil && len(list.Items) == 2000 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	reg := prometheus.NewRegistry()
	if err := RegisterWaiting(ctx, reg, cc, ns); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}
