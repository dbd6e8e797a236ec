// Package chatops posts approval requests for risky remediations to Slack and
// handles the Approve/Deny button clicks that come back, verifying Slack's
// request signatures. It is an edge: it knows Slack and HTTP, and reaches the
// rest of alertmedic only through small interfaces.
package chatops
