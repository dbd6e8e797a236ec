package controller

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
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
