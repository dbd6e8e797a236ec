package webhook

import (
	"context"
	"errors"

	"github.com/prometheus/alertmanager/template"
)

// Message is Alertmanager's webhook payload (version 4). It has exactly the
// JSON shape of Alertmanager's notify/webhook.Message, declared here so that
// decoding it does not link Alertmanager's notifiers; TestMessageShape
// round-trips the two to keep them in step.
type Message struct {
	*template.Data

	// The protocol version.
	Version         string `json:"version"`
	GroupKey        string `json:"groupKey"`
	TruncatedAlerts uint64 `json:"truncatedAlerts"`
}

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
