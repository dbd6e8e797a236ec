// Package engine ties the parts together on the one path every feature hangs
// off: it takes notifications accepted by the webhook, matches each firing
// alert against the rules, plans a remediation per match, and runs the plans
// on a bounded pool of workers through the remediations executor.
package engine
