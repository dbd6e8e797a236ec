package controller

import (
	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/remediations"
)

// Request turns a record into the remediation it plans. It fails, rather
// than guess, when the action or a parameter does not validate
// (v1alpha1.ValidateAction): the record's spec is whatever was written to
// the API, not only what rules compile to.
func Request(rec *v1alpha1.Remediation) (remediations.Request, error) {
	s := rec.Spec
	req := remediations.Request{
		Action: s.Action, Target: s.Target, Scale: s.Scale, Rollback: s.Rollback, Evict: s.Evict,
		Record: rec.Name, Rule: s.Rule, AlertName: s.Alert.Name, Fingerprint: s.Alert.Fingerprint,
		DryRun: s.DryRun, GitOps: s.GitOps,
	}
	if err := v1alpha1.ValidateAction(s.Action, v1alpha1.Params{Scale: s.Scale, Rollback: s.Rollback, Evict: s.Evict}); err != nil {
		return req, err
	}
	if p := rec.Status.Plan; p != nil && p.Error == "" {
		// Approved against this plan: not to be applied to anything else.
		req.ExpectGeneration, req.ExpectUID = p.Generation, p.UID
	}
	return req, nil
}
