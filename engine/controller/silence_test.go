package controller

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/diff"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/silences"
)

func TestNextSilence(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) metav1.MicroTime { return metav1.NewMicroTime(now.Add(d)) }
	asks := v1alpha1.RemediationSpec{Silence: true}
	verifying := func(rollout, resolved time.Duration) v1alpha1.RemediationStatus {
		v := &v1alpha1.Verification{StartedAt: at(-time.Minute)}
		if rollout != 0 {
			v.Rollout = &v1alpha1.CheckStatus{Deadline: at(rollout)}
		}
		if resolved != 0 {
			v.AlertResolved = &v1alpha1.CheckStatus{Deadline: at(resolved)}
		}
		return v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseVerifying, Verification: v}
	}
	with := func(st v1alpha1.RemediationStatus, phase v1alpha1.Phase, s *v1alpha1.SilenceStatus) v1alpha1.RemediationStatus {
		st.Phase, st.Silence = phase, s
		return st
	}
	expired := at(-time.Second)
	cases := []struct {
		name       string
		spec       v1alpha1.RemediationSpec
		st         v1alpha1.RemediationStatus
		configured bool
		want       silenceStep
	}{
		{"not asked", v1alpha1.RemediationSpec{}, verifying(4*time.Minute, 0), true, silenceStep{}},
		{"verifying: create until the deadline", asks, verifying(4*time.Minute, 0), true, silenceStep{Kind: silenceCreate, EndsAt: now.Add(4 * time.Minute)}},
		{"never past the latest deadline", asks, verifying(4*time.Minute, 9*time.Minute), true, silenceStep{Kind: silenceCreate, EndsAt: now.Add(9 * time.Minute)}},
		{"deadline passed: none", asks, verifying(-time.Second, 0), true, silenceStep{}},
		{"no verification yet", asks, v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseVerifying}, true, silenceStep{}},
		{"already made", asks, with(verifying(4*time.Minute, 0), v1alpha1.PhaseVerifying, &v1alpha1.SilenceStatus{ID: "a"}), true, silenceStep{}},
		{"no Alertmanager: noted", asks, verifying(4*time.Minute, 0), false, silenceStep{Kind: silenceNote}},
		{"noted once", asks, with(verifying(4*time.Minute, 0), v1alpha1.PhaseVerifying, &v1alpha1.SilenceStatus{Message: NoAlertmanager}), false, silenceStep{}},
		{"before verifying: nothing", asks, v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseRunning}, true, silenceStep{}},
		{"succeeded: expire", asks, with(verifying(4*time.Minute, 0), v1alpha1.PhaseSucceeded, &v1alpha1.SilenceStatus{ID: "a"}), true, silenceStep{Kind: silenceExpire}},
		{"failed: expire", asks, with(verifying(4*time.Minute, 0), v1alpha1.PhaseFailed, &v1alpha1.SilenceStatus{ID: "a"}), true, silenceStep{Kind: silenceExpire}},
		{"ended with no id recorded: look for one", asks, with(verifying(4*time.Minute, 0), v1alpha1.PhaseFailed, nil), true, silenceStep{Kind: silenceExpire}},
		{"expired already", asks, with(verifying(4*time.Minute, 0), v1alpha1.PhaseSucceeded, &v1alpha1.SilenceStatus{ID: "a", ExpiredAt: &expired}), true, silenceStep{}},
		{"ended before verifying: nothing to expire", asks, v1alpha1.RemediationStatus{Phase: v1alpha1.PhaseSkipped}, true, silenceStep{}},
		{"ended, no Alertmanager", asks, with(verifying(4*time.Minute, 0), v1alpha1.PhaseFailed, &v1alpha1.SilenceStatus{Message: NoAlertmanager}), false, silenceStep{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := nextSilence(c.spec, c.st, now, c.configured)
			if got.Kind != c.want.Kind || !got.EndsAt.Equal(c.want.EndsAt) {
				t.Errorf("nextSilence = %+v, want %+v", got, c.want)
			}
		})
	}
}

// expiringAlertmanager is Alertmanager as far as a record's silence
// expiry goes: it notes the silences expired. What is tested with it is
// the record the runner writes, against the API server.
type expiringAlertmanager struct {
	mu      sync.Mutex
	expired []string
}

func (a *expiringAlertmanager) Create(context.Context, silences.Silence) (string, error) {
	return "", errors.New("no silence is made in this test")
}

func (a *expiringAlertmanager) Expire(_ context.Context, id string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.expired = append(a.expired, id)
	return nil
}

func (a *expiringAlertmanager) Mine(context.Context) ([]silences.Silence, error) { return nil, nil }

func (a *expiringAlertmanager) Firing(context.Context, string, map[string]string) (bool, error) {
	return false, nil
}

// TestSilenceExpiryKeepsATrimmedRecordWhole: the cache holds a settled
// record without most of its status (v1alpha1.TrimForCache); when the
// runner expires its silence, the record's status in the API server keeps
// everything but the silence's expiry as it was.
func TestSilenceExpiryKeepsATrimmedRecordWhole(t *testing.T) {
	ns := cluster.Namespace(t, "silence")
	c := cluster.NewClient(t, cluster.Config)
	at := metav1.NewTime(time.Now().Truncate(time.Second))
	micro := metav1.NewMicroTime(at.Time)
	rec := restartRecord("rem-silenced", ns, "web")
	rec.Spec.Silence = true
	rec.Spec.Verify = &v1alpha1.VerifySpec{Rollout: &v1alpha1.RolloutCheck{Timeout: metav1.Duration{Duration: time.Minute}}}
	rec = put(t, c, ns, rec, v1alpha1.RemediationStatus{
		Phase: v1alpha1.PhaseSucceeded, Reason: "Restarted", Message: "rollout restart of Deployment/" + ns + "/web",
		StartedAt: &at, FinishedAt: &at, ExecutedBy: "replica-a", Attempts: 1,
		Result: &v1alpha1.ActionResult{Outcome: "Succeeded", Reason: "Restarted", Before: "restartedAt=", After: "restartedAt=x"},
		Write:  &v1alpha1.Write{Attempt: 1, UID: "u-1", Generation: 3, RestartedAt: "x", Before: "b", After: "a"},
		Verification: &v1alpha1.Verification{StartedAt: micro, LastCheckedAt: &micro,
			Rollout: &v1alpha1.CheckStatus{Deadline: micro, PassedAt: &micro, Observed: "2/2 ready"}},
		Silence: &v1alpha1.SilenceStatus{ID: "s-1", EndsAt: &micro},
	})
	if !rec.TrimmedInCache() {
		t.Fatal("the record is not one the cache trims: the test would prove nothing")
	}
	before := get(t, c, rec)
	am := &expiringAlertmanager{}
	startRunnerWith(t, ns, Options{Executor: &flaky{}, Policy: Policy{Retention: time.Hour, MaxRetention: time.Hour}, Alertmanager: am})
	var after *v1alpha1.Remediation
	waitFor(t, "the silence's expiry to be recorded", func() bool {
		after = get(t, c, rec)
		return after.Status.Silence != nil && after.Status.Silence.ExpiredAt != nil
	})
	am.mu.Lock()
	expired := slices.Clone(am.expired)
	am.mu.Unlock()
	if !slices.Equal(expired, []string{"s-1"}) {
		t.Errorf("silences expired: %v, want [s-1]", expired)
	}
	want := before.Status.DeepCopy()
	want.Silence.ExpiredAt = after.Status.Silence.ExpiredAt
	if !equality.Semantic.DeepEqual(*want, after.Status) {
		t.Errorf("the record's status changed beyond the silence's expiry:\n%s", diff.Diff(*want, after.Status))
	}
}
