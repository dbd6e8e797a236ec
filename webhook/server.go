package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Defaults applied by NewServer to zero Options fields.
const (
	DefaultMaxBodyBytes = 4 << 20 // 4 MiB
	DefaultRetryAfter   = 10 * time.Second
	// DefaultAcceptTimeout bounds the Sink's Accept. Alertmanager's webhook
	// has no per-call timeout unless webhook_configs sets one; its notify
	// deadline comes from group_interval (5m by default), and a short
	// answer lets it retry well within that.
	DefaultAcceptTimeout = 8 * time.Second
)

// Options configures NewServer. Zero values take the defaults set in
// Options.withDefaults.
type Options struct {
	// Sink takes every valid notification. Required.
	Sink Sink
	// BearerToken, when set, must be presented as "Authorization: Bearer
	// <token>" (Alertmanager's http_config.authorization). Empty: no bearer
	// authentication.
	BearerToken string
	// BasicAuthUser and BasicAuthPassword, when set, are accepted as an
	// alternative (Alertmanager's http_config.basic_auth). Set both or neither.
	BasicAuthUser     string
	BasicAuthPassword string
	// MaxBodyBytes caps the request body; larger bodies get 413. Default
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// RetryAfter is advertised with 503 answers. Default DefaultRetryAfter.
	RetryAfter time.Duration
	// AcceptTimeout bounds each call of Sink.Accept; past it the notification
	// is answered 503 (Alertmanager retries). Default DefaultAcceptTimeout.
	AcceptTimeout time.Duration
	// Ready backs GET /readyz; nil means always ready.
	Ready func(ctx context.Context) error
	// Gatherer is served on GET /metrics. Default: Registerer, when it is
	// also a Gatherer (a *prometheus.Registry); else /metrics is not served.
	Gatherer prometheus.Gatherer
	// Registerer receives this package's metrics; nil: not registered.
	Registerer prometheus.Registerer
	// Logger defaults to a logger that discards.
	Logger *slog.Logger
}

// withDefaults checks o and fills in its zero fields: the one place defaults
// are set.
func (o Options) withDefaults() (Options, error) {
	if o.Sink == nil {
		return o, errors.New("webhook: Options.Sink is required")
	}
	if (o.BasicAuthUser == "") != (o.BasicAuthPassword == "") {
		return o, errors.New("webhook: set both BasicAuthUser and BasicAuthPassword, or neither")
	}
	if o.MaxBodyBytes < 0 {
		return o, fmt.Errorf("webhook: MaxBodyBytes must not be negative, got %d", o.MaxBodyBytes)
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = DefaultRetryAfter
	}
	if o.AcceptTimeout < 0 {
		return o, fmt.Errorf("webhook: AcceptTimeout must not be negative, got %s", o.AcceptTimeout)
	}
	if o.AcceptTimeout == 0 {
		o.AcceptTimeout = DefaultAcceptTimeout
	}
	if o.Ready == nil {
		o.Ready = func(context.Context) error { return nil }
	}
	if o.Gatherer == nil {
		if g, ok := o.Registerer.(prometheus.Gatherer); ok {
			o.Gatherer = g
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// NewServer returns an echo instance serving POST /webhook (Alertmanager
// notifications), GET /healthz, GET /readyz and GET /metrics. It keeps no
// global state: each call has its own router, metrics and error handler.
// The returned echo instance is a handler only: serve it with an
// http.Server of your own, whose timeouts and ErrorLog are the ones in force.
func NewServer(opts Options) (*echo.Echo, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	metrics, err := NewMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	h := newHandler(opts, metrics)

	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = routeError

	e.POST("/webhook", func(c echo.Context) error {
		h.ServeHTTP(c.Response(), c.Request())
		return nil
	})
	e.GET("/healthz", func(c echo.Context) error {
		return c.String(http.StatusOK, "ok\n")
	})
	ready := opts.Ready
	e.GET("/readyz", func(c echo.Context) error {
		if err := ready(c.Request().Context()); err != nil {
			return c.String(http.StatusServiceUnavailable, "not ready: "+err.Error()+"\n")
		}
		return c.String(http.StatusOK, "ok\n")
	})
	if opts.Gatherer != nil {
		e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{
			ErrorLog:      slog.NewLogLogger(opts.Logger.Handler(), slog.LevelError),
			ErrorHandling: promhttp.ContinueOnError,
		})))
	}
	return e, nil
}

// routeError answers the errors echo itself raises (unknown path, wrong
// method) in the same JSON shape as the webhook handler.
func routeError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	r := c.Request()
	code, msg := http.StatusInternalServerError, "internal error"
	var he *echo.HTTPError
	if errors.As(err, &he) {
		code = he.Code
		msg = fmt.Sprint(he.Message)
	}
	switch code {
	case http.StatusNotFound:
		msg = fmt.Sprintf("no route for %s %s: alertmedic serves POST /webhook, GET /healthz, GET /readyz and GET /metrics", r.Method, r.URL.Path)
	case http.StatusMethodNotAllowed:
		msg = fmt.Sprintf("method %s is not allowed on %s", r.Method, r.URL.Path)
		if r.URL.Path == "/webhook" {
			msg += ": Alertmanager sends notifications with POST"
		}
	}
	writeError(c.Response(), code, msg)
}
