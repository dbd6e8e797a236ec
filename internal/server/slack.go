package server

import (
	"github.com/alertmedic/alertmedic/internal/kube"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/alertmedic/alertmedic/chatops"
	"github.com/alertmedic/alertmedic/rules"
)

// Where Slack's secrets come from when no file is given.
const (
	SlackBotTokenEnv      = "ALERTMEDIC_SLACK_BOT_TOKEN"
	SlackSigningSecretEnv = "ALERTMEDIC_SLACK_SIGNING_SECRET"
	SlackAppTokenEnv      = "ALERTMEDIC_SLACK_APP_TOKEN"
)

// SlackOptions are the Slack options of 'alertmedic serve'. Slack is off
// when no bot token is given (BotTokenFile, or SlackBotTokenEnv).
type SlackOptions struct {
	// BotTokenFile holds the bot token (xoxb-…).
	BotTokenFile string
	// SigningSecretFile holds the app's signing secret: clicks come over
	// HTTP, to POST /slack/interactions.
	SigningSecretFile string
	// AppTokenFile holds an app-level token (xapp-…): clicks come over
	// Socket Mode instead.
	AppTokenFile string
	// Channel is where approval requests go whose rule names no channel.
	Channel string
	// Approvers are the Slack user (U…, W…) and user group (S…) ids who
	// may approve when a rule names none.
	Approvers []string
	// GroupTTL is how long the members of a user group are cached.
	GroupTTL time.Duration
	// APIURL is the Slack Web API's base URL.
	APIURL string
}

// slackSetup is Slack as configured: nil chat when Slack is off.
type slackSetup struct {
	chat   *chatops.Chat
	socket *socketmode.Client // nil: clicks come over HTTP
	http   bool               // serve POST /slack/interactions
}

// setupSlack builds the Slack side from the options, or nothing if no bot
// token is configured. loaded returns the rules in force; a click is
// checked against the approvers they name at the time of the click.
func setupSlack(o *Options, records kube.Client, loaded func() *rules.Set, reg prometheus.Registerer, log *slog.Logger) (*slackSetup, error) {
	so := o.Slack
	bot, err := secret(so.BotTokenFile, SlackBotTokenEnv, "slack-bot-token-file")
	if err != nil {
		return nil, err
	}
	signing, err := secret(so.SigningSecretFile, SlackSigningSecretEnv, "slack-signing-secret-file")
	if err != nil {
		return nil, err
	}
	app, err := secret(so.AppTokenFile, SlackAppTokenEnv, "slack-app-token-file")
	if err != nil {
		return nil, err
	}
	var approvers chatops.Approvers
	for _, id := range so.Approvers {
		switch {
		case strings.HasPrefix(id, "U"), strings.HasPrefix(id, "W"):
			approvers.Users = append(approvers.Users, id)
		case strings.HasPrefix(id, "S"):
			approvers.Groups = append(approvers.Groups, id)
		default:
			return nil, usagef("serve: --slack-approvers %q: want Slack user ids (U…, W…) or user group ids (S…), not names", id)
		}
	}
	if bot == "" {
		if signing != "" || app != "" || so.Channel != "" || len(so.Approvers) > 0 {
			return nil, usagef("serve: Slack is configured but has no bot token: set --slack-bot-token-file or $%s", SlackBotTokenEnv)
		}
		return &slackSetup{}, nil
	}
	if signing == "" && app == "" {
		return nil, usagef("serve: Slack buttons need a way back in: --slack-signing-secret-file (HTTP, Slack posts to /slack/interactions) or --slack-app-token-file (Socket Mode)")
	}
	apiURL := so.APIURL
	if !strings.HasSuffix(apiURL, "/") {
		apiURL += "/"
	}
	opts := []slack.Option{slack.OptionAPIURL(apiURL)}
	if app != "" {
		opts = append(opts, slack.OptionAppLevelToken(app))
	}
	api := slack.New(bot, opts...)
	chat, err := chatops.New(chatops.Options{
		API:              api,
		Records:          records,
		Namespace:        o.Namespace,
		DefaultChannel:   so.Channel,
		DefaultApprovers: approvers,
		RuleApprovers:    ruleApprovers(loaded),
		SigningSecret:    signing,
		GroupTTL:         so.GroupTTL,
		Logger:           log.With("component", "slack"),
		Metrics:          chatops.NewMetrics(reg),
	})
	if err != nil {
		return nil, err
	}
	s := &slackSetup{chat: chat, http: signing != ""}
	if app != "" {
		s.socket = socketmode.New(api)
	}
	if so.Channel == "" {
		log.Warn("no --slack-channel: approval requests of rules that name no channel are not posted")
	}
	return s, nil
}

// ruleApprovers answers, from the rules loaded at the moment of asking, who
// may decide the actions of a rule: the Slack approvers it names (none when
// it requires no approval or names nobody), and whether it is loaded at all.
func ruleApprovers(loaded func() *rules.Set) func(string) (chatops.Approvers, bool) {
	return func(name string) (chatops.Approvers, bool) {
		for _, r := range loaded().Rules() {
			if r.Name != name {
				continue
			}
			if !r.Approval.Required {
				return chatops.Approvers{}, true
			}
			return chatops.Approvers{Users: r.Approval.Users, Groups: r.Approval.Groups}, true
		}
		return chatops.Approvers{}, false
	}
}
