// Package approval is how a person decides a remediation that waits for
// one: Decide approves or denies a record, once, guarded by its
// resourceVersion, and DecidedError says who decided first. It is all that
// chatops and 'alertmedic approve|deny|pending' need of the engine, and it
// knows only the Remediation record, not how records are made or run.
package approval
