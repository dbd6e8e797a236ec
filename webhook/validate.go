package webhook

import (
	"fmt"
	"strings"

	"github.com/prometheus/common/model"
)

const (
	supportedVersion = "4"
	statusFiring     = "firing"
	statusResolved   = "resolved"

	// maxProblems bounds how many problems one 400 answer lists.
	maxProblems = 10
)

// invalidError lists what is wrong with a decoded notification, each problem
// naming the field (alerts[3].startsAt) and what is expected.
type invalidError struct {
	problems []string
	omitted  int
}

func (e *invalidError) add(format string, args ...any) {
	if len(e.problems) == maxProblems {
		e.omitted++
		return
	}
	e.problems = append(e.problems, fmt.Sprintf(format, args...))
}

func (e *invalidError) Error() string {
	s := "invalid notification: " + strings.Join(e.problems, "; ")
	if e.omitted > 0 {
		s += fmt.Sprintf("; and %d more problems", e.omitted)
	}
	return s
}

// tally counts the alerts of a valid notification by status.
type tally struct {
	firing, resolved int
}

// validate checks msg against what alertmedic relies on and fills in
// fingerprints Alertmanager would have sent. It returns *invalidError when
// msg must be refused.
func validate(msg *Message) (tally, error) {
	var t tally
	if msg.Version != supportedVersion {
		// Other versions may differ in every field: report only this.
		if msg.Version == "" {
			return t, fmt.Errorf("missing payload version: alertmedic accepts Alertmanager's webhook payload version %q; send from an Alertmanager webhook_configs receiver", supportedVersion)
		}
		return t, fmt.Errorf("unsupported payload version %q: alertmedic accepts Alertmanager's webhook payload version %q", clip(msg.Version), supportedVersion)
	}
	var bad invalidError
	if msg.Data == nil {
		e := &invalidError{}
		e.add("status: %s", statusProblem(""))
		e.add("alerts: required, the notification carries no alerts")
		return t, e
	}
	if !validStatus(msg.Status) {
		bad.add("status: %s", statusProblem(msg.Status))
	}
	if len(msg.Alerts) == 0 {
		bad.add("alerts: must not be empty")
	}
	for i := range msg.Alerts {
		a := &msg.Alerts[i]
		switch a.Status {
		case statusFiring:
			t.firing++
		case statusResolved:
			t.resolved++
		default:
			bad.add("alerts[%d].status: %s", i, statusProblem(a.Status))
		}
		if len(a.Labels) == 0 {
			bad.add("alerts[%d].labels: required, an alert is identified by its labels", i)
		}
		if a.StartsAt.IsZero() {
			bad.add("alerts[%d].startsAt: required", i)
		}
		switch {
		case a.Fingerprint == "":
			if len(a.Labels) > 0 {
				a.Fingerprint = Fingerprint(a.Labels)
			}
		case !isFingerprint(a.Fingerprint):
			bad.add("alerts[%d].fingerprint: must be 16 lower-case hex digits as Alertmanager writes it, or absent, got %q", i, clip(a.Fingerprint))
		}
	}
	if len(bad.problems) > 0 {
		e := bad // bad itself stays on the stack: valid notifications allocate nothing here
		return t, &e
	}
	return t, nil
}

func validStatus(s string) bool {
	return s == statusFiring || s == statusResolved
}

func statusProblem(got string) string {
	if got == "" {
		return fmt.Sprintf("required, must be %q or %q", statusFiring, statusResolved)
	}
	return fmt.Sprintf("must be %q or %q, got %q", statusFiring, statusResolved, clip(got))
}

// Fingerprint computes an alert's fingerprint from its labels exactly as
// Alertmanager does (types.Alert.Fingerprint), as a notification that
// carries none is given one.
func Fingerprint(labels map[string]string) string {
	ls := make(model.LabelSet, len(labels))
	for k, v := range labels {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	return ls.Fingerprint().String()
}

// isFingerprint reports whether s has the form of model.Fingerprint.String.
func isFingerprint(s string) bool {
	if len(s) != 16 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// clip shortens untrusted text quoted back in messages.
func clip(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
