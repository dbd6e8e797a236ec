package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/slack-go/slack"

	"github.com/alertmedic/alertmedic/engine/controller"
	"github.com/alertmedic/alertmedic/engine/ingest"
	"github.com/alertmedic/alertmedic/internal/server"
	"github.com/alertmedic/alertmedic/policy"
	"github.com/alertmedic/alertmedic/replay"
	"github.com/alertmedic/alertmedic/report"
	"github.com/alertmedic/alertmedic/webhook"
)

// Environment variables that give flags their default. The webhook's and
// Slack's secrets are read from the environment too, but not through a flag:
// see server.TokenEnv and server.SlackBotTokenEnv.
const (
	namespaceEnv     = "POD_NAMESPACE" // set from the pod's metadata by manifests/deployment.yaml
	identityEnv      = "POD_NAME"
	logLevelEnv      = "ALERTMEDIC_LOG_LEVEL"
	logFormatEnv     = "ALERTMEDIC_LOG_FORMAT"
	slackChannelEnv  = "ALERTMEDIC_SLACK_CHANNEL"
	slackApproverEnv = "ALERTMEDIC_SLACK_APPROVERS"
)

// commandLine is alertmedic's command line: one kingpin application, whose commands
// fill in the options of each command. Parse it with parse.
type commandLine struct {
	app     *kingpin.Application
	serve   server.Options
	check   checkOptions
	test    testOptions
	explain explainOptions
	decide  decideOptions
	report  reportOptions
	replay  replayOptions
	// extra holds the arguments given to a command that takes none (or more
	// than it takes); the command reports them as a usage error.
	extra []string
}

// exitCode is what the application's Terminate panics with: kingpin has
// printed the help or the version and the command is done.
type exitCode int

// newCLI defines every command and flag. Help and --version go to stdout,
// errors to stderr.
func newCLI(stdout, stderr io.Writer) *commandLine {
	c := &commandLine{}
	app := kingpin.New("alertmedic", "alertmedic remediates Kubernetes workloads when Alertmanager says so.")
	c.app = app
	app.UsageWriter(stdout).ErrorWriter(stderr)
	app.UsageTemplate(usageTemplate)
	app.UsageFuncs(usageFuncs)
	app.Terminate(func(code int) { panic(exitCode(code)) })
	app.HelpFlag.Short('h')
	app.Version(versionString())

	c.serveCommand(app.Command("serve", "Run the webhook server and the remediation engine."))
	c.checkCommand(app.Command("check", checkHelp))
	c.testCommand(app.Command("test", testHelp))
	c.explainCommand(app.Command("explain", explainHelp))
	c.replayCommand(app.Command("replay", replayHelp))
	app.Command("schema", schemaHelp).Arg("args", "").Hidden().StringsVar(&c.extra)
	c.decideCommand(app.Command("pending", "List the remediations waiting for approval."), false)
	c.decideCommand(app.Command("approve", "Approve a remediation waiting for approval (who may is up to Kubernetes RBAC)."), true)
	c.decideCommand(app.Command("deny", "Deny a remediation waiting for approval (who may is up to Kubernetes RBAC)."), true)
	c.reportCommand(app.Command("report", reportHelp))
	app.Command("version", "Print the version and build information.").Arg("args", "").Hidden().StringsVar(&c.extra)
	return c
}

// usageTemplate is kingpin's, with the first paragraph only of each command
// in the list of commands ('alertmedic COMMAND --help' shows all of it), and
// no Args heading over hidden arguments alone.
var usageTemplate = strings.NewReplacer(
	"{{.Help|Wrap 4}}", "{{.Help|firstParagraph|Wrap 4}}",
	"{{if .Context.Args -}}", "{{if .Context.Args|visibleArgs -}}",
).Replace(kingpin.DefaultUsageTemplate)

var usageFuncs = map[string]any{
	"firstParagraph": func(s string) string {
		p, _, _ := strings.Cut(s, "\n\n")
		return p
	},
	"visibleArgs": func(args []*kingpin.ArgModel) bool {
		for _, a := range args {
			if !a.Hidden {
				return true
			}
		}
		return false
	},
}

// parse parses args. It returns the command selected, or done with the exit
// code when kingpin has answered by itself (--help, --version).
func (c *commandLine) parse(args []string) (cmd string, done *int, err error) {
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		code, ok := p.(exitCode)
		if !ok {
			panic(p)
		}
		n := int(code)
		done = &n
	}()
	args = joinNegative(args)
	cmd, err = c.app.Parse(args)
	if err != nil {
		err = c.nameFlag(args, err)
	}
	return cmd, nil, err
}

// joinNegative writes "--flag -1" as "--flag=-1": kingpin takes a separate
// "-1" for a short flag, and --breaker-max=-1 is easy to get wrong. No
// short flag of alertmedic is a digit.
func joinNegative(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		if strings.HasPrefix(a, "--") && !strings.Contains(a, "=") && i+1 < len(args) && isNegativeNumber(args[i+1]) {
			a += "=" + args[i+1]
			i++
		}
		out = append(out, a)
	}
	return out
}

func isNegativeNumber(s string) bool {
	return len(s) > 1 && s[0] == '-' && (s[1] >= '0' && s[1] <= '9' || s[1] == '.')
}

// nameFlag adds to err, when a flag's value caused it, the flag and the
// value: kingpin reports only what the value's parser said.
func (c *commandLine) nameFlag(args []string, err error) error {
	ctx, perr := c.app.ParseContext(args)
	if perr != nil {
		return err
	}
	for _, el := range ctx.Elements {
		f, ok := el.Clause.(*kingpin.FlagClause)
		if !ok || el.Value == nil {
			continue
		}
		m := f.Model()
		if e := m.Value.Set(*el.Value); e != nil && e.Error() == err.Error() {
			return fmt.Errorf("--%s %q: %w", m.Name, *el.Value, err)
		}
	}
	if ctx.SelectedCommand == nil {
		return err
	}
	for _, m := range ctx.SelectedCommand.Model().Flags {
		if v := os.Getenv(m.Envar); m.Envar != "" && v != "" {
			if e := m.Value.Set(v); e != nil && e.Error() == err.Error() {
				return fmt.Errorf("--%s from $%s %q: %w", m.Name, m.Envar, v, err)
			}
		}
	}
	return err
}

func (c *commandLine) serveCommand(cmd *kingpin.CmdClause) {
	o := &c.serve
	cmd.Arg("args", "").Hidden().StringsVar(&c.extra)
	cmd.Flag("listen", "address to serve HTTP on").Default(":8080").StringVar(&o.Listen)
	cmd.Flag("rules", "rule file or directory of *.yaml/*.yml files (required; repeatable, comma-separated)").PlaceHolder("PATH").SetValue((*stringList)(&o.RulePaths))
	cmd.Flag("kubeconfig", "kubeconfig path (without it: $KUBECONFIG, the in-cluster config, ~/.kube/config)").PlaceHolder("FILE").StringVar(&o.Kubeconfig)
	cmd.Flag("token-file", "file holding the bearer token Alertmanager must send (without it: the token in $"+server.TokenEnv+")").PlaceHolder("FILE").StringVar(&o.TokenFile)
	cmd.Flag("basic-auth-user", "username Alertmanager's http_config.basic_auth must send, with --basic-auth-password-file").Envar(server.BasicAuthUserEnv).PlaceHolder("USER").StringVar(&o.BasicAuthUser)
	cmd.Flag("basic-auth-password-file", "file holding the basic-auth password (without it: the password in $"+server.BasicAuthPasswordEnv+")").PlaceHolder("FILE").StringVar(&o.BasicAuthPasswordFile)
	cmd.Flag("insecure-no-auth", "accept webhooks without authentication (local testing only)").BoolVar(&o.InsecureNoAuth)
	cmd.Flag("tls-cert-file", "serve HTTPS with this certificate").PlaceHolder("FILE").StringVar(&o.TLSCertFile)
	cmd.Flag("tls-key-file", "private key for --tls-cert-file").PlaceHolder("FILE").StringVar(&o.TLSKeyFile)
	cmd.Flag("max-body-bytes", "largest webhook body accepted; larger gets 413").Default(strconv.Itoa(4 << 20)).Int64Var(&o.MaxBodyBytes)
	cmd.Flag("http-read-header-timeout", "time allowed to read a request's headers").Default("5s").DurationVar(&o.HTTP.ReadHeader)
	cmd.Flag("http-read-timeout", "time allowed to read a whole request, body included; a slower body is cut off").Default("15s").DurationVar(&o.HTTP.Read)
	cmd.Flag("http-write-timeout", "time allowed from the end of a request's headers to the end of the answer; above --accept-timeout").Default("30s").DurationVar(&o.HTTP.Write)
	cmd.Flag("http-idle-timeout", "how long an idle keep-alive connection stays open").Default("60s").DurationVar(&o.HTTP.Idle)
	cmd.Flag("accept-timeout", "time allowed to record a notification before answering 503 (Alertmanager retries)").Default(shortDuration(webhook.DefaultAcceptTimeout)).DurationVar(&o.AcceptTimeout)
	cmd.Flag("kube-api-timeout", "time allowed for each Kubernetes API request (watches excepted)").Default("10s").DurationVar(&o.KubeAPITimeout)
	cmd.Flag("workers", "remediations run at once (on the leader)").Default("4").IntVar(&o.Workers)
	cmd.Flag("namespace", "namespace of the Remediation records and the leader Lease").Default("alertmedic").Envar(namespaceEnv).StringVar(&o.Namespace)
	cmd.Flag("identity", "this replica's name in the Lease and the records (without it: the host name)").Envar(identityEnv).PlaceHolder("NAME").StringVar(&o.Identity)
	cmd.Flag("leader-elect", "execute only while holding the Lease (--no-leader-elect: this replica always executes; for a single replica)").Default("true").BoolVar(&o.LeaderElect)
	cmd.Flag("leader-elect-lease-duration", "how long a standby waits, from the last change of the Lease it saw (it watches the Lease), before taking it over").Default("15s").DurationVar(&o.LeaseDuration)
	cmd.Flag("leader-elect-renew-deadline", "how long the leader goes on without a successful renewal (counted from when the last one was sent) before it stops; shorter than the lease duration").Default("10s").DurationVar(&o.RenewDeadline)
	cmd.Flag("leader-elect-retry-period", "how often the leader renews the Lease, and how soon a standby tries again after a failed takeover").Default("2s").DurationVar(&o.RetryPeriod)
	policyFlags(cmd, &o.Policy.Limits)
	cmd.Flag("breaker-hold", "what becomes of actions the open breaker holds back: skip, or approval (they wait for 'alertmedic approve')").Default(controller.BreakerSkip).StringVar(&o.Policy.BreakerHold)
	cmd.Flag("breaker-approval-timeout", "with --breaker-hold=approval: how long a held action waits for approval").Default("30m").DurationVar(&o.Policy.ApprovalTimeout)
	cmd.Flag("require-approval", "actions that wait for a person whatever their rule says: restart, scale, scale-down, rollback, evict-pod, run-job, namespace=PATTERN (repeatable, comma-separated)").PlaceHolder("ACTION").SetValue((*stringList)(&o.Policy.RequireApproval))
	cmd.Flag("approval-timeout", "how long an action --require-approval holds waits for approval").Default("30m").DurationVar(&o.Policy.RequiredApprovalTimeout)
	cmd.Flag("max-attempts", "tries of an action that fails because the API server is unavailable").Default("5").IntVar(&o.Policy.MaxAttempts)
	cmd.Flag("retry-backoff", "wait before the second try of an action after a transient failure, doubled for each try after it (at most 1h)").Default("5s").DurationVar(&o.Policy.RetryBackoff)
	cmd.Flag("retention", "keep a finished record this long after its alert resolved (8 days: 'alertmedic report --since 7d' sees a whole week)").Default("192h").DurationVar(&o.Policy.Retention)
	cmd.Flag("max-retention", "keep a finished record this long when its alert never resolved").Default("720h").DurationVar(&o.Policy.MaxRetention)
	cmd.Flag("max-records", "keep at most this many finished records, whatever their age: beyond it, those due to be deleted soonest go first (0: no bound)").Default("20000").IntVar(&o.Policy.MaxRecords)
	cmd.Flag("alertmanager-url", "Alertmanager that silences an alert while its remediation is verified (rules with silence: true) and that verify.alertResolved asks whether an alert still fires, such as http://alertmanager:9093").PlaceHolder("URL").StringVar(&o.AlertmanagerURL)
	cmd.Flag("alertmanager-absent-for", "with --alertmanager-url: a rule's verify.alertResolved also passes, without a resolved notification, once Alertmanager's API has not listed the alert for this long").Default("2m").DurationVar(&o.Policy.AlertAbsentFor)
	cmd.Flag("silence-sweep-interval", "how often the leader looks in Alertmanager for silences left behind (their record ended or is gone) and expires them; it also looks when it starts leading").Default("10m").DurationVar(&o.Policy.SilenceSweep)
	cmd.Flag("gitops", "what to do with a target Argo CD or Flux manages, for rules that do not say: refuse or allow (default: refuse scale and rollback, allow restart)").StringVar((*string)(&o.GitOps))
	cmd.Flag("dry-run", "plan, log and record Events, but change no workload (server-side dry-run)").BoolVar(&o.DryRun)
	cmd.Flag("watch-rules", "reload the rule files when they change on disk (as SIGHUP does)").Default("true").BoolVar(&o.WatchRules)
	cmd.Flag("watch-debounce", "changes to the rule files within this long of each other are one reload").Default("1s").DurationVar(&o.WatchDebounce)
	cmd.Flag("kube-api-qps", "sustained requests per second to the Kubernetes API server, for recording notifications and, separately, for acting on records").Default("50").Float64Var(&o.KubeQPS)
	cmd.Flag("kube-api-burst", "requests allowed in a burst above --kube-api-qps (a 100-alert notification records at once)").Default("100").IntVar(&o.KubeBurst)
	cmd.Flag("field-manager", "field manager name on every write").Default("alertmedic").StringVar(&o.FieldManager)
	cmd.Flag("shutdown-timeout", "how long SIGTERM waits for running remediations").Default("30s").DurationVar(&o.ShutdownTimeout)
	cmd.Flag("seen-episodes", "how many recorded alert episodes each replica remembers for an hour, so that re-sends cost no API call (about 100 bytes each)").Default(strconv.Itoa(ingest.DefaultSeenSize)).IntVar(&o.SeenSize)
	slackFlags(cmd, &o.Slack)
	// Prometheus' log flags, on the one command that logs.
	o.Log = promslog.Config{Level: promslog.NewLevel(), Format: promslog.NewFormat()}
	cmd.Flag(promslogflag.LevelFlagName, promslogflag.LevelFlagHelp).Default("info").Envar(logLevelEnv).
		HintOptions(promslog.LevelFlagOptions...).SetValue(o.Log.Level)
	cmd.Flag(promslogflag.FormatFlagName, promslogflag.FormatFlagHelp).Default("json").Envar(logFormatEnv).
		HintOptions(promslog.FormatFlagOptions...).SetValue(o.Log.Format)
}

func slackFlags(cmd *kingpin.CmdClause, o *server.SlackOptions) {
	cmd.Flag("slack-bot-token-file", "file holding the Slack bot token (xoxb-…); enables Slack approvals (without it: the token in $"+server.SlackBotTokenEnv+")").PlaceHolder("FILE").StringVar(&o.BotTokenFile)
	cmd.Flag("slack-signing-secret-file", "file holding the Slack app's signing secret; serves POST /slack/interactions (without it: the secret in $"+server.SlackSigningSecretEnv+")").PlaceHolder("FILE").StringVar(&o.SigningSecretFile)
	cmd.Flag("slack-app-token-file", "file holding an app-level token (xapp-…); receives clicks over Socket Mode instead of HTTP (without it: the token in $"+server.SlackAppTokenEnv+")").PlaceHolder("FILE").StringVar(&o.AppTokenFile)
	cmd.Flag("slack-channel", "channel id for the messages of rules that name none: every action, approval requests, actions the breaker holds").Envar(slackChannelEnv).PlaceHolder("ID").StringVar(&o.Channel)
	cmd.Flag("slack-approvers", "Slack user (U…, W…) and user group (S…) ids who may approve when a rule names none (repeatable, comma-separated)").Envar(slackApproverEnv).PlaceHolder("ID").SetValue((*stringList)(&o.Approvers))
	cmd.Flag("slack-group-cache-ttl", "how long the members of a Slack user group are cached").Default("1m").DurationVar(&o.GroupTTL)
	cmd.Flag("slack-api-url", "Slack Web API base URL (for a proxy)").Default(slack.APIURL).StringVar(&o.APIURL)
}

// policyFlags defines the flags of the deployment's policy, for 'alertmedic
// serve' (which enforces it), 'alertmedic test' (which tests rules under
// it) and 'alertmedic replay' (which replays alert history under it), with
// the same names and defaults.
func policyFlags(cmd *kingpin.CmdClause, l *policy.Limits) {
	cmd.Flag("default-cooldown", "cooldown for rules that set none: no second action on a target within it").Default("0s").DurationVar(&l.Cooldown)
	cmd.Flag("breaker-max", "actions within --breaker-window that open the circuit breaker (-1: no breaker)").Default(strconv.Itoa(policy.DefaultBreakerMax)).IntVar(&l.BreakerMax)
	cmd.Flag("breaker-window", "the circuit breaker's window").Default(shortDuration(policy.DefaultBreakerWindow)).DurationVar(&l.BreakerWindow)
	cmd.Flag("max-per-rule", "default budget: actions one rule may take within --budget-window (0: no limit)").Default("0").IntVar(&l.PerRule)
	cmd.Flag("max-per-target", "default budget: actions on one target within --budget-window (0: no limit)").Default("0").IntVar(&l.PerTarget)
	cmd.Flag("budget-window", "window of the default budgets").Default(shortDuration(policy.DefaultBudgetWindow)).DurationVar(&l.BudgetWindow)
	cmd.Flag("allow-namespaces", "only act in these namespaces (patterns like prod-*; repeatable, comma-separated)").PlaceHolder("PATTERN").SetValue((*stringList)(&l.AllowNamespaces))
	cmd.Flag("deny-namespaces", "never act in these namespaces (kube-system is denied unless allowed by name; repeatable, comma-separated)").PlaceHolder("PATTERN").SetValue((*stringList)(&l.DenyNamespaces))
}

const checkHelp = `Check rule files, reporting every problem as file:line:col.

Parses rule files strictly, as 'alertmedic serve' loads them (a directory means its *.yaml and *.yml files, together), and reports every problem as file:line:col: message. Warnings (a shadowed rule, a rule that can never match, a risky action without approval, ...) do not fail the check unless --strict is given. With --production-namespaces, any action without approval whose namespace is, or through a label its matchers allow may be, a production namespace is a risky action too.

Exit status: 0 no problems (or only warnings), 1 errors (or warnings with --strict), 2 usage error.`

func (c *commandLine) checkCommand(cmd *kingpin.CmdClause) {
	o := &c.check
	cmd.Flag("format", "output: text (file:line:col: message), json, or github (workflow annotations)").Default("text").StringVar(&o.format)
	cmd.Flag("strict", "fail on warnings too").BoolVar(&o.strict)
	cmd.Flag("production-namespaces", "namespaces the policy calls production (patterns like prod-*; repeatable, comma-separated): warn of any action in them without approval").PlaceHolder("PATTERN").SetValue(&o.production)
	cmd.Arg("path", "rule files or directories").StringsVar(&o.paths)
}

const testHelp = `Run rule unit tests (alerts in, remediations and policy's decisions out).

Each test gives an alert and the remediations expected for it (rule, target, action and parameters, approval), or notifications over time and, for each, the remediations with what policy decides of them (Run, Duplicate, PendingApproval, Cooldown, RuleBudget, TargetBudget, NamespaceDenied, CircuitOpen). A directory means its *.yaml and *.yml files. A failing test prints a diff: lines starting with - are expected, lines starting with + are what the rules do, written so that they can be pasted into the test. No cluster is needed.

The policy flags are those of 'alertmedic serve': give the deployment's, so that tests decide as it will. A policy block in a test file, or in a test, overrides them field by field.

Exit status: 0 all tests pass, 1 a test fails or a file does not load, 2 usage error.`

func (c *commandLine) testCommand(cmd *kingpin.CmdClause) {
	o := &c.test
	cmd.Flag("run", "run only the tests whose name matches this regular expression").PlaceHolder("REGEXP").StringVar(&o.runPattern)
	policyFlags(cmd, &o.limits)
	cmd.Arg("path", "test files or directories").StringsVar(&o.paths)
}

const explainHelp = `Show, rule by rule, what the rules do with an alert.

Shows, rule by rule, how alertmedic treats an alert: which matchers hold and which fail, the target it renders, the action and its parameters, and whether a person must approve it. Nothing is done and no cluster is needed. --payload reads an Alertmanager webhook notification (JSON, version 4), checked as the webhook checks it, and explains each of its alerts. Cooldowns and budgets are not evaluated here; a rule test with notifications over time evaluates them.`

func (c *commandLine) explainCommand(cmd *kingpin.CmdClause) {
	o := &c.explain
	cmd.Arg("args", "").Hidden().StringsVar(&c.extra)
	cmd.Flag("rules", "rule file or directory (required; repeatable, comma-separated)").PlaceHolder("PATH").SetValue(&o.rulePaths)
	cmd.Flag("alert", `the alert's labels: 'alertname="X",namespace="y"'`).PlaceHolder("LABELS").StringVar(&o.alert)
	cmd.Flag("annotations", `the alert's annotations, for templates that use them: 'summary="..."'`).PlaceHolder("LABELS").StringVar(&o.annotations)
	cmd.Flag("status", "the alert's status with --alert: firing or resolved").Default("firing").StringVar(&o.status)
	cmd.Flag("payload", "an Alertmanager webhook notification (JSON) to explain, or - for standard input").PlaceHolder("FILE").StringVar(&o.payload)
}

func (c *commandLine) replayCommand(cmd *kingpin.CmdClause) {
	o := &c.replay
	cmd.Arg("args", "").Hidden().StringsVar(&c.extra)
	cmd.Flag("prometheus", "URL of the Prometheus whose ALERTS series to read (required), such as http://prometheus:9090").PlaceHolder("URL").StringVar(&o.prometheus)
	cmd.Flag("rules", "rule file or directory (required; repeatable, comma-separated)").PlaceHolder("PATH").SetValue(&o.rulePaths)
	cmd.Flag("diff", "the rules before the change (file or directory; repeatable, comma-separated): print only what the change changes").PlaceHolder("OLD_RULES").SetValue(&o.diffPaths)
	cmd.Flag("since", "start of the range: a duration before --until (7d, 36h) or an RFC 3339 time").Default("7d").StringVar(&o.since)
	cmd.Flag("until", "end of the range: a duration before now or an RFC 3339 time (default: now)").PlaceHolder("TIME").StringVar(&o.until)
	cmd.Flag("step", "resolution of the queries; a pause of more than this between samples ends an episode (the rule evaluation interval, or more)").Default("1m").DurationVar(&o.step)
	cmd.Flag("query-timeout", "time allowed for each query to Prometheus").Default("2m").DurationVar(&o.timeout)
	cmd.Flag("format", "text, json, markdown (a pull request comment) or github (workflow annotations)").Default("text").EnumVar(&o.format, replay.Formats...)
	policyFlags(cmd, &o.limits)
}

const schemaHelp = `Print the JSON Schema of rule files.

Prints the JSON Schema (draft-07) of rule files, for editors to validate and complete them. The same schema is committed as docs/rules.schema.json.`

func (c *commandLine) decideCommand(cmd *kingpin.CmdClause, wantName bool) {
	o := &c.decide
	if wantName {
		cmd.Arg("name", "the remediation (see 'alertmedic pending')").StringVar(&o.name)
	}
	cmd.Arg("args", "").Hidden().StringsVar(&c.extra)
	cmd.Flag("namespace", "namespace of the Remediation records").Default("alertmedic").Envar(namespaceEnv).StringVar(&o.namespace)
	cmd.Flag("kubeconfig", "kubeconfig path (without it: $KUBECONFIG, the in-cluster config, ~/.kube/config)").PlaceHolder("FILE").StringVar(&o.kubeconfig)
}

func (c *commandLine) reportCommand(cmd *kingpin.CmdClause) {
	o := &c.report
	cmd.Arg("args", "").Hidden().StringsVar(&c.extra)
	cmd.Flag("since", "report on the records created within this long of now (7d, 24h, 2w)").Default("7d").SetValue(&o.since)
	cmd.Flag("format", "text, json, or markdown (a table to paste into a review)").Default("text").EnumVar(&o.format, report.Formats...)
	cmd.Flag("namespace", "namespace of the Remediation records").Default("alertmedic").Envar(namespaceEnv).StringVar(&o.namespace)
	cmd.Flag("kubeconfig", "kubeconfig path (without it: $KUBECONFIG, the in-cluster config, ~/.kube/config)").PlaceHolder("FILE").StringVar(&o.kubeconfig)
}

// stringList is a repeatable, comma-separated flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }

func (s *stringList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*s = append(*s, p)
		}
	}
	return nil
}

// IsCumulative tells kingpin that the flag may be repeated.
func (s *stringList) IsCumulative() bool { return true }

// usageError is a mistake on the command line (exit code 2); its message
// is printed as it is.
type usageError struct{ msg string }

func (e *usageError) Error() string        { return e.msg }
func (e *usageError) Is(target error) bool { return target == errUsage }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// shortDuration writes d as a flag takes it, without zero minutes and
// seconds: 1h, 10m, 1h30m, 0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
