package leader

import (
	"context"
	"sync/atomic"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/alertmedic/alertmedic/internal/kube"
)

// leaseAPI is the Leases of one namespace, shaped as client-go's typed
// client of them: each write returns the Lease the API server answered and
// leaves its argument as it was. A write answered, and a change delivered
// on a watch, set heard (Elector.Heard).
type leaseAPI struct {
	c     kube.WithWatch
	ns    string
	heard *atomic.Int64
}

// committed notes that the API server has just shown it commits writes.
func (l leaseAPI) committed() { l.heard.Store(time.Now().UnixNano()) }

func (l leaseAPI) Get(ctx context.Context, name string, _ metav1.GetOptions) (*coordinationv1.Lease, error) {
	return kube.Get[coordinationv1.Lease](ctx, l.c, l.ns, name)
}

func (l leaseAPI) Create(ctx context.Context, lease *coordinationv1.Lease, o metav1.CreateOptions) (*coordinationv1.Lease, error) {
	got, err := kube.Create(ctx, l.c, l.ns, lease, o)
	if err == nil {
		l.committed()
	}
	return got, err
}

func (l leaseAPI) Update(ctx context.Context, lease *coordinationv1.Lease, o metav1.UpdateOptions) (*coordinationv1.Lease, error) {
	got, err := kube.Update(ctx, l.c, l.ns, lease, o)
	if err == nil {
		l.committed()
	}
	return got, err
}

func (l leaseAPI) List(ctx context.Context, o metav1.ListOptions) (*coordinationv1.LeaseList, error) {
	return kube.List[coordinationv1.LeaseList](ctx, l.c, l.ns, o)
}

func (l leaseAPI) Watch(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
	return l.c.Watch(ctx, &coordinationv1.LeaseList{}, &kube.ListOptions{Namespace: l.ns, Raw: &o})
}
