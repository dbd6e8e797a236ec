// Package silences owns alertmedic's side of Alertmanager: it creates,
// finds and expires silences through Alertmanager's own v2 API client, and
// it writes and reads the comment that ties a silence to the Remediation
// record it was made for; it also asks whether an alert still fires, which
// verification uses when no resolved notification came. It knows nothing
// of Kubernetes.
package silences
