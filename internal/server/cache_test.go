package server

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/diff"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/engine/approval"
	"github.com/alertmedic/alertmedic/engine/controller"
	"github.com/alertmedic/alertmedic/internal/kube"
)

// cachedRecord is a record as alertmedic leaves it, with everything the
// cache trims of a settled one and every status field a settled one keeps.
func cachedRecord(ns, name string, now time.Time) (*v1alpha1.Remediation, v1alpha1.RemediationStatus) {
	at := metav1.NewTime(now.Truncate(time.Second))
	micro := metav1.NewMicroTime(now.Truncate(time.Microsecond))
	rec := &v1alpha1.Remediation{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns,
			Labels: map[string]string{v1alpha1.LabelRule: "restart-crashlooping",
				v1alpha1.LabelTarget: v1alpha1.TargetLabel(v1alpha1.KindDeployment, "shop", "web")},
			Annotations: map[string]string{v1alpha1.AnnotationRecordedAt: now.Format(time.RFC3339Nano)}},
		Spec: v1alpha1.RemediationSpec{
			Rule: "restart-crashlooping", Action: v1alpha1.ActionRestart,
			Target:    v1alpha1.Target{Kind: v1alpha1.KindDeployment, Namespace: "shop", Name: "web"},
			TargetRef: "Deployment/shop/web",
			Alert: v1alpha1.AlertRef{Name: "KubePodCrashLooping", Fingerprint: "0123456789abcdef", StartsAt: micro,
				Labels:  map[string]string{"alertname": "KubePodCrashLooping", "namespace": "shop", "deployment": "web"},
				Summary: "Pod is crash looping.", Description: "Restarting 3 times / 10 minutes.",
				GeneratorURL: "http://prometheus:9090/graph", RunbookURL: "https://runbooks.example/crashloop"},
			Silence: true,
			Verify:  &v1alpha1.VerifySpec{Rollout: &v1alpha1.RolloutCheck{Timeout: metav1.Duration{Duration: time.Minute}}},
		},
	}
	st := v1alpha1.RemediationStatus{
		Phase: v1alpha1.PhaseSucceeded, Reason: "Restarted", Message: "rollout restart of Deployment/shop/web",
		DecidedBy: "U0123", DecidedAt: &at, StartedAt: &at, FinishedAt: &at, ExecutedBy: "replica-a", Attempts: 1,
		Result: &v1alpha1.ActionResult{Outcome: "Succeeded", Reason: "Restarted", Before: "restartedAt=", After: "restartedAt=x"},
		Write:  &v1alpha1.Write{Attempt: 1, UID: "u-1", Generation: 3, RestartedAt: "x", Before: "b", After: "a"},
		Plan:   &v1alpha1.Plan{PlannedAt: at, UID: "u-1", Generation: 2, Outcome: "Succeeded", Before: "restartedAt=", After: "restartedAt=(now)"},
		Verification: &v1alpha1.Verification{StartedAt: micro, LastCheckedAt: &micro,
			Rollout: &v1alpha1.CheckStatus{Deadline: micro, PassedAt: &micro, Observed: "2/2 ready", Warnings: []string{"BackOff (x3, Pod/web-1): Back-off"}}},
		Silence: &v1alpha1.SilenceStatus{ID: "s-1", EndsAt: &micro},
	}
	return rec, st
}

// TestSettledRecordsTrimmedInCacheLoseNothing: the records' cache holds a
// settled record without its annotations and alert details, and the writes
// a settled record gets from that cache (its alert resolved, a silence
// expired, a link to its escalation, an HPA put back, its Slack message,
// its deletion) leave everything else of it in etcd as it was. A record
// with something still to do (an escalation, an HPA raise) is cached whole.
func TestSettledRecordsTrimmedInCacheLoseNothing(t *testing.T) {
	ctx := t.Context()
	ns := recordsNamespace(t)
	cached, api := startCache(t, ns), cluster.Records
	now := time.Now()

	create := func(name string, change func(*v1alpha1.Remediation, *v1alpha1.RemediationStatus)) *v1alpha1.Remediation {
		t.Helper()
		rec, st := cachedRecord(ns, name, now)
		change(rec, &st)
		if err := api.Create(ctx, rec); err != nil {
			t.Fatal(err)
		}
		rec.Status = st
		if err := api.Status().Update(ctx, rec); err != nil {
			t.Fatal(err)
		}
		return stored(t, rec)
	}
	// fromCache waits until the cache holds rec at resourceVersion rv.
	fromCache := func(rec *v1alpha1.Remediation, rv string) *v1alpha1.Remediation {
		t.Helper()
		var got v1alpha1.Remediation
		waitFor(t, "the cache to hold "+rec.Name+" at "+rv, func() bool {
			return cached.Get(ctx, kube.ObjectKeyFromObject(rec), &got) == nil && got.ResourceVersion == rv
		})
		return &got
	}
	trimmed := func(rec *v1alpha1.Remediation) bool {
		return rec.Annotations == nil && rec.Spec.Alert.Labels == nil && rec.Spec.Alert.Summary == "" &&
			rec.Spec.Verify == nil && rec.Status.Write == nil && rec.Status.Plan == nil && rec.Status.Message == ""
	}
	// unchanged fails unless etcd holds before but for what change set.
	unchanged := func(before *v1alpha1.Remediation, change func(want, got *v1alpha1.Remediation)) *v1alpha1.Remediation {
		t.Helper()
		got := stored(t, before)
		want := before.DeepCopy()
		change(want, got)
		want.ResourceVersion, want.ManagedFields = got.ResourceVersion, got.ManagedFields
		if !equality.Semantic.DeepEqual(want, got) {
			t.Errorf("%s in etcd changed beyond the write:\n%s", before.Name, diff.Diff(want, got))
		}
		return got
	}

	// A settled record: trimmed in the cache.
	settled := create("settled", func(*v1alpha1.Remediation, *v1alpha1.RemediationStatus) {})
	if c := fromCache(settled, settled.ResourceVersion); !trimmed(c) {
		t.Fatalf("the cache holds a settled record whole: %+v", c.Spec.Alert)
	}
	// Its alert resolves: approval.Resolve as the runner passes a
	// resolution on to a follower (reading through to the API server).
	resolvedAt := now.Add(time.Minute).Truncate(time.Second)
	if _, err := approval.Resolve(ctx, controller.ReadThrough(cached, api), kube.ObjectKeyFromObject(settled), resolvedAt); err != nil {
		t.Fatal(err)
	}
	after := unchanged(settled, func(want, _ *v1alpha1.Remediation) {
		t := metav1.NewTime(resolvedAt)
		want.Status.AlertResolvedAt = &t
	})
	// Its silence expires: a status update of the record as the API server
	// holds it, as the runner's silence step makes for a trimmed record
	// (TestSilenceExpiryKeepsATrimmedRecordWhole in engine/controller).
	c := fromCache(after, after.ResourceVersion)
	if err := api.Get(ctx, kube.ObjectKeyFromObject(c), c); err != nil {
		t.Fatal(err)
	}
	expired := metav1.NewMicroTime(now.Add(2 * time.Minute).Truncate(time.Microsecond))
	c.Status.Silence.ExpiredAt = &expired
	if err := cached.Status().Update(ctx, c); err != nil {
		t.Fatal(err)
	}
	after = unchanged(after, func(want, _ *v1alpha1.Remediation) { want.Status.Silence.ExpiredAt = &expired })
	// A plain update of a trimmed record is refused (its spec is
	// immutable), and changes nothing: none is ever made.
	c = fromCache(after, after.ResourceVersion)
	if err := cached.Update(ctx, c); !apierrors.IsInvalid(err) {
		t.Errorf("a plain update of a trimmed record answered %v, want Invalid", err)
	}
	after = unchanged(after, func(*v1alpha1.Remediation, *v1alpha1.Remediation) {})
	// Its Slack message is noted: a merge patch of status.slack, as the
	// notifier writes it. From then on it is cached whole.
	c = fromCache(after, after.ResourceVersion)
	orig := c.DeepCopy()
	c.Status.Slack = &v1alpha1.SlackMessage{Channel: "C0OPS", TS: "1.2", Digest: "d"}
	if err := cached.Status().Patch(ctx, c, kube.MergeFrom(orig)); err != nil {
		t.Fatal(err)
	}
	after = unchanged(after, func(want, _ *v1alpha1.Remediation) { want.Status.Slack = c.Status.Slack })
	if c := fromCache(after, after.ResourceVersion); trimmed(c) {
		t.Error("the cache trims a record with a Slack message, which is rendered from what is trimmed")
	}

	// A failed record with an escalation to make is cached whole until its
	// link is written (a merge patch of status.escalation, as escalate.go
	// writes it); then trimmed.
	failed := create("failed", func(rec *v1alpha1.Remediation, st *v1alpha1.RemediationStatus) {
		rec.Spec.OnFailure = []v1alpha1.Step{{Action: v1alpha1.ActionRestart}}
		st.Phase, st.Reason, st.Result.Outcome = v1alpha1.PhaseFailed, "RolloutTimeout", "Failed"
	})
	c = fromCache(failed, failed.ResourceVersion)
	if trimmed(c) {
		t.Fatal("the cache trims a failed record whose escalation is still to be made from it")
	}
	orig = c.DeepCopy()
	c.Status.Escalation = &v1alpha1.EscalationStatus{Record: "failed-e1"}
	if err := cached.Status().Patch(ctx, c, kube.MergeFrom(orig)); err != nil {
		t.Fatal(err)
	}
	after = unchanged(failed, func(want, _ *v1alpha1.Remediation) { want.Status.Escalation = c.Status.Escalation })
	if c := fromCache(after, after.ResourceVersion); !trimmed(c) {
		t.Error("the cache holds an escalated failed record whole")
	}
	// Retention deletes it as the cache read it (UID and resourceVersion).
	c = fromCache(after, after.ResourceVersion)
	uid, rv := c.UID, c.ResourceVersion
	if err := cached.Delete(ctx, c, kube.Preconditions{UID: &uid, ResourceVersion: &rv}); err != nil {
		t.Errorf("delete a trimmed record as read from the cache: %v", err)
	}

	// A record whose HPA raise waits to be put back is cached whole; the
	// status update that puts it back (as hpa.go writes it) keeps the rest.
	raised := create("raised", func(_ *v1alpha1.Remediation, st *v1alpha1.RemediationStatus) {
		st.HPA = &v1alpha1.HPAStatus{Name: "web", UID: "h-1", MinReplicas: 2, RaisedTo: 4, RestoreAt: metav1.NewMicroTime(now.Truncate(time.Microsecond))}
	})
	c = fromCache(raised, raised.ResourceVersion)
	if trimmed(c) {
		t.Fatal("the cache trims a record whose HPA raise is still to be put back")
	}
	restored := metav1.NewMicroTime(now.Add(time.Minute).Truncate(time.Microsecond))
	c.Status.HPA.RestoredAt = &restored
	if err := cached.Status().Update(ctx, c); err != nil {
		t.Fatal(err)
	}
	after = unchanged(raised, func(want, _ *v1alpha1.Remediation) { want.Status.HPA.RestoredAt = &restored })
	c = fromCache(after, after.ResourceVersion)
	if !trimmed(c) {
		t.Error("the cache holds a settled record whole after its HPA was put back")
	}
	// Its alert resolves afterwards, passed on as the runner does.
	if _, err := approval.Resolve(ctx, controller.ReadThrough(cached, api), kube.ObjectKeyFromObject(after), resolvedAt); err != nil {
		t.Fatal(err)
	}
	unchanged(after, func(want, _ *v1alpha1.Remediation) {
		t := metav1.NewTime(resolvedAt)
		want.Status.AlertResolvedAt = &t
	})
}

// startCache runs serve's controller manager over the records of ns
// until the test ends, and returns its cached client.
func startCache(t *testing.T, ns string) kube.Client {
	t.Helper()
	o := &Options{Namespace: ns, KubeAPITimeout: 10 * time.Second, ShutdownTimeout: 10 * time.Second}
	c, err := kube.New(cluster.Config, kube.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := newManager(c, c, o, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan error, 1)
	go func() { done <- mgr.Start(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	return mgr.GetClient()
}

// stored is rec as the API server holds it.
func stored(t *testing.T, rec *v1alpha1.Remediation) *v1alpha1.Remediation {
	t.Helper()
	var got v1alpha1.Remediation
	if err := cluster.Records.Get(t.Context(), kube.ObjectKeyFromObject(rec), &got); err != nil {
		t.Fatal(err)
	}
	return &got
}

// TestArchivedRecordsAreNotCached: a record the leader archived
// (v1alpha1.LabelArchived) is not in the records' cache, and costs a
// replica nothing; one not archived is.
func TestArchivedRecordsAreNotCached(t *testing.T) {
	ctx := t.Context()
	ns := recordsNamespace(t)
	cached := startCache(t, ns)
	now := time.Now()
	archived, _ := cachedRecord(ns, "archived", now)
	archived.Labels[v1alpha1.LabelArchived] = "true"
	kept, _ := cachedRecord(ns, "kept", now)
	for _, rec := range []*v1alpha1.Remediation{archived, kept} {
		if err := cluster.Records.Create(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the cache to hold the record not archived", func() bool {
		return cached.Get(ctx, kube.ObjectKeyFromObject(kept), &v1alpha1.Remediation{}) == nil
	})
	var list v1alpha1.RemediationList
	if err := cached.List(ctx, &list, kube.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].Name != "kept" {
		var names []string
		for _, r := range list.Items {
			names = append(names, r.Name)
		}
		t.Errorf("the cache holds %v, want [kept]", names)
	}
}
