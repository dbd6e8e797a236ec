package rules

import (
	"strconv"
	"time"
)

// Action names what a rule does to its target.
type Action string

const (
	ActionRestart  Action = "restart"
	ActionScale    Action = "scale"
	ActionRollback Action = "rollback"
)

// Target is the workload a rule acts on, rendered for one alert.
type Target struct {
	Kind      string // Deployment, StatefulSet or DaemonSet
	Namespace string
	Name      string
}

func (t Target) String() string { return t.Kind + "/" + t.Namespace + "/" + t.Name }

// ScaleOp says how a scale rule's replicas value is read.
type ScaleOp string

const (
	ScaleTo       ScaleOp = "to"       // "4": set replicas to N
	ScaleBy       ScaleOp = "by"       // "+2", "-1": add N (may be negative)
	ScaleMultiply ScaleOp = "multiply" // "x2", "x1.5": multiply, rounded up
)

// Scale holds the parameters of a scale action, already validated.
type Scale struct {
	Op     ScaleOp
	N      int32   // for ScaleTo and ScaleBy
	Factor float64 // for ScaleMultiply
	Min    int32   // lower bound, 0 when unset
	Max    int32   // upper bound, 0 when unset (unbounded)
}

// Replicas writes the replicas spec the way a rule file does: "4" (to),
// "+2" or "-1" (by), "x2" or "x1.5" (multiply).
func (s Scale) Replicas() string {
	switch s.Op {
	case ScaleBy:
		if s.N > 0 {
			return "+" + strconv.Itoa(int(s.N))
		}
		return strconv.Itoa(int(s.N))
	case ScaleMultiply:
		return "x" + strconv.FormatFloat(s.Factor, 'f', -1, 64)
	}
	return strconv.Itoa(int(s.N))
}

// Rollback holds the parameters of a rollback action.
type Rollback struct {
	ToRevision int64 // 0 means the previous revision
}

// Budget bounds how often actions may run within Window: PerRule by this
// rule on any target, PerTarget on one target by any rule. 0: no limit.
type Budget struct {
	PerRule   int
	PerTarget int
	Window    time.Duration
}

// Approval says whether a human must approve the action first.
type Approval struct {
	Required bool
	Channel  string
	Users    []string
	Groups   []string
	Timeout  time.Duration
}
