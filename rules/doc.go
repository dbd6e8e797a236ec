// Package rules owns remediation rule files: their YAML shape, strict parsing
// with file:line:col errors, validation, and compilation into the
// api/v1alpha1 vocabulary (actions, workload kinds, scale and rollback
// parameters) with matchers and target templates. A compiled Set matches
// one Alertmanager alert against the rules in file order (first match wins
// unless a rule says continue) and renders the workload it targets; Explain
// gives the reasons behind a match, and loading (and Lint, for what depends
// on the deployment, such as its production namespaces) warns about rules
// that can never act or act riskily. It also owns the JSON Schema of rule
// files (Schema) and the strict YAML Decoder that the rule test format
// (package rules/ruletest) shares. It knows nothing of Kubernetes clients
// or Slack: a target is plain data.
package rules
