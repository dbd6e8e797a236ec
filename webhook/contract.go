package webhook

import (
	"context"
	"errors"

	amwebhook "github.com/prometheus/alertmanager/notify/webhook"
)

// Message is Alertmanager's webhook payload (version 4).
type Message = amwebhook.Message

// ErrBusy is returned by a Sink that cannot take the work now; the handler
// answers 503 so that Alertmanager retries.
var ErrBusy = errors.New("cannot accept work now")

// Sink takes a decoded, validated notification. Accept must either take all
// of it or none of it: a notification refused with ErrBusy is retried whole
// by Alertmanager. Accept must return once ctx is done (the handler bounds
// it by Options.AcceptTimeout); what it recorded by then must be recognised
// when Alertmanager sends the notification again.
type Sink interface {
	Accept(ctx context.Context, msg *Message) error
}
