package v1alpha1

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Action is what a Remediation does to its target.
// +kubebuilder:validation:Enum=restart;scale;rollback;evict-pod;run-job
type Action string

const (
	ActionRestart  Action = "restart"   // rollout restart
	ActionScale    Action = "scale"     // change the replica count (ScaleParams)
	ActionRollback Action = "rollback"  // rollout undo (RollbackParams)
	ActionEvictPod Action = "evict-pod" // evict one pod through the Eviction API (EvictParams)
	ActionRunJob   Action = "run-job"   // create a Job from a CronJob's template (RunJobParams)
)

// Actions are the actions alertmedic knows, in the order messages list them.
func Actions() []Action {
	return []Action{ActionRestart, ActionScale, ActionRollback, ActionEvictPod, ActionRunJob}
}

// Validate says whether a is an action alertmedic knows.
func (a Action) Validate() error {
	switch a {
	case ActionRestart, ActionScale, ActionRollback, ActionEvictPod, ActionRunJob:
		return nil
	}
	return fmt.Errorf("action %q: want restart, scale, rollback, evict-pod or run-job", string(a))
}

// Kinds are the target kinds action a acts on: a Pod for evict-pod, a
// CronJob for run-job, a workload (Deployment, StatefulSet, DaemonSet) for
// the others; scale and rollback narrow that further where they must.
func (a Action) Kinds() []Kind {
	switch a {
	case ActionEvictPod:
		return []Kind{KindPod}
	case ActionRunJob:
		return []Kind{KindCronJob}
	}
	return []Kind{KindDeployment, KindStatefulSet, KindDaemonSet}
}

// ValidateKind says whether action a can act on a target of kind k.
func (a Action) ValidateKind(k Kind) error {
	if err := k.Validate(); err != nil {
		return err
	}
	if slices.Contains(a.Kinds(), k) {
		return nil
	}
	kinds := a.Kinds()
	names := make([]string, len(kinds))
	for i, w := range kinds {
		names[i] = string(w)
	}
	want := names[len(names)-1]
	if len(names) > 1 {
		want = strings.Join(names[:len(names)-1], ", ") + " or " + want
	}
	return fmt.Errorf("action %s does not act on a %s: want a target of kind %s", a, k, want)
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

// MaxSequenceSteps is the most steps a rule's sequence may have
// (spec.sequence.of; spec.then holds the steps after the first).
const MaxSequenceSteps = 5

// Kind is a kind of object alertmedic acts on: a workload (apps/v1), a
// Pod (evict-pod) or a CronJob (run-job).
// +kubebuilder:validation:Enum=Deployment;StatefulSet;DaemonSet;Pod;CronJob
type Kind string

const (
	KindDeployment  Kind = "Deployment"
	KindStatefulSet Kind = "StatefulSet"
	KindDaemonSet   Kind = "DaemonSet"
	KindPod         Kind = "Pod"     // core/v1, for evict-pod
	KindCronJob     Kind = "CronJob" // batch/v1, for run-job
)

// Kinds are the kinds alertmedic acts on.
func Kinds() []Kind {
	return []Kind{KindDeployment, KindStatefulSet, KindDaemonSet, KindPod, KindCronJob}
}

// Validate says whether k is a kind alertmedic acts on.
func (k Kind) Validate() error {
	switch k {
	case KindDeployment, KindStatefulSet, KindDaemonSet, KindPod, KindCronJob:
		return nil
	}
	return fmt.Errorf("kind %q: want Deployment, StatefulSet, DaemonSet, Pod or CronJob", string(k))
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
	switch p.HPA {
	case "", HPARefuse:
		if p.HPAFor != nil {
			return fmt.Errorf("scale hpaFor %s: only with hpa: raise", p.HPAFor.Duration)
		}
	case HPARaise:
		if p.HPAFor == nil || p.HPAFor.Duration < time.Second || p.HPAFor.Duration > 24*time.Hour {
			return fmt.Errorf("scale hpa: raise needs hpaFor between 1s and 24h")
		}
	default:
		return fmt.Errorf("scale hpa %q: want refuse or raise", string(p.HPA))
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

// Validate checks evict-pod parameters: nil (the defaults) or a
// minAvailable of 0 or more.
func (p *EvictParams) Validate() error {
	if p != nil && p.MinAvailable < 0 {
		return fmt.Errorf("evict minAvailable %d: want 0 (no guard) or more", p.MinAvailable)
	}
	return nil
}

// Params are an action's parameters as a record holds them: the block of
// its action, or none.
type Params struct {
	Scale    *ScaleParams
	Rollback *RollbackParams
	Evict    *EvictParams
}

// ValidateAction checks an action and the parameters it takes, as the
// executor reads them: a known action, valid ScaleParams for a scale,
// valid RollbackParams (or none) for a rollback, valid EvictParams (or
// none) for evict-pod.
func ValidateAction(a Action, p Params) error {
	switch a {
	case ActionScale:
		return p.Scale.Validate()
	case ActionRollback:
		return p.Rollback.Validate()
	case ActionEvictPod:
		return p.Evict.Validate()
	}
	return a.Validate()
}
