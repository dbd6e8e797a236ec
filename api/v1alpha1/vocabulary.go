package v1alpha1

import (
	"fmt"
	"math"
	"strconv"
)

// Action is what a Remediation does to its target.
// +kubebuilder:validation:Enum=restart;scale;rollback
type Action string

const (
	ActionRestart  Action = "restart"  // rollout restart
	ActionScale    Action = "scale"    // change the replica count (ScaleParams)
	ActionRollback Action = "rollback" // rollout undo (RollbackParams)
)

// Actions are the actions alertmedic knows, in the order messages list them.
func Actions() []Action { return []Action{ActionRestart, ActionScale, ActionRollback} }

// Validate says whether a is an action alertmedic knows.
func (a Action) Validate() error {
	switch a {
	case ActionRestart, ActionScale, ActionRollback:
		return nil
	}
	return fmt.Errorf("action %q: want restart, scale or rollback", string(a))
}

// Notify says which of a rule's records are told in Slack.
// +kubebuilder:validation:Enum="";all;failures;none
type Notify string

const (
	NotifyAll      Notify = "all"      // every record, through its life (the default, also "")
	NotifyFailures Notify = "failures" // only records that end Failed, and those waiting for approval
	NotifyNone     Notify = "none"     // only records waiting for approval
)

// GitOps says whether an action goes ahead on a target that a GitOps
// controller (Argo CD, Flux) manages.
// +kubebuilder:validation:Enum="";refuse;allow
type GitOps string

const (
	GitOpsRefuse GitOps = "refuse" // Skipped, reason GitOpsManaged
	GitOpsAllow  GitOps = "allow"  // act: the GitOps tool tolerates the change
)

// MaxEscalations is the longest escalation chain a rule may have
// (spec.onFailure).
const MaxEscalations = 3

// Kind is a workload kind alertmedic acts on, as its apps/v1 kind.
// +kubebuilder:validation:Enum=Deployment;StatefulSet;DaemonSet
type Kind string

const (
	KindDeployment  Kind = "Deployment"
	KindStatefulSet Kind = "StatefulSet"
	KindDaemonSet   Kind = "DaemonSet"
)

// Kinds are the workload kinds alertmedic acts on.
func Kinds() []Kind { return []Kind{KindDeployment, KindStatefulSet, KindDaemonSet} }

// Validate says whether k is a workload kind alertmedic acts on.
func (k Kind) Validate() error {
	switch k {
	case KindDeployment, KindStatefulSet, KindDaemonSet:
		return nil
	}
	return fmt.Errorf("kind %q: want Deployment, StatefulSet or DaemonSet", string(k))
}

// ScaleOp says how a scale's N or Factor applies to the current count.
// +kubebuilder:validation:Enum=to;by;multiply
type ScaleOp string

const (
	ScaleTo       ScaleOp = "to"       // set replicas to N
	ScaleBy       ScaleOp = "by"       // add N (may be negative)
	ScaleMultiply ScaleOp = "multiply" // multiply by Factor, rounded up
)

// Factor is a scale multiplier kept as a decimal string ("1.5"), so that
// the record says exactly what the rule said. Float64 reads it.
// +kubebuilder:validation:MaxLength=32
// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]+)?$`
type Factor string

// FactorOf writes f as a Factor, in its shortest decimal form.
func FactorOf(f float64) Factor { return Factor(strconv.FormatFloat(f, 'f', -1, 64)) }

// Float64 reads the factor. It fails, rather than guess, on anything that
// is not a finite number greater than 0: a factor that does not parse
// never becomes a multiplication by 0.
func (f Factor) Float64() (float64, error) {
	v, err := strconv.ParseFloat(string(f), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
		return 0, fmt.Errorf("scale factor %q: want a number greater than 0, such as 1.5", string(f))
	}
	return v, nil
}

// Validate checks that scale parameters can be read one way only: a known
// op, a count of 0 or more for "to", a factor greater than 0 for
// "multiply", and 0 <= min <= max (max 0: none). A record's parameters are
// whatever was written to the API, not only what rules compile to, so the
// executor checks them before it acts; nil parameters are an error.
func (p *ScaleParams) Validate() error {
	if p == nil {
		return fmt.Errorf("scale without parameters: want op to, by or multiply")
	}
	if p.Min < 0 || p.Max < 0 || p.Max > 0 && p.Min > p.Max {
		return fmt.Errorf("scale bounds min %d, max %d: want 0 <= min <= max (max 0: none)", p.Min, p.Max)
	}
	switch p.Op {
	case ScaleTo:
		if p.N < 0 {
			return fmt.Errorf("scale to %d: want a replica count of 0 or more", p.N)
		}
	case ScaleBy:
	case ScaleMultiply:
		if _, err := p.Factor.Float64(); err != nil {
			return err
		}
	default:
		return fmt.Errorf("scale op %q: want to, by or multiply", string(p.Op))
	}
	return nil
}

// Replicas writes the parameters the way a rule file's scale.replicas
// does: "4" (to), "+2" or "-1" (by), "x2" or "x1.5" (multiply).
func (p ScaleParams) Replicas() string {
	switch p.Op {
	case ScaleBy:
		if p.N > 0 {
			return "+" + strconv.Itoa(int(p.N))
		}
		return strconv.Itoa(int(p.N))
	case ScaleMultiply:
		return "x" + string(p.Factor)
	}
	return strconv.Itoa(int(p.N))
}

// Validate checks rollback parameters: nil (the previous revision) or a
// revision of 0 or more.
func (p *RollbackParams) Validate() error {
	if p != nil && p.ToRevision < 0 {
		return fmt.Errorf("rollback toRevision %d: want 0 (the previous revision) or a revision number", p.ToRevision)
	}
	return nil
}

// ValidateAction checks an action and the parameters it takes, as the
// executor reads them: a known action, valid ScaleParams for a scale,
// valid RollbackParams (or none) for a rollback.
func ValidateAction(a Action, scale *ScaleParams, rollback *RollbackParams) error {
	switch a {
	case ActionScale:
		return scale.Validate()
	case ActionRollback:
		return rollback.Validate()
	}
	return a.Validate()
}
