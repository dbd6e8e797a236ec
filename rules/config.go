package rules

import (
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

	"github.com/alertmedic/alertmedic/policy"
)

// The YAML shapes of a rule file (format v1). They mirror the file as written;
// decode.go fills them from the yaml.Node tree, defaults are applied by
// applyDefaults, and compile.go validates them into Rules. Nothing outside
// loading sees these types.

// fileConfig is one rule file.
type fileConfig struct {
	Rules []*ruleConfig `yaml:"rules"`
}

// ruleConfig is one item of rules.
type ruleConfig struct {
	Name     string          `yaml:"name"`
	Match    []string        `yaml:"match"`
	Target   *targetConfig   `yaml:"target"`
	Action   string          `yaml:"action"`
	Scale    *scaleConfig    `yaml:"scale,omitempty"`
	Rollback *rollbackConfig `yaml:"rollback,omitempty"`
	Evict    *evictConfig    `yaml:"evict,omitempty"`
	RunJob   *runJobConfig   `yaml:"runJob,omitempty"`
	Continue bool            `yaml:"continue,omitempty"`
	Cooldown string          `yaml:"cooldown,omitempty"`
	Budget   *budgetConfig   `yaml:"maxPerWindow,omitempty"`
	Approval *approvalConfig `yaml:"approval,omitempty"`
	Verify   *verifyConfig   `yaml:"verify,omitempty"`
	Silence  bool            `yaml:"silence,omitempty"`
	Notify   string          `yaml:"notify,omitempty"`
	GitOps   string          `yaml:"gitops,omitempty"`
	// OnFailure is the escalation: a step (a ruleConfig holding only the
	// stepKeys) taken when this action fails. Its schema is the "step"
	// definition, which refers to itself.
	OnFailure *ruleConfig `yaml:"onFailure,omitempty" schema:"step"`
	// Sequence is the steps of action: sequence, in order: each a
	// ruleConfig holding only the sequenceStepKeys. Its schema is the
	// "sequenceStep" definition.
	Sequence []*ruleConfig `yaml:"sequence,omitempty" schema:"sequenceStep"`

	depth   int                   // 0 for a rule, n for its n-th onFailure step
	seq     int                   // n for the n-th step of a sequence (from 1), else 0
	label   string                // how messages name the rule: `rule "x"` or `rule #2`, or the step: `onFailure of rule "x"`
	rule    string                // how messages name the rule the step belongs to (label, for a rule)
	node    *yaml.Node            // the rule's mapping
	fields  map[string]fieldNodes // every field present, by path: "target.kind", "match[1]"
	typos   map[string]bool       // fields reported as misspelled (by path), so not also as missing
	invalid bool                  // decoding reported an error in this rule
}

type targetConfig struct {
	Kind      string `yaml:"kind"`
	Namespace string `yaml:"namespace"`
	Name      string `yaml:"name"`
}

type scaleConfig struct {
	Replicas string `yaml:"replicas"`
	Min      *int64 `yaml:"min,omitempty"`
	Max      *int64 `yaml:"max,omitempty"`
	HPA      string `yaml:"hpa,omitempty"`
	HPAFor   string `yaml:"hpaFor,omitempty"`
}

type rollbackConfig struct {
	ToRevision *int64 `yaml:"toRevision,omitempty"`
}

type evictConfig struct {
	AllowUnowned *bool  `yaml:"allowUnowned,omitempty"`
	MinAvailable *int64 `yaml:"minAvailable,omitempty"`
}

type runJobConfig struct {
	Wait    *bool  `yaml:"wait,omitempty"`
	Timeout string `yaml:"timeout,omitempty"`
}

type budgetConfig struct {
	PerRule   *int64 `yaml:"perRule,omitempty"`
	PerTarget *int64 `yaml:"perTarget,omitempty"`
	Window    string `yaml:"window,omitempty"`
}

type approvalConfig struct {
	Required  *bool           `yaml:"required,omitempty"`
	Channel   string          `yaml:"channel,omitempty"`
	Approvers approversConfig `yaml:"approvers,omitempty"`
	Timeout   string          `yaml:"timeout,omitempty"`
}

type verifyConfig struct {
	Rollout       *bool                `yaml:"rollout,omitempty"`
	Timeout       string               `yaml:"timeout,omitempty"`
	AlertResolved *alertResolvedConfig `yaml:"alertResolved,omitempty"`
}

type alertResolvedConfig struct {
	Within string `yaml:"within"`
}

type approversConfig struct {
	Users  []string `yaml:"users,omitempty"`
	Groups []string `yaml:"groups,omitempty"`
}

// fieldNodes locates one field of a rule in its file. bad is set when the
// value had the wrong YAML type; that is already reported, so validation
// skips the field rather than reporting it missing.
type fieldNodes struct {
	key, value *yaml.Node
	bad        bool
}

// Limits and defaults of the rule format, in one place.
const (
	maxRuleName = 63 // a DNS-1123 label, so a name fits in Kubernetes names and labels

	// The longest cooldown: the executor's memory of recent actions keeps
	// each target this long (policy.Book).
	maxCooldown = policy.MaxCooldown
	// A budget's window: long enough for "3 per day", short enough that the
	// executor's memory of recent actions stays small (policy.Book keeps it).
	maxBudgetWindow     = policy.MaxBudgetWindow
	defaultBudgetWindow = time.Hour

	// Verification after an action: every action's rollout is checked by
	// default, for at most this long; any check's window is within bounds.
	defaultVerifyTimeout = 5 * time.Minute
	// run-job with wait: true: how long the Job may take.
	defaultJobTimeout = 30 * time.Minute
	minVerifyWindow   = time.Second
	maxVerifyWindow   = 24 * time.Hour

	defaultApprovalTimeout = 30 * time.Minute
	minApprovalTimeout     = time.Minute
	maxApprovalTimeout     = 24 * time.Hour
)

// applyDefaults fills in what a rule leaves out. It is the only place
// defaults are set.
//   - approval.required: true when an approval block is present, so a block
//     that names a channel and approvers never silently runs unapproved.
//   - approval.timeout: 30m.
//   - verify.rollout: true for every action but run-job (write verify:
//     {rollout: false} to end the record when the API call succeeds), and
//     verify.timeout: 5m. For evict-pod the rollout is the owning
//     workload's; run-job waits for its Job only with runJob.wait: true.
//   - runJob.timeout: 30m when runJob.wait is true.
//   - the same for each onFailure step and each step of a sequence, which
//     are checked like the rule (a sequence rule has no checks of its own).
//
// Everything else defaults to its zero value: continue false, no cooldown,
// scale.min 0 and scale.max unbounded, rollback to the previous revision.
func (rc *ruleConfig) applyDefaults() {
	if rc.OnFailure != nil {
		rc.OnFailure.applyDefaults()
	}
	for _, st := range rc.Sequence {
		st.applyDefaults()
	}
	if a := rc.Approval; a != nil {
		if !rc.has("approval.required") {
			required := true
			a.Required = &required
		}
		if !rc.has("approval.timeout") {
			a.Timeout = model.Duration(defaultApprovalTimeout).String()
		}
	}
	if j := rc.RunJob; j != nil && j.Wait != nil && *j.Wait && !rc.has("runJob.timeout") {
		j.Timeout = model.Duration(defaultJobTimeout).String()
	}
	if rc.Action == "run-job" {
		return // its check is runJob.wait; verify may only add alertResolved
	}
	if rc.Action == actionSequence {
		return // each step has its own checks
	}
	if rc.Verify == nil && !rc.has("verify") {
		rc.Verify = &verifyConfig{}
	}
	if v := rc.Verify; v != nil {
		if !rc.has("verify.rollout") {
			on := true
			v.Rollout = &on
		}
		if !rc.has("verify.timeout") {
			v.Timeout = model.Duration(defaultVerifyTimeout).String()
		}
	}
}

// has reports whether path was written in the rule, whatever its value.
func (rc *ruleConfig) has(path string) bool {
	_, ok := rc.fields[path]
	return ok
}

// ok reports whether path was written with a value of the right YAML type.
func (rc *ruleConfig) ok(path string) bool {
	f, ok := rc.fields[path]
	return ok && !f.bad
}

// bad reports whether path was written with a value of the wrong YAML type
// (already reported).
func (rc *ruleConfig) bad(path string) bool {
	f, ok := rc.fields[path]
	return ok && f.bad
}

// at returns the node of path's value, or of the closest enclosing field
// that is present, or the rule itself.
func (rc *ruleConfig) at(path string) *yaml.Node {
	for p := path; p != ""; p = parentPath(p) {
		if f, ok := rc.fields[p]; ok {
			return f.value
		}
	}
	return rc.node
}

// keyAt returns the node of path's key, or what at returns.
func (rc *ruleConfig) keyAt(path string) *yaml.Node {
	if f, ok := rc.fields[path]; ok {
		return f.key
	}
	return rc.at(path)
}

func parentPath(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '.' || p[i] == '[' {
			return p[:i]
		}
	}
	return ""
}
