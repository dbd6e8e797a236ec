package remediations

// Action is what to do to a workload.
type Action string

const (
	ActionRestart  Action = "restart"
	ActionScale    Action = "scale"
	ActionRollback Action = "rollback"
)

// Kinds of workload alertmedic acts on.
const (
	KindDeployment  = "Deployment"
	KindStatefulSet = "StatefulSet"
	KindDaemonSet   = "DaemonSet"
)

// Target names one workload.
type Target struct {
	Kind      string
	Namespace string
	Name      string
}

func (t Target) String() string { return t.Kind + "/" + t.Namespace + "/" + t.Name }

// ScaleOp says how ScaleSpec is applied to the current replica count.
type ScaleOp string

const (
	ScaleTo       ScaleOp = "to"       // set replicas to N
	ScaleBy       ScaleOp = "by"       // add N (may be negative)
	ScaleMultiply ScaleOp = "multiply" // multiply by Factor, rounded up
)

// ScaleSpec is the parameter set of a scale action.
type ScaleSpec struct {
	Op     ScaleOp
	N      int32
	Factor float64
	Min    int32 // lower bound; 0 when unset
	Max    int32 // upper bound; 0 when unset (unbounded)
}

// RollbackSpec is the parameter set of a rollback action.
type RollbackSpec struct {
	ToRevision int64 // 0 means the previous revision
}

// Request is one action to perform.
type Request struct {
	Action   Action
	Target   Target
	Scale    ScaleSpec
	Rollback RollbackSpec

	// Why: carried into the Event and log line on the target.
	Rule        string
	AlertName   string
	Fingerprint string

	// DryRun plans and records without changing the workload (server-side
	// dry-run where the API supports it).
	DryRun bool

	// ExpectGeneration, when set, is the target's metadata.generation the
	// action was planned (and approved) against. If the target has changed
	// since, the action is Skipped as TargetChanged instead of being applied
	// to a workload nobody looked at. The write carries the resourceVersion
	// that was checked, so a change after the check is caught too.
	ExpectGeneration int64
}

// Outcome is how an action ended.
type Outcome string

const (
	Succeeded Outcome = "Succeeded"
	Skipped   Outcome = "Skipped" // nothing to do or refused for a stated reason (paused, already at target)
	Failed    Outcome = "Failed"
)

// Result tells what an action did.
type Result struct {
	Outcome Outcome
	Reason  string // CamelCase machine reason, e.g. Restarted, Scaled, RolledBack, Paused, AlreadyAtRevision
	Message string // one human sentence
	Before  string // state before, e.g. "replicas=4", "revision=7"
	After   string // state after (or planned, on dry-run)
	DryRun  bool
	// Generation is the target's metadata.generation as read for the
	// action (before it changed anything); 0 when it was not read.
	Generation int64
}
