// Package report summarises Remediation records per rule for a review: how
// many alert episodes each rule matched, what became of them (acted,
// skipped and why, approved, denied, expired, verified, failed), and how
// long alert to action and action to verified or resolved took. Build is a
// pure function of the records, the window and the clock; Text, Markdown
// and JSON render its rows.
package report
