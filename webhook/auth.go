package webhook

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// credentials checks the Authorization header against the configured bearer
// token and basic-auth pair. Secrets are kept only as SHA-256 digests and
// compared in constant time; comparing digests also hides their length.
type credentials struct {
	bearer     *[sha256.Size]byte
	user, pass *[sha256.Size]byte
	// challenges are the WWW-Authenticate values sent with 401.
	challenges []string
}

// newCredentials returns nil when no credentials are configured.
func newCredentials(o Options) *credentials {
	if o.BearerToken == "" && o.BasicAuthUser == "" {
		return nil
	}
	c := &credentials{}
	if o.BearerToken != "" {
		c.bearer = digest(o.BearerToken)
		c.challenges = append(c.challenges, `Bearer realm="alertmedic"`)
	}
	if o.BasicAuthUser != "" {
		c.user, c.pass = digest(o.BasicAuthUser), digest(o.BasicAuthPassword)
		c.challenges = append(c.challenges, `Basic realm="alertmedic", charset="UTF-8"`)
	}
	return c
}

func digest(s string) *[sha256.Size]byte {
	d := sha256.Sum256([]byte(s))
	return &d
}

func equalDigest(s string, want *[sha256.Size]byte) int {
	got := sha256.Sum256([]byte(s))
	return subtle.ConstantTimeCompare(got[:], want[:])
}

// check returns "" when r carries valid credentials, else what the sender
// has to fix. It never echoes the credentials it received.
func (c *credentials) check(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "missing Authorization header: " + c.howTo()
	}
	scheme, rest, _ := strings.Cut(h, " ")
	switch {
	case strings.EqualFold(scheme, "Bearer") && c.bearer != nil:
		if equalDigest(strings.TrimSpace(rest), c.bearer) == 1 {
			return ""
		}
		return "invalid bearer token: the credentials in the Alertmanager receiver's http_config.authorization do not match alertmedic's token"
	case strings.EqualFold(scheme, "Basic") && c.user != nil:
		user, pass, ok := r.BasicAuth()
		if !ok {
			return "malformed basic credentials in the Authorization header: " + c.howTo()
		}
		// Both comparisons always run, so timing tells nothing about which failed.
		if equalDigest(user, c.user)&equalDigest(pass, c.pass) == 1 {
			return ""
		}
		return "invalid basic credentials: the username or password in the Alertmanager receiver's http_config.basic_auth does not match alertmedic's"
	default:
		// The scheme is not quoted: a header holding a bare token would
		// otherwise echo the secret into both sides' logs.
		return "unsupported Authorization scheme, expected " + c.schemes() + ": " + c.howTo()
	}
}

func (c *credentials) schemes() string {
	switch {
	case c.bearer != nil && c.user != nil:
		return "Bearer or Basic"
	case c.bearer != nil:
		return "Bearer"
	default:
		return "Basic"
	}
}

// howTo says how to configure Alertmanager for the accepted schemes.
func (c *credentials) howTo() string {
	switch {
	case c.bearer != nil && c.user != nil:
		return "set http_config.authorization (type Bearer) or http_config.basic_auth in the Alertmanager webhook_configs receiver"
	case c.bearer != nil:
		return "set http_config.authorization.credentials (type Bearer) in the Alertmanager webhook_configs receiver to alertmedic's token"
	default:
		return "set http_config.basic_auth in the Alertmanager webhook_configs receiver to alertmedic's username and password"
	}
}
