// Package engine is the path from an accepted notification to a finished
// remediation, in three rooms: ingest turns notifications into Remediation
// records (every replica), controller executes them (the leader), and
// approval lets a person decide the ones that wait (chatops, the CLI).
// What the rooms share lives here: the Metrics, registered once, and the
// Decision values of alertmedic_engine_decisions_total, which both ingest
// and the controller count.
package engine
