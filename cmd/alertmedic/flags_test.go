package main

import (
	"io"
	"strings"
	"testing"

	"github.com/alertmedic/alertmedic/internal/server"
)

// parseCommand parses args as run does, up to the command's own checks.
func parseCommand(t testing.TB, args ...string) *commandLine {
	t.Helper()
	c := newCLI(io.Discard, io.Discard)
	if _, done, err := c.parse(args); err != nil || done != nil {
		t.Fatalf("parse %q: err %v, exited %v", args, err, done)
	}
	return c
}

func parseServe(t testing.TB, args ...string) *server.Options {
	t.Helper()
	c := parseCommand(t, append([]string{"serve"}, args...)...)
	if err := c.serve.Validate(); err != nil {
		t.Fatalf("serve %q: %v", args, err)
	}
	return &c.serve
}

func parseTest(t testing.TB, args ...string) *testOptions {
	t.Helper()
	c := parseCommand(t, append([]string{"test"}, args...)...)
	if err := c.test.validate(); err != nil {
		t.Fatalf("test %q: %v", args, err)
	}
	return &c.test
}

func parseReplay(t testing.TB, args ...string) *replayOptions {
	t.Helper()
	c := parseCommand(t, append([]string{"replay"}, args...)...)
	if err := c.replay.validate(c.extra); err != nil {
		t.Fatalf("replay %q: %v", args, err)
	}
	return &c.replay
}

// Help and the version go to stdout with exit code 0, as promtool's and
// alertmanager's do; a mistake goes to stderr with exit code 2.
func TestHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--help"}, "usage: alertmedic [<flags>] <command> [<args> ...]"},
		{[]string{"-h"}, "\nCommands:\n"},
		{[]string{"help", "serve"}, "usage: alertmedic serve [<flags>]"},
		{[]string{"serve", "--help"}, "--listen=\":8080\""},
		{[]string{"serve", "--help"}, "($POD_NAMESPACE)"},
		{[]string{"check", "-h"}, "usage: alertmedic check [<flags>] [<path>...]"},
		{[]string{"explain", "--help"}, "--payload=FILE"},
		{[]string{"approve", "--help"}, "usage: alertmedic approve [<flags>] [<name>]"},
		{[]string{"--version"}, versionString() + "\n"},
		{[]string{"version"}, versionString() + "\n"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := cli(t, tc.args...)
			if code != 0 || stderr != "" || !strings.Contains(stdout, tc.want) {
				t.Errorf("exit %d, stderr %q, stdout:\n%s\nwant exit 0, nothing on stderr, stdout with %q", code, stderr, stdout, tc.want)
			}
		})
	}
	if _, v, _ := cli(t, "--version"); !strings.HasSuffix(v, "\n") || strings.Count(v, "\n") != 1 {
		t.Errorf("--version printed %q, want one line", v)
	}
	if code, stdout, stderr := cli(t, "serve", "--listen"); code != 2 || stdout != "" || !strings.Contains(stderr, "alertmedic: error: expected argument for flag '--listen', try --help") {
		t.Errorf("serve --listen: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}
