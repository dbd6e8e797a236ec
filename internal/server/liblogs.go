package server

import (
	"log/slog"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// routeLibraryLogs sends what client-go (klog) and controller-runtime log
// through serve's own logger, in its format and at its level. Both are
// process-wide: without it, client-go writes its own format to stderr, and
// controller-runtime drops its messages and, 30 s after start, prints a
// stack trace saying that no logger was set.
func routeLibraryLogs(log *slog.Logger) {
	l := logr.FromSlogHandler(log.Handler())
	ctrllog.SetLogger(l)
	klog.SetLogger(l)
}
