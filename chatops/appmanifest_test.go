package chatops

import (
	"os"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The Slack app manifests in examples/slack grant what chatops calls and
// point interactivity where serve listens.
func TestSlackAppManifests(t *testing.T) {
	for _, tc := range []struct {
		file       string
		socketMode bool
	}{
		{"../examples/slack/app-manifest.yaml", false},
		{"../examples/slack/app-manifest-socket-mode.yaml", true},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			var m struct {
				OAuth struct {
					Scopes struct {
						Bot []string `yaml:"bot"`
					} `yaml:"scopes"`
				} `yaml:"oauth_config"`
				Settings struct {
					Interactivity struct {
						Enabled    bool   `yaml:"is_enabled"`
						RequestURL string `yaml:"request_url"`
					} `yaml:"interactivity"`
					SocketMode bool `yaml:"socket_mode_enabled"`
				} `yaml:"settings"`
			}
			dec := yaml.NewDecoder(strings.NewReader(string(b)))
			if err := dec.Decode(&m); err != nil {
				t.Fatal(err)
			}
			// chat.postMessage, chat.update, chat.postEphemeral; usergroups.users.list.
			for _, scope := range []string{"chat:write", "usergroups:read"} {
				if !slices.Contains(m.OAuth.Scopes.Bot, scope) {
					t.Errorf("bot scopes %v lack %s", m.OAuth.Scopes.Bot, scope)
				}
			}
			s := m.Settings
			if !s.Interactivity.Enabled || s.SocketMode != tc.socketMode {
				t.Errorf("interactivity %v, socket mode %v", s.Interactivity.Enabled, s.SocketMode)
			}
			if !tc.socketMode && !strings.HasSuffix(s.Interactivity.RequestURL, "/slack/interactions") {
				t.Errorf("request_url %q does not end in /slack/interactions", s.Interactivity.RequestURL)
			}
		})
	}
}
