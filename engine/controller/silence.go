package controller

import (
	"context"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/kube"
	"github.com/alertmedic/alertmedic/silences"
)

// Alertmanager is what the runner asks of Alertmanager (silences.Client):
// silences while a remediation is verified, and whether an alert still
// fires, for verify.alertResolved.
type Alertmanager interface {
	Create(ctx context.Context, s silences.Silence) (string, error)
	Expire(ctx context.Context, id string) error
	Mine(ctx context.Context) ([]silences.Silence, error)
	Firing(ctx context.Context, fingerprint string, labels map[string]string) (bool, error)
}

// NoAlertmanager is what a record asking for a silence notes when serve
// has no --alertmanager-url: the remediation goes on without a silence.
const NoAlertmanager = "no Alertmanager configured (serve --alertmanager-url): not silenced"

type silenceKind int

const (
	silenceNone   silenceKind = iota
	silenceCreate             // make the silence, until EndsAt
	silenceNote               // no Alertmanager: say so in the record
	silenceExpire             // the record ended: expire its silence
)

// silenceStep is what a record's silence needs now.
type silenceStep struct {
	Kind   silenceKind
	EndsAt time.Time // for silenceCreate: the verification's deadline
}

// nextSilence decides, from the record alone, what its silence needs:
// one is made when a record asking for it is Verifying and has none yet,
// ending at the verification's deadline (never later, and never one that
// has passed); it is expired once the record is final, and an ID not
// recorded (the answer to the create was lost) is looked for then too.
func nextSilence(spec v1alpha1.RemediationSpec, st v1alpha1.RemediationStatus, now time.Time, configured bool) silenceStep {
	if !spec.Silence {
		return silenceStep{}
	}
	switch {
	case st.Phase == v1alpha1.PhaseVerifying && st.Silence == nil:
		end, ok := verificationDeadline(st.Verification)
		switch {
		case !ok || !end.After(now):
			return silenceStep{}
		case !configured:
			return silenceStep{Kind: silenceNote}
		}
		return silenceStep{Kind: silenceCreate, EndsAt: end}
	case st.Phase.Final() && configured && st.Verification != nil && (st.Silence == nil || st.Silence.ExpiredAt == nil):
		return silenceStep{Kind: silenceExpire}
	}
	return silenceStep{}
}

// verificationDeadline is the latest deadline of a verification's checks.
func verificationDeadline(v *v1alpha1.Verification) (time.Time, bool) {
	if v == nil {
		return time.Time{}, false
	}
	var end time.Time
	for _, c := range []*v1alpha1.CheckStatus{v.Rollout, v.AlertResolved} {
		if c != nil && c.Deadline.After(end) {
			end = c.Deadline.Time
		}
	}
	return end, !end.IsZero()
}

// silence does what nextSilence says for rec, and records it in rec's
// status. A silence that cannot be made is logged and tried again at the
// next look; the verification goes on regardless.
func (r *Runner) silence(ctx context.Context, rec *v1alpha1.Remediation, now time.Time) error {
	step := nextSilence(rec.Spec, rec.Status, now, r.opts.Alertmanager != nil)
	if step.Kind == silenceNone {
		return nil
	}
	if rec.TrimmedInCache() {
		// The cache holds a settled record without most of its status
		// (v1alpha1.TrimForCache): a status write from it would erase
		// what it lacks. Written from the API server's copy.
		if err := r.reader.Get(ctx, kube.ObjectKeyFromObject(rec), rec); err != nil {
			return kube.IgnoreNotFound(err)
		}
		if step = nextSilence(rec.Spec, rec.Status, now, r.opts.Alertmanager != nil); step.Kind == silenceNone {
			return nil
		}
	}
	key := rec.Namespace + "/" + rec.Name
	log := r.opts.Logger.With("record", rec.Name, "rule", rec.Spec.Rule, "target", rec.Spec.TargetRef)
	var st v1alpha1.SilenceStatus
	switch step.Kind {
	case silenceNote:
		st.Message = NoAlertmanager
		log.Warn("the rule asks for a silence but no Alertmanager is configured", "flag", "--alertmanager-url")
	case silenceCreate:
		// The answer to an earlier create may have been lost: look for the
		// silence by the record its comment names before making another.
		id, err := r.findSilence(ctx, key)
		if err != nil {
			r.opts.Metrics.Silence("adopt", "error").Inc()
			log.Warn("could not look for the record's silence; trying again at the next check", "err", err)
			return nil
		}
		if id != "" {
			r.opts.Metrics.Silence("adopt", "ok").Inc()
			log.Info("found the record's silence made by an earlier create", "silence", id)
		} else {
			id, err = r.opts.Alertmanager.Create(ctx, silences.Silence{
				Matchers: rec.Spec.Alert.Labels, StartsAt: now, EndsAt: step.EndsAt,
				Comment: silences.Comment(key, string(rec.Spec.Action), rec.Spec.TargetRef, rec.Spec.Alert.GeneratorURL),
			})
			if err != nil {
				r.opts.Metrics.Silence("create", "error").Inc()
				log.Warn("could not create the silence; trying again at the next check", "err", err)
				return nil
			}
			r.opts.Metrics.Silence("create", "ok").Inc()
		}
		end := metav1.NewMicroTime(step.EndsAt)
		st.ID, st.EndsAt = id, &end
		log.Info("alert silenced while the remediation is verified", "silence", id, "ends_at", step.EndsAt)
	case silenceExpire:
		if old := rec.Status.Silence; old != nil {
			st = *old
		}
		ids := []string{st.ID}
		if st.ID == "" {
			found, err := r.findSilence(ctx, key)
			if err != nil {
				return fmt.Errorf("look for the silence of %s: %w", rec.Name, err)
			}
			ids = []string{found}
		}
		for _, id := range ids {
			if id == "" {
				continue
			}
			if err := r.opts.Alertmanager.Expire(ctx, id); err != nil {
				r.opts.Metrics.Silence("expire", "error").Inc()
				return fmt.Errorf("expire the silence of %s: %w", rec.Name, err)
			}
			r.opts.Metrics.Silence("expire", "ok").Inc()
			log.Info("silence expired: the remediation ended", "silence", id, "phase", rec.Status.Phase)
		}
		at := metav1.NewMicroTime(r.opts.Now())
		st.ExpiredAt = &at
	}
	prev := rec.Status.Silence
	rec.Status.Silence = &st
	if err := r.writeStatus(ctx, rec); err != nil {
		rec.Status.Silence = prev
		return fmt.Errorf("record the silence of %s: %w", rec.Name, err)
	}
	return nil
}

// findSilence returns the ID of an active or pending silence alertmedic
// made for record ("namespace/name"), or "".
func (r *Runner) findSilence(ctx context.Context, record string) (string, error) {
	mine, err := r.opts.Alertmanager.Mine(ctx)
	if err != nil {
		return "", err
	}
	for _, s := range mine {
		if s.Record == record {
			return s.ID, nil
		}
	}
	return "", nil
}

// sweepSilences expires the silences alertmedic made whose record ended or
// is gone: left behind by a replica that stopped between the end of a
// record and the expiry of its silence, or by a record deleted before its
// silence was expired. It runs when this replica starts leading, then every
// Policy.SilenceSweep while it leads; a sweep that fails is tried again
// sooner, backing off from a second to a minute.
func (r *Runner) sweepSilences(ctx context.Context) {
	if r.opts.Alertmanager == nil {
		return
	}
	r.repeat(ctx, r.opts.Policy.SilenceSweep, "look for silences left behind", r.sweepOnce)
}

func (r *Runner) sweepOnce(ctx context.Context) error {
	mine, err := r.opts.Alertmanager.Mine(ctx)
	if err != nil {
		r.opts.Metrics.Silence("sweep", "error").Inc()
		return err
	}
	for _, s := range mine {
		if s.Record == "" {
			continue // not one alertmedic can tie to a record: left alone
		}
		ns, name, _ := strings.Cut(s.Record, "/")
		var rec v1alpha1.Remediation
		err := r.reader.Get(ctx, kube.ObjectKey{Namespace: ns, Name: name}, &rec)
		why := ""
		switch {
		case apierrors.IsNotFound(err):
			why = "its record is gone"
		case err != nil:
			return fmt.Errorf("read record %s of silence %s: %w", s.Record, s.ID, err)
		case rec.Status.Phase.Final():
			why = "its record ended " + string(rec.Status.Phase)
		case rec.Status.Silence != nil && rec.Status.Silence.ID != "" && rec.Status.Silence.ID != s.ID:
			why = "its record holds another silence, " + rec.Status.Silence.ID
		default:
			continue
		}
		if err := r.opts.Alertmanager.Expire(ctx, s.ID); err != nil {
			r.opts.Metrics.Silence("sweep", "error").Inc()
			return err
		}
		r.opts.Metrics.Silence("sweep", "ok").Inc()
		r.opts.Logger.Info("silence left behind expired", "silence", s.ID, "record", s.Record, "why", why)
	}
	return nil
}
