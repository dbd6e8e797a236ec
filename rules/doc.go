// Package rules owns remediation rule files: their YAML shape, strict parsing
// with file:line:col errors, validation, and compilation into matchers and
// target templates. A compiled Set matches one Alertmanager alert against the
// rules in file order (first match wins unless a rule says continue) and
// renders the workload it targets; Explain gives the reasons behind a match,
// and loading (and Lint, for what depends on the deployment, such as its
// production namespaces) warns about rules that can never act or act
// riskily. The package also owns
// the rule unit test format (LoadTestFile), whose sequence tests put actions
// to package policy as the executing replica does, and the JSON Schema of
// rule files (Schema). It knows nothing of Kubernetes clients or Slack: a
// target is plain data.
package rules
