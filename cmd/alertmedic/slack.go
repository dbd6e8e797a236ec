package main

import (
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/alertmedic/alertmedic/chatops"
	"github.com/alertmedic/alertmedic/rules"
)

// Where Slack's secrets come from when no file is given.
const (
	slackBotTokenEnv      = "ALERTMEDIC_SLACK_BOT_TOKEN"
	slackSigningSecretEnv = "ALERTMEDIC_SLACK_SIGNING_SECRET"
	slackAppTokenEnv      = "ALERTMEDIC_SLACK_APP_TOKEN"
)

// slackOptions are the Slack flags of 'alertmedic serve'.
type slackOptions struct {
	botTokenFile      string
	signingSecretFile string
	appTokenFile      string
	channel           string
	approvers         stringList
	groupTTL          time.Duration
	apiURL            string
}

// slackSetup is Slack as configured: nil chat when Slack is off.
type slackSetup struct {
	chat   *chatops.Chat
	socket *socketmode.Client // nil: clicks come over HTTP
	http   bool               // serve POST /slack/interactions
}

// setupSlack builds the Slack side from the flags, or nothing if no bot
// token is configured. loaded returns the rules in force; a click is
// checked against the approvers they name at the time of the click.
func setupSlack(o *serveOptions, records client.Client, loaded func() *rules.Set, reg prometheus.Registerer, log *slog.Logger) (*slackSetup, error) {
	so := o.slack
	bot, err := secret(so.botTokenFile, slackBotTokenEnv, "slack-bot-token-file")
	if err != nil {
		return nil, err
	}
	signing, err := secret(so.signingSecretFile, slackSigningSecretEnv, "slack-signing-secret-file")
	if err != nil {
		return nil, err
	}
	app, err := secret(so.appTokenFile, slackAppTokenEnv, "slack-app-token-file")
	if err != nil {
		return nil, err
	}
	var approvers chatops.Approvers
	for _, id := range so.approvers {
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
		if signing != "" || app != "" || so.channel != "" || len(so.approvers) > 0 {
			return nil, usagef("serve: Slack is configured but has no bot token: set --slack-bot-token-file or $%s", slackBotTokenEnv)
		}
		return &slackSetup{}, nil
	}
	if signing == "" && app == "" {
		return nil, usagef("serve: Slack buttons need a way back in: --slack-signing-secret-file (HTTP, Slack posts to /slack/interactions) or --slack-app-token-file (Socket Mode)")
	}
	apiURL := so.apiURL
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
		Namespace:        o.namespace,
		DefaultChannel:   so.channel,
		DefaultApprovers: approvers,
		RuleApprovers:    ruleApprovers(loaded),
		SigningSecret:    signing,
		GroupTTL:         so.groupTTL,
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
	if so.channel == "" {
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
