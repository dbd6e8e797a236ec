// Command floortail breaks the alert-to-patch floor down: on a fresh
// envtest API server and etcd it times, one after the other, N of each of
// an etcd put (its JSON gateway), a kube-apiserver request that touches no
// storage (GET /version), a quorum read (GET of a ConfigMap), and the
// floor's three writes (create a ConfigMap, update it, patch a Deployment),
// and prints p50/p90/p99/max of each, with the API server's GC pauses. It
// is how docs/performance.md's account of the floor's tail was found.
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/alertmedic/alertmedic/internal/testcluster"
)

func main() {
	n := flag.Int("n", 300, "requests of each kind")
	profile := flag.String("apiserver-cpuprofile", "", "write the API server's CPU profile of the timed loop (its first 10 s) here")
	flag.Parse()
	if err := run(*n, *profile); err != nil {
		fmt.Fprintln(os.Stderr, "floortail:", err)
		os.Exit(1)
	}
}

func run(n int, profile string) error {
	c, err := testcluster.Start()
	if err != nil {
		return err
	}
	defer c.Stop()
	ctx := context.Background()
	k := c.Client
	ns := "floor"
	if _, err := k.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	one := int32(1)
	for i := range n {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("app-%d", i), Namespace: ns},
			Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}}}
		if _, err := k.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	gcBefore := gcPauses(ctx, c)
	profiled := make(chan error, 1)
	if profile != "" {
		go func() {
			raw, err := k.Discovery().RESTClient().Get().AbsPath("/debug/pprof/profile").Param("seconds", "10").Timeout(30 * time.Second).DoRaw(ctx)
			if err == nil {
				err = os.WriteFile(profile, raw, 0o644)
			}
			profiled <- err
		}()
	} else {
		profiled <- nil
	}
	etcd := c.EtcdURL()
	times := map[string][]time.Duration{}
	order := []string{"etcd put", "GET /version", "GET configmap (quorum read)", "create configmap", "update configmap", "patch deployment", "floor (create+update+patch)"}
	timed := func(what string, f func() error) error {
		start := time.Now()
		err := f()
		times[what] = append(times[what], time.Since(start))
		return err
	}
	for i := range n {
		if err := timed("etcd put", func() error {
			body, _ := json.Marshal(map[string]string{"key": base64.StdEncoding.EncodeToString([]byte("/floortail/" + strconv.Itoa(i))), "value": base64.StdEncoding.EncodeToString([]byte("x"))})
			resp, err := http.Post(etcd.String()+"/v3/kv/put", "application/json", bytes.NewReader(body))
			if err != nil {
				return err
			}
			resp.Body.Close()
			return nil
		}); err != nil {
			return err
		}
		if err := timed("GET /version", func() error { _, err := k.Discovery().ServerVersion(); return err }); err != nil {
			return err
		}
		floorStart := time.Now()
		var cm *corev1.ConfigMap
		if err := timed("create configmap", func() (err error) {
			cm, err = k.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("floor-%d", i)}}, metav1.CreateOptions{})
			return err
		}); err != nil {
			return err
		}
		cm.Data = map[string]string{"phase": "Running"}
		if err := timed("update configmap", func() error {
			_, err := k.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{})
			return err
		}); err != nil {
			return err
		}
		patch := []byte(`{"spec":{"template":{"metadata":{"annotations":{"floor":"` + strconv.Itoa(i) + `"}}}}}`)
		if err := timed("patch deployment", func() error {
			_, err := k.AppsV1().Deployments(ns).Patch(ctx, fmt.Sprintf("app-%d", i), types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			return err
		}); err != nil {
			return err
		}
		times["floor (create+update+patch)"] = append(times["floor (create+update+patch)"], time.Since(floorStart))
		if err := timed("GET configmap (quorum read)", func() error {
			_, err := k.CoreV1().ConfigMaps(ns).Get(ctx, cm.Name, metav1.GetOptions{})
			return err
		}); err != nil {
			return err
		}
	}
	fmt.Printf("%-30s %8s %8s %8s %8s   (n=%d each, ms)\n", "request", "p50", "p90", "p99", "max", n)
	for _, what := range order {
		d := times[what]
		slices.Sort(d)
		q := func(p float64) string {
			return fmt.Sprintf("%.1f", float64(d[int(float64(len(d)-1)*p)].Microseconds())/1000)
		}
		fmt.Printf("%-30s %8s %8s %8s %8s\n", what, q(0.5), q(0.9), q(0.99), q(1))
	}
	gcAfter := gcPauses(ctx, c)
	if err := <-profiled; err != nil {
		return fmt.Errorf("API server CPU profile: %w", err)
	}
	fmt.Printf("kube-apiserver GC during the run: %.0f cycles, %.1f ms of stop-the-world pauses in all\n", gcAfter[1]-gcBefore[1], (gcAfter[0]-gcBefore[0])*1000)
	return nil
}

// gcPauses is the API server's go_gc_duration_seconds sum and count.
func gcPauses(ctx context.Context, c *testcluster.Cluster) [2]float64 {
	raw, err := c.Client.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return [2]float64{}
	}
	var out [2]float64
	for line := range strings.SplitSeq(string(raw), "\n") {
		for i, name := range []string{"go_gc_duration_seconds_sum ", "go_gc_duration_seconds_count "} {
			if v, ok := strings.CutPrefix(line, name); ok {
				out[i], _ = strconv.ParseFloat(strings.TrimSpace(v), 64)
			}
		}
	}
	return out
}
