// Package replay answers "what would these rules have done last week?"
// from Prometheus' alert history: it reads the ALERTS series over a range
// (Fetch, in bounded queries), rebuilds each alert's firing episodes
// (Episodes), plays them through the rules and policy as alertmedic serve
// decides (Run, with ruletest.Player), and renders per rule what would have
// happened, or what a change to the rules changes (Compare), as text,
// JSON, Markdown or GitHub workflow commands.
package replay
