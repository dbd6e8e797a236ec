package controller

import (
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
)

// A record whose parameters do not parse is refused twice over: the API
// server does not take it (the CRD's validation), and one that is there
// all the same (written before that validation existed) fails as
// InvalidParameters in Request without acting: a scale factor of 0 never
// becomes a scale to the minimum.
func TestInvalidParametersAreRefusedByTheAPIServer(t *testing.T) {
	ns := cluster.Namespace(t, "records")
	c := cluster.NewClient(t, cluster.Config)
	rec := &v1alpha1.Remediation{
		ObjectMeta: metav1.ObjectMeta{Name: "rem-factor-zero", Namespace: ns},
		Spec: v1alpha1.RemediationSpec{Rule: "scale-up", Action: "scale", Scale: &v1alpha1.ScaleParams{Op: "multiply", Factor: "0"},
			Target: v1alpha1.Target{Kind: "Deployment", Namespace: ns, Name: "web"}, TargetRef: "Deployment/" + ns + "/web",
			Alert: v1alpha1.AlertRef{Name: "LatencyHigh", Fingerprint: "0123456789abcdef", StartsAt: metav1.NewMicroTime(t0)}},
	}
	err := c.Create(t.Context(), rec)
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "factor") {
		t.Fatalf("create with factor 0: %v, want Invalid naming the factor", err)
	}
	if _, err := Request(rec); err == nil || !strings.Contains(err.Error(), "factor") {
		t.Errorf("Request(factor 0) = %v, want an error naming the factor", err)
	}
}

func TestRequestRejectsWhatDoesNotParse(t *testing.T) {
	for _, sc := range []*v1alpha1.ScaleParams{
		nil,
		{Op: "multiply", Factor: "abc"},
		{Op: "multiply", Factor: ""},
		{Op: "multiply", Factor: "0"},
		{Op: "multiply", Factor: "-2"},
		{Op: "multiply", Factor: "NaN"},
		{Op: "multiply", Factor: "Inf"},
		{Op: "to", N: -1},
		{Op: "double"},
		{Op: "to", N: 3, Min: 5, Max: 2},
		{Op: "by", N: 1, Min: -1},
	} {
		rec := &v1alpha1.Remediation{Spec: v1alpha1.RemediationSpec{Action: "scale", Scale: sc}}
		if _, err := Request(rec); err == nil {
			t.Errorf("Request(scale %+v) = nil error, want one", sc)
		}
	}
	for _, spec := range []v1alpha1.RemediationSpec{
		{Action: "delete"},
		{Action: "rollback", Rollback: &v1alpha1.RollbackParams{ToRevision: -1}},
	} {
		if _, err := Request(&v1alpha1.Remediation{Spec: spec}); err == nil {
			t.Errorf("Request(%+v) = nil error, want one", spec)
		}
	}
	ok := &v1alpha1.Remediation{Spec: v1alpha1.RemediationSpec{Action: "scale", Scale: &v1alpha1.ScaleParams{Op: "multiply", Factor: "1.5", Max: 10}}}
	if req, err := Request(ok); err != nil || req.Scale.Factor != "1.5" || req.Scale.Max != 10 {
		t.Errorf("Request(factor 1.5) = %+v, %v", req.Scale, err)
	}
}
