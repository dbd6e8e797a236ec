package server

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/common/promslog"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/engine/controller"
	"github.com/alertmedic/alertmedic/policy"
	"github.com/alertmedic/alertmedic/silences"
)

// Options are what 'alertmedic serve' runs with: its command-line flags,
// one field each. Errors name the flags (--rules, --token-file, ...), since
// that is where a user sets them.
type Options struct {
	// Listen is the address to serve HTTP on (":8080").
	Listen string
	// RulePaths are rule files or directories of *.yaml/*.yml files
	// (required).
	RulePaths []string
	// Kubeconfig is the kubeconfig path; empty: $KUBECONFIG, the in-cluster
	// config, ~/.kube/config.
	Kubeconfig string
	// TokenFile holds the bearer token Alertmanager must send; empty: the
	// token in $ALERTMEDIC_WEBHOOK_TOKEN (TokenEnv).
	TokenFile string
	// BasicAuthUser is the username of Alertmanager's basic auth, with the
	// password of BasicAuthPasswordFile (or BasicAuthPasswordEnv).
	BasicAuthUser         string
	BasicAuthPasswordFile string
	// InsecureNoAuth accepts webhooks without authentication (local
	// testing only). Without it, serve refuses to start with no credential.
	InsecureNoAuth bool
	// TLSCertFile and TLSKeyFile, together, serve HTTPS; the pair is
	// reloaded when the files change.
	TLSCertFile, TLSKeyFile string
	// MaxBodyBytes is the largest webhook body accepted; larger gets 413.
	MaxBodyBytes int64
	// HTTP are the HTTP server's limits on each connection.
	HTTP HTTPTimeouts
	// AcceptTimeout is the time allowed to record a notification before
	// answering 503; shorter than HTTP.Write.
	AcceptTimeout time.Duration
	// KubeAPITimeout bounds each Kubernetes API request (watches excepted).
	KubeAPITimeout time.Duration
	// Workers is the number of remediations run at once on the leader.
	Workers int
	// DryRun plans, logs and records Events, but changes no workload.
	DryRun bool
	// GitOps is what to do with targets Argo CD or Flux manage, for rules
	// that do not say: refuse, allow, or "" (refuse scale and rollback,
	// allow restart).
	GitOps v1alpha1.GitOps
	// Namespace holds the Remediation records and the leader Lease.
	Namespace string
	// Identity is this replica's name in the Lease and the records; empty:
	// the host name.
	Identity string
	// LeaderElect executes only while holding the Lease; false: this
	// replica always executes (a single replica).
	LeaderElect bool
	// LibraryLogs sends client-go's logs through serve's logger. It is
	// process-wide and not safe to set while client-go logs: for the
	// process's one serve, set before anything runs.
	LibraryLogs bool
	// LeaseDuration is how long a standby waits, from the last change of
	// the Lease it saw (it watches the Lease), before taking it over.
	LeaseDuration time.Duration
	// RenewDeadline is how long the leader goes on without a successful
	// renewal, from when the last good one was sent, before it stops.
	RenewDeadline time.Duration
	// RetryPeriod is how often the leader renews the Lease, and how soon a
	// standby tries again after a failed takeover.
	RetryPeriod time.Duration
	// Policy is the deployment's policy, which the runner enforces.
	Policy controller.Policy
	// KubeQPS and KubeBurst are the client's rate limits on the API server.
	KubeQPS   float64
	KubeBurst int
	// WatchRules reloads the rule files when they change on disk (as SIGHUP
	// does); changes within WatchDebounce of each other are one reload.
	WatchRules    bool
	WatchDebounce time.Duration
	// FieldManager is the field manager name on every write.
	FieldManager string
	// ShutdownTimeout is how long a shutdown waits for running remediations.
	ShutdownTimeout time.Duration
	// SeenSize is how many recorded alert episodes are remembered for an
	// hour, so that re-sends cost no API call.
	SeenSize int
	// Log configures the logger: level, format, and the Writer logs go to.
	Log promslog.Config
	// AlertmanagerURL is the Alertmanager that silences an alert while its
	// remediation is verified (rules with silence: true); empty: none, and
	// such records note that they were not silenced.
	AlertmanagerURL string
	// Slack configures Slack approvals; without a bot token Slack is off.
	Slack SlackOptions
	// Version is alertmedic's version, in the client's User-Agent and the
	// start-up log line.
	Version string
}

// HTTPTimeouts are the HTTP server's limits on each connection.
type HTTPTimeouts struct {
	ReadHeader, Read, Write, Idle time.Duration
}

// The webhook's credentials when no file is given: the bearer token, and
// the basic-auth username and password.
const (
	TokenEnv             = "ALERTMEDIC_WEBHOOK_TOKEN"
	BasicAuthUserEnv     = "ALERTMEDIC_WEBHOOK_BASIC_AUTH_USER"
	BasicAuthPasswordEnv = "ALERTMEDIC_WEBHOOK_BASIC_AUTH_PASSWORD"
)

// ErrUsage is in every error that is a mistake in the options themselves
// (for the command line: exit code 2). Such an error's message is complete
// as it is: errors.Is(err, ErrUsage) tells it apart.
var ErrUsage = errors.New("usage")

// usageError is a mistake in the options; its message is printed as it is.
type usageError struct{ msg string }

func (e *usageError) Error() string        { return e.msg }
func (e *usageError) Is(target error) bool { return target == ErrUsage }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// Validate checks what the options alone can tell, without reading a file
// or the environment. Its errors are usage errors (ErrUsage).
func (o Options) Validate() error {
	if err := CheckNamespaceFlags(o.Policy.Limits); err != nil {
		return usagef("serve: %v", err)
	}
	switch o.GitOps {
	case "", v1alpha1.GitOpsRefuse, v1alpha1.GitOpsAllow:
	default:
		return usagef("serve: --gitops %q: want refuse or allow (or leave it out: refuse scale and rollback, allow restart)", string(o.GitOps))
	}
	if o.AlertmanagerURL != "" {
		if _, err := silences.New(o.AlertmanagerURL, nil); err != nil {
			return usagef("serve: --alertmanager-url: %v", err)
		}
	}
	if len(o.RulePaths) == 0 {
		return usagef("serve: --rules is required (a rule file or a directory of them)")
	}
	if o.Policy.MaxRecords < 0 {
		return usagef("serve: --max-records %d: want a number of records, or 0 for no bound", o.Policy.MaxRecords)
	}
	if o.Policy.BreakerHold != controller.BreakerSkip && o.Policy.BreakerHold != controller.BreakerApproval {
		return usagef("serve: --breaker-hold %q: want skip or approval", o.Policy.BreakerHold)
	}
	for _, v := range o.Policy.RequireApproval {
		if err := controller.ValidRequireApproval(v); err != nil {
			return usagef("serve: --require-approval %v", err)
		}
	}
	if (o.TLSCertFile == "") != (o.TLSKeyFile == "") {
		return usagef("serve: --tls-cert-file and --tls-key-file go together")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"http-read-header-timeout", o.HTTP.ReadHeader}, {"http-read-timeout", o.HTTP.Read},
		{"http-write-timeout", o.HTTP.Write}, {"http-idle-timeout", o.HTTP.Idle},
		{"accept-timeout", o.AcceptTimeout}, {"kube-api-timeout", o.KubeAPITimeout},
	} {
		if d.v <= 0 {
			return usagef("serve: --%s %s: must be positive", d.name, d.v)
		}
	}
	if o.LeaderElect {
		switch {
		case o.LeaseDuration < time.Second:
			return usagef("serve: --leader-elect-lease-duration %s: want at least 1s (the Lease counts whole seconds)", o.LeaseDuration)
		case o.RenewDeadline <= 0 || o.RenewDeadline >= o.LeaseDuration:
			return usagef("serve: --leader-elect-renew-deadline %s: must be positive and shorter than --leader-elect-lease-duration %s, so that a leader that cannot renew has stopped before a standby takes over", o.RenewDeadline, o.LeaseDuration)
		case o.RetryPeriod <= 0 || o.RetryPeriod >= o.RenewDeadline:
			return usagef("serve: --leader-elect-retry-period %s: must be positive and shorter than --leader-elect-renew-deadline %s", o.RetryPeriod, o.RenewDeadline)
		}
	}
	if o.HTTP.Write <= o.AcceptTimeout {
		return usagef("serve: --http-write-timeout %s must be longer than --accept-timeout %s, or the 503 of a slow notification cannot be written", o.HTTP.Write, o.AcceptTimeout)
	}
	return nil
}

// CheckNamespaceFlags reports a --allow-namespaces or --deny-namespaces
// pattern that cannot match anything (the policy would silently ignore it),
// naming the flag.
func CheckNamespaceFlags(l policy.Limits) error {
	for _, f := range []struct {
		flag     string
		patterns []string
	}{{"--allow-namespaces", l.AllowNamespaces}, {"--deny-namespaces", l.DenyNamespaces}} {
		for _, p := range f.patterns {
			if err := policy.CheckPattern(p); err != nil {
				return fmt.Errorf("%s: %w", f.flag, err)
			}
		}
	}
	return nil
}
