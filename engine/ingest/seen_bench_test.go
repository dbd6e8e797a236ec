package ingest

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"
)

var episodeCounts = []int{1_000, 10_000, 100_000, 200_000}

// BenchmarkAcceptKnown is Alertmanager re-sending episodes this replica has
// recorded within the hour: one notification of one alert, out of n
// distinct episodes all remembered. Its cost must not grow with n. It
// reports the heap the remembered episodes take, per episode, and the
// resident memory they added to the process.
func BenchmarkAcceptKnown(b *testing.B) {
	for _, n := range episodeCounts {
		b.Run(fmt.Sprintf("episodes=%d", n), func(b *testing.B) {
			e := New(Options{Namespace: "bench", Rules: mustRules(b, testRules), SeenSize: n, Now: func() time.Time { return t0 }})
			msgs := make([]template.Alert, n)
			for i := range msgs {
				msgs[i] = alert("firing", "KubePodCrashLooping", map[string]string{"namespace": "shop", "deployment": "cart"}, t0.Add(-time.Duration(i)*time.Millisecond))
			}
			debug.FreeOSMemory()
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			rss0 := vmRSS(b)
			for i := range msgs {
				for _, m := range e.matches(e.Rules(), &msgs[i]) {
					e.remember(RecordName(EpisodeKey(m.Rule.Name, m.Target, &msgs[i])), t0)
				}
			}
			debug.FreeOSMemory()
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			heap, rss := float64(after.HeapAlloc-before.HeapAlloc)/float64(n), float64(vmRSS(b)-rss0)/(1<<20)
			msg := message()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				msg.Alerts = msgs[i%n : i%n+1]
				if err := e.Accept(b.Context(), msg); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(heap, "heap-B/episode")
			b.ReportMetric(rss, "RSS-MB-added")
			if e.seen.count() != n {
				b.Fatalf("remembered %d episodes, want %d", e.seen.count(), n)
			}
		})
	}
}

// BenchmarkRememberStorm is a storm of new episodes within the hour: with n
// remembered already, each op remembers one more (the size is n, so one is
// forgotten). Its cost must not grow with n.
func BenchmarkRememberStorm(b *testing.B) {
	for _, n := range episodeCounts {
		b.Run(fmt.Sprintf("episodes=%d", n), func(b *testing.B) {
			e := New(Options{Namespace: "bench", SeenSize: n})
			names := make([]string, n+b.N)
			for i := range names {
				names[i] = RecordName(strconv.Itoa(i))
			}
			for _, name := range names[:n] {
				e.remember(name, t0)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				now := t0.Add(time.Duration(i) * time.Microsecond)
				e.remember(names[n+i], now)
				if !e.seenRecently(names[n+i], now) {
					b.Fatal("just remembered, already forgotten")
				}
			}
		})
	}
}

// vmRSS is the process's resident memory in bytes, from /proc/self/status.
func vmRSS(b *testing.B) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmRSS in /proc/self/status")
	return 0
}
