package rules

import (
	"github.com/prometheus/alertmanager/template"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
)

// Spec is the action planned for match m of alert a, as a Remediation
// records it: the rule's action and parameters on the rendered target, the
// alert episode it answers, the rule's approval, cooldown and budget, and
// its onFailure chain, flattened.
// It holds copies, not the rule's own values. m.Err must be nil.
func (m Match) Spec(a *template.Alert) v1alpha1.RemediationSpec {
	r := m.Rule
	s := v1alpha1.RemediationSpec{
		Rule: r.Name, Action: r.Action, Target: m.Target, TargetRef: m.Target.String(),
		Alert: v1alpha1.AlertRef{
			Name: a.Labels["alertname"], Fingerprint: a.Fingerprint, StartsAt: metav1.NewMicroTime(a.StartsAt),
			Labels: a.Labels, Summary: a.Annotations["summary"], Description: a.Annotations["description"],
			GeneratorURL: a.GeneratorURL, RunbookURL: a.Annotations["runbook_url"],
		},
	}
	if r.Scale != nil {
		sc := *r.Scale
		s.Scale = &sc
	}
	if r.Rollback != nil {
		rb := *r.Rollback
		s.Rollback = &rb
	}
	if r.Evict != nil {
		ev := *r.Evict
		s.Evict = &ev
	}
	if r.Cooldown > 0 {
		s.Cooldown = &metav1.Duration{Duration: r.Cooldown}
	}
	if b := r.Budget; b.PerRule > 0 || b.PerTarget > 0 {
		s.Budget = &v1alpha1.BudgetSpec{PerRule: int32(b.PerRule), PerTarget: int32(b.PerTarget), Window: metav1.Duration{Duration: b.Window}}
	}
	if r.Approval.Required {
		s.Approval = &v1alpha1.ApprovalSpec{
			Channel: r.Approval.Channel, Users: r.Approval.Users, Groups: r.Approval.Groups,
			Timeout: metav1.Duration{Duration: r.Approval.Timeout},
		}
	}
	if r.Verify != nil {
		s.Verify = r.Verify.DeepCopy()
	}
	s.Silence = r.Silence
	s.Notify = r.Notify
	s.GitOps = r.GitOps
	for st := r.OnFailure; st != nil; st = st.OnFailure {
		s.OnFailure = append(s.OnFailure, st.spec())
	}
	return s
}

// spec is the step as a record carries it, in copies.
func (st *Step) spec() v1alpha1.Step {
	out := v1alpha1.Step{Action: st.Action, Silence: st.Silence}
	if st.Scale != nil {
		sc := *st.Scale
		out.Scale = &sc
	}
	if st.Rollback != nil {
		rb := *st.Rollback
		out.Rollback = &rb
	}
	if st.Evict != nil {
		ev := *st.Evict
		out.Evict = &ev
	}
	if a := st.Approval; a.Required {
		out.Approval = &v1alpha1.ApprovalSpec{
			Channel: a.Channel, Users: a.Users, Groups: a.Groups,
			Timeout: metav1.Duration{Duration: a.Timeout},
		}
	}
	if st.Verify != nil {
		out.Verify = st.Verify.DeepCopy()
	}
	return out
}
