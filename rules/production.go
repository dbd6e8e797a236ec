package rules

import (
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/alertmanager/pkg/labels"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/policy"
)

// LintOptions is what check is told of the deployment, beyond the rule
// files, for the warnings that depend on it.
type LintOptions struct {
	// ProductionNamespaces are the namespaces the policy calls production:
	// path.Match patterns such as "prod-*". Any action in them without a
	// person's approval is risky.
	ProductionNamespaces []string
}

// Lint returns the warnings of the set (Warnings) with those that depend
// on opts, in file order.
func (s *Set) Lint(opts LintOptions) []Problem {
	if s == nil {
		return nil
	}
	out := s.Warnings()
	if len(opts.ProductionNamespaces) > 0 {
		an := newAnalysis()
		for _, r := range s.rules {
			if msg := productionRisk(an, r, opts.ProductionNamespaces); msg != "" {
				out = append(out, Problem{File: r.File, Line: r.namespaceAt.line, Column: r.namespaceAt.column,
					Severity: SeverityWarning, Message: msg})
			}
		}
	}
	sortProblems(out, s.order)
	return out
}

// position is where a field is in its file.
type position struct{ line, column int }

// verbs say what each action does, for messages.
var verbs = map[v1alpha1.Action]string{
	v1alpha1.ActionRestart: "restarts", v1alpha1.ActionScale: "scales", v1alpha1.ActionRollback: "rolls back",
	v1alpha1.ActionEvictPod: "evicts", v1alpha1.ActionRunJob: "runs a Job from",
}

// productionRisk says how rule r can act in a production namespace
// (patterns) without a person approving it, or "" when it cannot, or a
// person must approve it, or the rule accepts the risk with
// approval.required: false. The target namespace is production when it is
// written out and a pattern matches it, or when it is a label
// ('{{ .Labels.namespace }}') that the rule's equality or regular expression
// matchers let take a value a pattern matches. A label no such matcher
// restricts is not reported: the rule may act anywhere, and the allow and
// deny lists of the policy decide where.
func productionRisk(an *analysis, r *Rule, patterns []string) string {
	if r.NamespaceTemplate == nil {
		return ""
	}
	if len(r.Then) > 0 {
		// A sequence: its approval is the rule's, for every step; each
		// step has its own target.
		if r.Approval.Required || r.approvalDeclined {
			return ""
		}
		for i := range 1 + len(r.Then) {
			st := r.step(i + 1)
			one := *r
			one.Then, one.OnFailure = nil, nil
			one.Kind, one.NamespaceTemplate, one.NameTemplate, one.Action = st.Kind, st.NamespaceTemplate, st.NameTemplate, st.Action
			if risk := productionRisk(an, &one, patterns); risk != "" {
				return strings.Replace(risk, fmt.Sprintf("rule %q", r.Name), fmt.Sprintf("step %d of the sequence of rule %q", i+1, r.Name), 1)
			}
		}
		return ""
	}
	// The first action of the rule or its onFailure chain that runs
	// without a person and without the risk accepted.
	who, action := fmt.Sprintf("rule %q", r.Name), r.Action
	if r.Approval.Required || r.approvalDeclined {
		who = fmt.Sprintf("onFailure of rule %q", r.Name)
		for st := r.OnFailure; ; st = st.OnFailure {
			if st == nil {
				return ""
			}
			if !st.Approval.Required && !st.approvalDeclined {
				action = st.Action
				break
			}
			who = "onFailure." + who
		}
	}
	t := r.NamespaceTemplate
	fix := approvalHint
	if t.fixed {
		p, ok := policy.MatchNamespace(patterns, t.literal)
		if !ok {
			return ""
		}
		return fmt.Sprintf("%s %s %s %s/%s without approval, and %s is a production namespace (--production-namespaces matches it with %q); %s",
			who, verbs[action], r.Kind, t.literal, r.NameTemplate, t.literal, p, fix)
	}
	if t.field != "Labels" {
		return ""
	}
	label := t.key
	var restricting []*labels.Matcher
	var values []string
	finite := false
	for _, m := range r.Matchers {
		if m.Name != label || m.Type != labels.MatchEqual && m.Type != labels.MatchRegexp {
			continue
		}
		restricting = append(restricting, m)
		if a := an.accepted(m); a.finite && !finite {
			values, finite = a.values, true
		}
	}
	if len(restricting) == 0 {
		return ""
	}
	if !finite {
		values = examples(patterns)
	}
	// The values the label can take that a pattern calls production.
	var prod, by []string
	for _, v := range values {
		p, ok := policy.MatchNamespace(patterns, v)
		if !ok || !labelAccepts(r.Matchers, label, v) || slices.Contains(prod, v) {
			continue
		}
		prod = append(prod, v)
		if q := fmt.Sprintf("%q", p); !slices.Contains(by, q) {
			by = append(by, q)
		}
		if !finite {
			break // one example is enough
		}
	}
	if len(prod) == 0 {
		return ""
	}
	ms := make([]string, len(restricting))
	for i, m := range restricting {
		ms[i] = m.String()
	}
	be := orList(prod)
	if !finite {
		be = "a production namespace such as " + prod[0]
	}
	lets := "lets"
	if len(ms) > 1 {
		lets = "let"
	}
	return fmt.Sprintf("%s %s a %s in namespace %s without approval, and that may be a production namespace: %s %s label %s be %s, which --production-namespaces matches (%s); %s, or leave production namespaces out of the matchers",
		who, verbs[action], r.Kind, singleQuote(t.text), strings.Join(ms, " and "), lets, label, be, strings.Join(by, ", "), fix)
}

// labelAccepts reports whether value v of label passes every matcher of ms
// on that label.
func labelAccepts(ms labels.Matchers, label, v string) bool {
	for _, m := range ms {
		if m.Name == label && !m.Matches(v) {
			return false
		}
	}
	return true
}

// examples returns names that the patterns may match (the caller checks):
// each pattern with its wildcards filled in a few ways. A regular
// expression that accepts none of them is taken to accept no production
// namespace, so a doubtful case gives no warning rather than a wrong one.
func examples(patterns []string) []string {
	var out []string
	for _, p := range patterns {
		for _, fill := range []string{"x", "", "1", "a1"} {
			var b strings.Builder
			for i := 0; i < len(p); i++ {
				switch c := p[i]; c {
				case '*':
					b.WriteString(fill)
				case '?':
					b.WriteString("x")
				case '[':
					end := strings.IndexByte(p[i:], ']')
					if end < 0 {
						b.WriteByte(c)
						continue
					}
					class := strings.TrimPrefix(p[i+1:i+end], "^")
					if len(class) > 0 {
						b.WriteByte(class[0])
					}
					i += end
				case '\\':
					if i+1 < len(p) {
						i++
						b.WriteByte(p[i])
					}
				default:
					b.WriteByte(c)
				}
			}
			out = append(out, b.String())
		}
	}
	return out
}

// orList writes values as "a", "a or b", "a, b or c".
func orList(values []string) string {
	if len(values) == 1 {
		return values[0]
	}
	return strings.Join(values[:len(values)-1], ", ") + " or " + values[len(values)-1]
}
