package server

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/alertmedic/alertmedic/rules"
)

// reloader loads the rule files again on SIGHUP or when they change on disk,
// and swaps them in only when every file loads without error: a broken
// change is refused and the rules in force stay.
type reloader struct {
	paths []string
	apply func(*rules.Set)
	log   *slog.Logger

	mu          sync.Mutex // one reload at a time
	success     prometheus.Gauge
	successTime prometheus.Gauge
	ruleCount   prometheus.Gauge
}

func newReloader(paths []string, apply func(*rules.Set), reg prometheus.Registerer, log *slog.Logger) *reloader {
	r := &reloader{
		paths: paths, apply: apply, log: log,
		success: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "alertmedic_rules_last_reload_successful",
			Help: "1 if the last load of the rule files succeeded, 0 if it was refused (the previous rules stay in force).",
		}),
		successTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "alertmedic_rules_last_reload_success_timestamp_seconds",
			Help: "When the rule files were last loaded successfully.",
		}),
		ruleCount: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "alertmedic_rules",
			Help: "Rules in force.",
		}),
	}
	reg.MustRegister(r.success, r.successTime, r.ruleCount)
	return r
}

// loaded records a successful load of set (the first, at start, included).
func (r *reloader) loaded(set *rules.Set) {
	// Parsing a large rule set leaves megabytes of garbage; hand the memory
	// back now rather than keep it resident until the runtime gets to it.
	debug.FreeOSMemory()
	r.success.Set(1)
	r.successTime.SetToCurrentTime()
	r.ruleCount.Set(float64(set.Len()))
}

// reload loads the files again; why is logged ("SIGHUP", "file change").
func (r *reloader) reload(why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	next, err := rules.LoadFiles(r.paths...)
	if err != nil {
		r.success.Set(0)
		r.log.Error("rule reload refused; the previous rules stay in force", "trigger", why, "err", err)
		return
	}
	r.apply(next)
	r.loaded(next)
	for _, w := range next.Warnings() {
		r.log.Warn("rule warning", "problem", w.String())
	}
	r.log.Info("rules reloaded", "trigger", why, "rules", next.Len())
}

// watch reloads when anything in the folders of the rule paths changes,
// until ctx ends. Folders, not files, are watched: editors replace files, and
// a ConfigMap mounted by Kubernetes changes by swapping a '..data' symlink.
// Changes within debounce of each other are one reload.
func (r *reloader) watch(ctx context.Context, debounce time.Duration) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	// For each watched folder: the names in it that matter ("" = any rule
	// file, as for a --rules folder). '..data' is a ConfigMap's swap.
	dirs := map[string]map[string]bool{}
	for _, p := range r.paths {
		dir, name := p, ""
		if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
			dir, name = filepath.Dir(p), filepath.Base(p)
		}
		if dirs[dir] == nil {
			dirs[dir] = map[string]bool{}
			if err := w.Add(dir); err != nil {
				return err
			}
		}
		dirs[dir][name] = true
	}
	relevant := func(path string) bool {
		names := dirs[filepath.Dir(path)]
		base := filepath.Base(path)
		ext := filepath.Ext(base)
		return names != nil && (base == "..data" || names[base] ||
			names[""] && !strings.HasPrefix(base, ".") && (ext == ".yaml" || ext == ".yml"))
	}
	var timer <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if ev.Op == fsnotify.Chmod || !relevant(ev.Name) {
				continue // e.g. another program's files next to the rules
			}
			timer = time.After(debounce)
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			r.log.Warn("watching the rule files", "err", err)
		case <-timer:
			timer = nil
			r.reload("file change")
		}
	}
}
