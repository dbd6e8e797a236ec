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
	"k8s.io/client-go/rest"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/kube"
)

// alertmedic_approvals_waiting counts the records of its namespace in
// PendingApproval at each scrape: not the ones approved, denied or of
// another namespace; one decided leaves the count.
func TestApprovalsWaitingGauge(t *testing.T) {
	ns, other := cluster.Namespace(t, "records"), cluster.Namespace(t, "records")
	c := cluster.NewClient(t, nil)
	reg := prometheus.NewRegistry()
	if err := RegisterWaiting(t.Context(), reg, c, false, ns); err != nil {
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
	if _, err := Decide(t.Context(), c, kube.ObjectKeyFromObject(waitingA), false, "kubernetes:alice", t0); err != nil {
		t.Fatal(err)
	}
	want("1")
}

// The same from a replica's cache indexed by phase, as serve runs it: a
// scrape reads the waiting records alone, and follows their changes.
func TestApprovalsWaitingGaugeFromAnIndexedCache(t *testing.T) {
	ns := cluster.Namespace(t, "records")
	c := cluster.NewClient(t, nil)
	reg, _ := indexedGauge(t, cluster.Config, ns)
	gauge := func() string {
		mfs, err := reg.Gather()
		if err != nil || len(mfs) != 1 || len(mfs[0].Metric) != 1 {
			return "none"
		}
		return fmt.Sprint(mfs[0].Metric[0].GetGauge().GetValue())
	}
	eventually := func(want string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for gauge() != want {
			if time.Now().After(deadline) {
				t.Fatalf("alertmedic_approvals_waiting = %s, want %s", gauge(), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	eventually("0")
	waitingA := put(t, c, ns, restartRecord("rem-a", ns, "web"), v1alpha1.RemediationStatus{Phase: v1alpha1.PhasePendingApproval})
	put(t, c, ns, restartRecord("rem-b", ns, "web"), v1alpha1.RemediationStatus{Phase: v1alpha1.PhasePendingApproval})
	put(t, c, ns, restartRecord("rem-c", ns, "web"), v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseApproved})
	put(t, c, ns, restartRecord("rem-d", ns, "web"), v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseSucceeded})
	eventually("2")
	if _, err := Decide(t.Context(), c, kube.ObjectKeyFromObject(waitingA), false, "kubernetes:alice", t0); err != nil {
		t.Fatal(err)
	}
	eventually("1")
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
	reg, cc := indexedGauge(b, cluster.Config, ns)
	var list v1alpha1.RemediationList
	for {
		if err := cc.List(b.Context(), &list, kube.InNamespace(ns)); err == nil && len(list.Items) == 2000 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}

// A scrape does not wait for the records' cache to sync: a replica with
// tens of thousands of records lists them for tens of seconds at start,
// and Prometheus' scrape would time out, losing every metric with it.
// Until the cache answers, the gauge is left out of the scrape.
func TestApprovalsWaitingGaugeDoesNotWaitForTheCache(t *testing.T) {
	ns := cluster.Namespace(t, "records")
	// A user who may not list records: the cache starts and never syncs,
	// as a cache still listing 50,000 records has not.
	cfg := rest.CopyConfig(cluster.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "nobody"}
	reg, _ := indexedGauge(t, cfg, ns)
	done := make(chan error, 1)
	go func() {
		mfs, err := reg.Gather()
		if err == nil && len(mfs) != 0 {
			err = fmt.Errorf("gathered %d metric families, want none while the cache has not synced", len(mfs))
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a scrape waited 10 s for a cache that has not synced")
	}
}

// indexedGauge registers the gauge, as serve does, on a cache of ns's
// records reading as cfg's user, indexed by phase, and starts the cache
// until the test ends.
func indexedGauge(t testing.TB, cfg *rest.Config, ns string) (*prometheus.Registry, *kube.Cache) {
	t.Helper()
	c, err := kube.New(cfg, kube.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := kube.NewCache(c, &v1alpha1.Remediation{}, &v1alpha1.RemediationList{}, kube.CacheOptions{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	reg := prometheus.NewRegistry()
	if err := IndexByPhase(ctx, cc); err != nil {
		t.Fatal(err)
	}
	if err := RegisterWaiting(ctx, reg, cc, true, ns); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cc.Start(ctx) }()
	return reg, cc
}
