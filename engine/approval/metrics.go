package approval

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/kube"
)

// waitingDesc is alertmedic_approvals_waiting.
var waitingDesc = prometheus.NewDesc("alertmedic_approvals_waiting",
	"Remediations waiting for a person's approval now (PendingApproval), as this replica's cache sees them.", nil, nil)

// waiting counts, at each scrape, the records that wait for a person.
type waiting struct {
	ctx       context.Context
	records   kube.Reader
	namespace string
	indexed   bool // records has the phase index: list the waiting ones only
}

// phaseIndex is the records' index by status.phase in a cache; it holds
// the records waiting for approval only.
const phaseIndex = "status.phase"

// IndexByPhase adds to a cache of records, before it starts, the index
// by phase RegisterWaiting reads the waiting records through; when it
// fails, the gauge is registered without it and reads every record.
func IndexByPhase(ctx context.Context, indexer kube.FieldIndexer) error {
	err := indexer.IndexField(ctx, &v1alpha1.Remediation{}, phaseIndex, func(o kube.Object) []string {
		// Only the phase read through it is indexed: an index entry for
		// every retained record would cost each replica memory for nothing.
		if r, ok := o.(*v1alpha1.Remediation); ok && r.Status.Phase == v1alpha1.PhasePendingApproval {
			return []string{string(r.Status.Phase)}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("index records by phase: %w", err)
	}
	return nil
}

// RegisterWaiting registers alertmedic_approvals_waiting with reg: at each
// scrape, the records of namespace in PendingApproval, read from records
// (a cache: a scrape costs no API call). indexed: the cache has the index
// of IndexByPhase, and a scrape reads the waiting records alone rather
// than every retained one. ctx bounds the reads; while the cache cannot
// answer (it has not synced yet: a scrape waits for it at most syncWait)
// the metric is left out of the scrape rather than failing it.
func RegisterWaiting(ctx context.Context, reg prometheus.Registerer, records kube.Reader, indexed bool, namespace string) error {
	return reg.Register(&waiting{ctx: ctx, records: records, namespace: namespace, indexed: indexed})
}

func (w *waiting) Describe(ch chan<- *prometheus.Desc) { ch <- waitingDesc }

// syncWait is how long a scrape waits for the records' cache to answer.
// A cache that has synced answers at once; one still listing the records
// (tens of seconds at start with tens of thousands of them) would hold the
// whole scrape past Prometheus' timeout, every metric lost with it.
const syncWait = time.Second

func (w *waiting) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(w.ctx, syncWait)
	defer cancel()
	// The cache's own objects, not copies: only read here, and a copy of
	// every retained record at each scrape costs memory by the record.
	var list v1alpha1.RemediationList
	opts := []kube.ListOption{kube.InNamespace(w.namespace), kube.UnsafeDisableDeepCopy}
	if w.indexed {
		opts = append(opts, kube.MatchingFields{phaseIndex: string(v1alpha1.PhasePendingApproval)})
	}
	if err := w.records.List(ctx, &list, opts...); err != nil {
		return
	}
	n := 0
	for i := range list.Items {
		if list.Items[i].Status.Phase == v1alpha1.PhasePendingApproval {
			n++
		}
	}
	ch <- prometheus.MustNewConstMetric(waitingDesc, prometheus.GaugeValue, float64(n))
}
