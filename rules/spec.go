package rules

import (
	"github.com/prometheus/alertmanager/template"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
)

// Spec is the action planned for match m of alert a, as a Remediation
// records it: the rule's action and parameters on the rendered target, the
// alert episode it answers, the rule's approval, cooldown and budget, its
// onFailure chain, flattened, and the later steps of its sequence on their
// rendered targets (m.Then).
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
	// The rule's own action is made into the record's spec as its
	// onFailure steps are.
	own := (&Step{Action: r.Action, Scale: r.Scale, Rollback: r.Rollback, Evict: r.Evict,
		Approval: r.Approval, Verify: r.Verify, Silence: r.Silence}).spec()
	s.Scale, s.Rollback, s.Evict, s.Approval, s.Verify, s.Silence = own.Scale, own.Rollback, own.Evict, own.Approval, own.Verify, own.Silence
	if r.Cooldown > 0 {
		s.Cooldown = &metav1.Duration{Duration: r.Cooldown}
	}
	if b := r.Budget; b.PerRule > 0 || b.PerTarget > 0 {
		s.Budget = &v1alpha1.BudgetSpec{PerRule: int32(b.PerRule), PerTarget: int32(b.PerTarget), Window: metav1.Duration{Duration: b.Window}}
	}
	s.Notify = r.Notify
	s.GitOps = r.GitOps
	for st := r.OnFailure; st != nil; st = st.OnFailure {
		s.OnFailure = append(s.OnFailure, st.spec())
	}
	if len(r.Then) > 0 {
		s.Sequence = &v1alpha1.SequenceRef{Step: 1, Of: int32(1 + len(r.Then))}
		for i, st := range r.Then {
			step := st.spec()
			if i < len(m.Then) {
				t := m.Then[i]
				step.Target = &t
			}
			s.Then = append(s.Then, step)
		}
	}
	return s
}

// spec is the step as a record carries it, in copies (DeepCopy returns
// nil for nil).
func (st *Step) spec() v1alpha1.Step {
	out := v1alpha1.Step{Action: st.Action, Silence: st.Silence,
		Scale: st.Scale.DeepCopy(), Rollback: st.Rollback.DeepCopy(), Evict: st.Evict.DeepCopy(), Verify: st.Verify.DeepCopy()}
	if a := st.Approval; a.Required {
		out.Approval = &v1alpha1.ApprovalSpec{
			Channel: a.Channel, Users: a.Users, Groups: a.Groups,
			Timeout: metav1.Duration{Duration: a.Timeout},
		}
	}
	return out
}
