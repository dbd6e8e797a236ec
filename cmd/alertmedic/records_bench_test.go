package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/engine/ingest"
	"github.com/alertmedic/alertmedic/internal/kube"
	"github.com/alertmedic/alertmedic/internal/testcluster"
)

// finishedRecord is a restart alertmedic ran and verified, with what a
// kube-state-metrics alert carries: the shape of most retained records.
func finishedRecord(ns, name string, now time.Time) *v1alpha1.Remediation {
	at := metav1.NewTime(now)
	micro := metav1.NewMicroTime(now)
	labels := map[string]string{"alertname": "KubePodCrashLooping", "namespace": "shop", "deployment": "web",
		"severity": "critical", "container": "app", "pod": "web-7d9f8b6c5-x2x4q", "job": "kube-state-metrics",
		"instance": "10.0.0.1:8080", "cluster": "prod-eu-1"}
	return &v1alpha1.Remediation{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns,
			Labels: map[string]string{v1alpha1.LabelRule: "restart-crashlooping", v1alpha1.LabelAlert: "KubePodCrashLooping",
				v1alpha1.LabelTarget: v1alpha1.TargetLabel(v1alpha1.KindDeployment, "shop", "web")},
			Annotations: map[string]string{v1alpha1.AnnotationRecordedAt: now.Format(time.RFC3339Nano)}},
		Spec: v1alpha1.RemediationSpec{
			Rule: "restart-crashlooping", Action: v1alpha1.ActionRestart,
			Target:    v1alpha1.Target{Kind: v1alpha1.KindDeployment, Namespace: "shop", Name: "web"},
			TargetRef: "Deployment/shop/web",
			Alert: v1alpha1.AlertRef{Name: "KubePodCrashLooping", Fingerprint: "3f1c9a0d2b7e4c55", StartsAt: micro, Labels: labels,
				Summary:      "Pod shop/web-7d9f8b6c5-x2x4q (app) is in waiting state (reason: CrashLoopBackOff).",
				Description:  "Pod shop/web-7d9f8b6c5-x2x4q (app) is restarting 1.05 times / 10 minutes.",
				GeneratorURL: "http://prometheus:9090/graph?g0.expr=max_over_time%28kube_pod_container_status_waiting_reason%7Breason%3D%22CrashLoopBackOff%22%7D%5B5m%5D%29+%3E%3D+1&g0.tab=1",
				RunbookURL:   "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubepodcrashlooping"},
			Verify: &v1alpha1.VerifySpec{Rollout: &v1alpha1.RolloutCheck{Timeout: metav1.Duration{Duration: 10 * time.Minute}}},
		},
		Status: v1alpha1.RemediationStatus{
			Phase: v1alpha1.PhaseSucceeded, Reason: "Restarted", Message: "rollout restart of Deployment/shop/web; 2/2 ready",
			StartedAt: &at, FinishedAt: &at, ExecutedBy: "alertmedic-6c9f7d8b5-q2xzt", Attempts: 1,
			Result: &v1alpha1.ActionResult{Outcome: "Succeeded", Reason: "Restarted", Before: "restartedAt=", After: "restartedAt=" + now.Format(time.RFC3339)},
			Write: &v1alpha1.Write{Attempt: 1, UID: string(uuid.NewUUID()), Generation: 3, RestartedAt: now.Format(time.RFC3339),
				Before: "restartedAt=", After: "restartedAt=" + now.Format(time.RFC3339)},
			Verification: &v1alpha1.Verification{StartedAt: micro, LastCheckedAt: &micro,
				Rollout: &v1alpha1.CheckStatus{Deadline: metav1.NewMicroTime(now.Add(10 * time.Minute)), PassedAt: &micro,
					Observed: "2/2 ready, 2 updated, 2 available"}},
		},
	}
}

// putRecords clones rec n times straight into etcd (through its JSON
// gateway, 100 to a transaction), as the API server stores records; the
// API server's watch of etcd sees them as any other write. Through the API
// server, each would be a create and a status update.
func putRecords(t testing.TB, rec *v1alpha1.Remediation, n int) {
	t.Helper()
	type put struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	}
	type op struct {
		RequestPut put `json:"requestPut"`
	}
	for start := 0; start < n; start += 100 {
		var ops []op
		for i := start; i < min(start+100, n); i++ {
			r := rec.DeepCopy()
			r.TypeMeta = metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "Remediation"}
			r.Name, r.UID, r.Generation, r.CreationTimestamp = ingest.RecordName(fmt.Sprintf("retained|%d", i)), uuid.NewUUID(), 1, metav1.Now()
			value, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			key := "/registry/alertmedic.io/remediations/" + r.Namespace + "/" + r.Name
			ops = append(ops, op{put{base64.StdEncoding.EncodeToString([]byte(key)), base64.StdEncoding.EncodeToString(value)}})
		}
		body, err := json.Marshal(map[string]any{"success": ops})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Post(strings.TrimSuffix(cluster.EtcdURL().String(), "/")+"/v3/kv/txn", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("etcd txn answered %s: %s", resp.Status, answer)
		}
	}
}

// BenchmarkRecordsHeap: the heap of serve, run in this process as the
// binary runs it, holding ALERTMEDIC_BENCH_RECORDS (default 10,000)
// finished records, ready and leading, 3 s after it leads (as the bench
// driver measures RSS). It reports the live heap after a GC, the heap the
// runtime held before that GC (what GOGC let grow), and their difference
// per record; with ALERTMEDIC_HEAP_PROFILE set it writes the heap profile
// (inuse) to that path.
func BenchmarkRecordsHeap(b *testing.B) {
	n := 10000
	if v := os.Getenv("ALERTMEDIC_BENCH_RECORDS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	ns := recordsNamespace(b)
	rules := restartRules(b, "")
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	putRecords(b, finishedRecord(ns, "template", time.Now()), n)
	var list v1alpha1.RemediationList
	waitFor(b, "the API server serves every record", func() bool {
		if err := cluster.Records.List(b.Context(), &list, kube.InNamespace(ns), kube.Limit(1)); err != nil {
			return false
		}
		if n == 0 {
			return len(list.Items) == 0
		}
		return list.RemainingItemCount != nil && *list.RemainingItemCount+1 == int64(n)
	})
	list = v1alpha1.RemediationList{}
	runtime.GC()
	runtime.ReadMemStats(&base)

	s := startServe(b, kubeconfig(b), "--rules", rules, "--log.level", "warn")
	// The replica leads once its cache has listed every record: some 0.4 ms
	// a record here (docs/performance.md), so 20 s at 50,000.
	leadWithin := max(30*time.Second, time.Duration(n)*2*time.Millisecond)
	testcluster.WaitWithin(b, leadWithin, "leadership", func() bool { return metricValue(b, s, "alertmedic_leader") == "1" })
	time.Sleep(3 * time.Second) // the driver's measuring point: not a synchronisation
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	runtime.GC()
	runtime.ReadMemStats(&after)
	writeHeapProfile(b)
	for b.Loop() {
		runtime.KeepAlive(s)
	}
	mb := func(v uint64) float64 { return float64(v) / (1 << 20) }
	b.ReportMetric(mb(after.HeapInuse), "MB-heap-live")
	b.ReportMetric(mb(before.HeapInuse), "MB-heap-before-gc")
	b.ReportMetric(mb(after.HeapSys-after.HeapReleased), "MB-heap-held")
	if n > 0 {
		b.ReportMetric(float64(int64(after.HeapInuse)-int64(base.HeapInuse))/float64(n)/1024, "KB-live/record")
	}
}
