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

	"github.com/alertmedic/alertmedic/internal/server"
)

// errUsage marks a command-line mistake (exit code 2).
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := runProcess(ctx, os.Args[1:], os.Stdout, os.Stderr, true)
	stop()
	os.Exit(code)
}

// run runs the command of args and returns the exit code: 0 done, 1 failed,
// 2 a mistake on the command line. It leaves client-go's process-wide
// logger alone: the tests run many at once.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runProcess(ctx, args, stdout, stderr, false)
}

// runProcess is run; with process, serve also takes over client-go's
// logger, which the process has one of.
func runProcess(ctx context.Context, args []string, stdout, stderr io.Writer, process bool) int {
	c := newCLI(stdout, stderr)
	if len(args) == 0 {
		c.app.UsageWriter(stderr)
		c.app.Usage(nil)
		return 2
	}
	cmd, done, err := c.parse(args)
	if done != nil {
		return *done
	}
	if err != nil {
		fmt.Fprintf(stderr, "alertmedic: error: %v, try --help\n", err)
		return 2
	}
	switch cmd {
	case "serve":
		err = serveCmd(ctx, c, stderr, process)
	case "check":
		err = checkCmd(c, stdout, stderr)
	case "test":
		err = testCmd(c, stdout)
	case "explain":
		err = explainCmd(c, stdout)
	case "schema":
		err = schemaCmd(c, stdout)
	case "approve", "deny":
		err = decideCmd(ctx, c, cmd == "approve", stdout)
	case "pending":
		err = pendingCmd(ctx, c, stdout)
	case "report":
		err = reportCmd(ctx, c, stdout)
	case "replay":
		err = replayCmd(ctx, c, stdout, stderr)
	case "version":
		if err = noArgs(cmd, c.extra); err == nil {
			fmt.Fprintln(stdout, versionString())
		}
	default:
		err = fmt.Errorf("command %q is defined but not run", cmd)
	}
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, ue.msg)
		return 2
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "alertmedic: %v\n", err)
		return 1
	}
}

// noArgs reports arguments given to a command that takes none.
func noArgs(cmd string, extra []string) error {
	if len(extra) > 0 {
		return usagef("%s: unexpected argument %q", cmd, extra[0])
	}
	return nil
}

// serveCmd is 'alertmedic serve': its flags (flags.go) are server.Options,
// and the server logs to stderr.
func serveCmd(ctx context.Context, c *commandLine, stderr io.Writer, process bool) error {
	if err := noArgs("serve", c.extra); err != nil {
		return err
	}
	o := c.serve
	o.Log.Writer = stderr
	o.LibraryLogs = process
	o.Version = version
	err := server.Run(ctx, o)
	if errors.Is(err, server.ErrUsage) {
		return &usageError{msg: err.Error()}
	}
	return err
}
