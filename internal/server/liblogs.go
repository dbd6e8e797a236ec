package server

import (
	"log/slog"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
)

// routeLibraryLogs sends what client-go (klog) logs through serve's own
// logger, in its format and at its level. It is process-wide: without it,
// client-go writes its own format to stderr.
func routeLibraryLogs(log *slog.Logger) {
	klog.SetLogger(logr.FromSlogHandler(log.Handler()))
}
