package server

import (
	"fmt"
	"os"
	"strings"
)

// secret reads a secret from file (trimmed; empty is an error), or else
// from the environment variable env. Secrets never come from flags.
func secret(file, env, flagName string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("read --%s: %w", flagName, err)
		}
		s := strings.TrimSpace(string(b))
		if s == "" {
			return "", fmt.Errorf("--%s %s is empty", flagName, file)
		}
		return s, nil
	}
	return strings.TrimSpace(os.Getenv(env)), nil
}

// webhookCredentials are what Alertmanager must send: a bearer token, a
// basic-auth pair, or both (either is then accepted).
type webhookCredentials struct {
	token, user, pass string
}

// readCredentials reads the webhook's credentials from their files or the
// environment. Without any, serve refuses to start unless --insecure-no-auth.
func readCredentials(o *Options) (webhookCredentials, error) {
	var c webhookCredentials
	var err error
	if c.token, err = secret(o.TokenFile, TokenEnv, "token-file"); err != nil {
		return c, err
	}
	if c.pass, err = secret(o.BasicAuthPasswordFile, BasicAuthPasswordEnv, "basic-auth-password-file"); err != nil {
		return c, err
	}
	c.user = strings.TrimSpace(o.BasicAuthUser)
	switch {
	case c.user != "" && c.pass == "":
		return c, fmt.Errorf("--basic-auth-user %q needs a password: set --basic-auth-password-file or $%s", c.user, BasicAuthPasswordEnv)
	case c.user == "" && c.pass != "":
		return c, fmt.Errorf("a basic-auth password is set but no username: set --basic-auth-user or $%s", BasicAuthUserEnv)
	case c.token == "" && c.user == "" && !o.InsecureNoAuth:
		return c, fmt.Errorf("no webhook token: set --token-file or $%s, or --basic-auth-user and --basic-auth-password-file (or --insecure-no-auth for local testing)", TokenEnv)
	}
	return c, nil
}
