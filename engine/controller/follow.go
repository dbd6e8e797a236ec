package controller

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/engine/approval"
	"github.com/alertmedic/alertmedic/internal/kube"
)

// A follower is a record made from another when it ends: an escalation
// (onFailure, escalate.go) or a sequence's next step (sequence.go). Both
// are made the same way: idempotently (the follower's name comes from its
// cause's, so a create whose answer was lost, or a crash before the link
// is written, finds it there and checks it is the cause's), linked back on
// the cause, and never for an alert that resolved.
type follower struct {
	next *v1alpha1.Remediation
	what string // "escalation", "next step": in logs and errors
	// stopped prefixes the note when there is no follower: "not escalated".
	stopped string
	// owns says whether got, found under next's name, is the cause's
	// follower; if not, the note saying why.
	owns func(got *v1alpha1.Remediation) (bool, string)
	// note writes the link (record) or why there is none (message) on the
	// cause.
	note     func(record, message string) error
	decision string
}

// follow records f.next for rec and links it. An alert that resolved
// before rec ended gets no follower. A create the API server refuses for
// good is noted on rec; any other failure is returned, to be tried again.
func (r *Runner) follow(ctx context.Context, rec *v1alpha1.Remediation, f follower, log *slog.Logger) (kube.Result, error) {
	if at := rec.Status.AlertResolvedAt; at != nil {
		log.Info(f.stopped+": the alert resolved", "resolved_at", at.Time)
		return kube.Result{}, f.note("", fmt.Sprintf("%s: the alert resolved at %s", f.stopped, at.UTC().Format(time.RFC3339)))
	}
	next := f.next
	err := r.client.Create(ctx, next)
	switch {
	case err == nil:
		r.opts.Metrics.Decision(f.decision).Inc()
		log.Info(f.what+" recorded", f.what, next.Name, "action", next.Spec.Action, "target", next.Spec.TargetRef, "reason", rec.Status.Reason)
	case apierrors.IsAlreadyExists(err):
		// Created before: its answer was lost, or the link below was not
		// written. It is this record's only if it says so.
		var got v1alpha1.Remediation
		if err := r.reader.Get(ctx, kube.ObjectKeyFromObject(next), &got); err != nil {
			return kube.Result{}, fmt.Errorf("read %s %s of %s: %w", f.what, next.Name, rec.Name, err)
		}
		if ok, why := f.owns(&got); !ok {
			return kube.Result{}, f.note("", why)
		}
	case apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) || apierrors.IsForbidden(err):
		log.Error(f.what+" could not be recorded", f.what, next.Name, "err", err)
		return kube.Result{}, f.note("", f.stopped+": "+err.Error())
	default:
		return kube.Result{}, fmt.Errorf("create %s %s of %s: %w", f.what, next.Name, rec.Name, err)
	}
	if err := f.note(next.Name, ""); err != nil {
		return kube.Result{}, err
	}
	// A resolved notification that came while the follower was being
	// created found no link to it: look at rec again, now that the link is
	// written, and pass the resolution on.
	var fresh v1alpha1.Remediation
	if err := r.reader.Get(ctx, kube.ObjectKeyFromObject(rec), &fresh); err != nil {
		return kube.Result{}, kube.IgnoreNotFound(err)
	}
	if at := fresh.Status.AlertResolvedAt; at != nil {
		if _, err := approval.Resolve(ctx, ReadThrough(r.client, r.reader), kube.ObjectKeyFromObject(next), at.Time); err != nil {
			return kube.Result{}, fmt.Errorf("pass the resolution of %s on to %s: %w", rec.Name, next.Name, err)
		}
	}
	return kube.Result{}, nil
}

// ReadThrough is c with its reads made by reader: the runner passes a
// resolution on along a chain of records with it, since the cache holds a
// settled record without most of its status (v1alpha1.TrimForCache) and a
// status write from that copy would erase what it lacks.
func ReadThrough(c kube.Client, reader kube.Reader) kube.Client {
	return readThrough{Client: c, reader: reader}
}

type readThrough struct {
	kube.Client
	reader kube.Reader
}

func (c readThrough) Get(ctx context.Context, key kube.ObjectKey, obj kube.Object, opts ...kube.GetOption) error {
	return c.reader.Get(ctx, key, obj, opts...)
}

func (c readThrough) List(ctx context.Context, list kube.ObjectList, opts ...kube.ListOption) error {
	return c.reader.List(ctx, list, opts...)
}
