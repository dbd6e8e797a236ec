// Package policy decides whether an action may run now. It keeps the book of
// recent actions and applies the cooldown per target, the maxPerWindow
// budgets per rule and per target, the circuit breaker and the namespaces
// alertmedic may act in; it also names one firing episode of an alert, which
// is acted on at most once. It is plain data and time, with no Kubernetes in
// it, so that the executing replica and 'alertmedic test' decide alike.
package policy
