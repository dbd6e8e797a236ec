// Package silences owns alertmedic's side of Alertmanager's silences: it
// creates, finds and expires them through Alertmanager's own v2 API client,
// and it writes and reads the comment that ties a silence to the
// Remediation record it was made for. It knows nothing of Kubernetes.
package silences
