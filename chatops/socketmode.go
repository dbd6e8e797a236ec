package chatops

import (
	"context"
	"fmt"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// RunSocketMode receives interactions over Slack's Socket Mode (a WebSocket
// the app opens with its app-level token), for clusters Slack cannot reach.
// Clicks are handled exactly as those posted to ServeHTTP, minus the
// signature: the connection itself is authenticated. Each is acknowledged
// once decided, or after AckWithin. It returns when ctx ends.
func (c *Chat) RunSocketMode(ctx context.Context, sm *socketmode.Client) error {
	errc := make(chan error, 1)
	go func() { errc <- sm.RunContext(ctx) }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("slack socket mode: %w", err)
		case evt := <-sm.Events:
			switch evt.Type {
			case socketmode.EventTypeConnected:
				c.logger.Info("slack socket mode connected")
			case socketmode.EventTypeConnectionError:
				c.logger.Warn("slack socket mode connection failed; retrying", "err", evt.Data)
			case socketmode.EventTypeInteractive:
				cb, ok := evt.Data.(slack.InteractionCallback)
				if !ok || evt.Request == nil {
					continue
				}
				req := *evt.Request
				go func() {
					c.handleWithin(ctx, cb)
					if err := sm.Ack(req); err != nil {
						c.logger.Warn("could not acknowledge a slack interaction", "err", err)
					}
				}()
			}
		}
	}
}
