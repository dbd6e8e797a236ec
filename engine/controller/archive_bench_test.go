package controller

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
)

// BenchmarkArchiveIndexHeap: the live heap the leader's index of archived
// records holds per record, filled as listArchived fills it (each name
// and UID a string of its own, as decoded from a list).
func BenchmarkArchiveIndexHeap(b *testing.B) {
	const n = 50000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	idx := newArchiveIndex()
	until := time.Now().UnixNano()
	for i := range n {
		idx.put(fmt.Sprintf("rem-%020x", i), archivedEntry{uid: types.UID(string(uuid.NewUUID())), until: until})
	}
	idx.trim()
	runtime.GC()
	runtime.ReadMemStats(&after)
	for b.Loop() {
		runtime.KeepAlive(idx)
	}
	if idx.len() != n {
		b.Fatalf("the index holds %d records, want %d", idx.len(), n)
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/record")
}
