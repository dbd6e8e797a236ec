// Command alertmedic receives Alertmanager notifications and remediates
// Kubernetes workloads according to rule files.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `alertmedic remediates Kubernetes workloads when Alertmanager says so.

Usage:
  alertmedic serve [flags]     run the webhook server and the remediation engine
  alertmedic check PATH...     check rule files, reporting every problem as file:line:col
  alertmedic test FILE...      run rule unit tests (alerts in, remediations and policy's decisions out)
  alertmedic explain [flags]   show, rule by rule, what the rules do with an alert
  alertmedic schema            print the JSON Schema of rule files
  alertmedic pending           list the remediations waiting for approval
  alertmedic approve NAME      approve one (who may is up to Kubernetes RBAC)
  alertmedic deny NAME         deny one
  alertmedic version           print the version and build information

Run 'alertmedic COMMAND -h' for the flags of a command.
`

// errUsage marks a command-line mistake (exit code 2).
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], stdout, stderr)
	case "check":
		err = checkCmd(args[1:], stdout, stderr)
	case "test":
		err = testCmd(args[1:], stdout, stderr)
	case "explain":
		err = explainCmd(args[1:], stdout, stderr)
	case "schema":
		err = schemaCmd(args[1:], stdout, stderr)
	case "approve", "deny":
		err = decideCmd(ctx, args[0] == "approve", args[1:], stdout, stderr)
	case "pending":
		err = pendingCmd(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, versionString())
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "alertmedic: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "alertmedic: %v\n", err)
		return 1
	}
}
