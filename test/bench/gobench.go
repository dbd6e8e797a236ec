package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// The Go benchmarks whose figures the table takes: the ingest path
// in-process against the decode-only handler, timed (a fixed count of
// iterations that short is noise on a shared machine); then the
// alert-to-patch latency and its floor, and the in-process server's heap,
// for a count of iterations.
var goBenchmarks = []struct{ pattern, benchtime string }{
	{`^(BenchmarkIngest1000RulesNoMatch|BenchmarkIngest1000RulesAllHandled|BenchmarkBareDecode100)$`, "2s"},
	{`^BenchmarkServeHeap$`, "200x"},
	{`^BenchmarkAlertToPatch$`, "1800x"},
}

// benchResults are the metrics each benchmark reported, by unit.
type benchResults map[string]map[string]float64

// runGoBenchmarks runs goBenchmarks (their packages one after the other),
// writing the heap profile of BenchmarkServeHeap to heapProfile, and
// parses what they print; go test's output is kept beside the profile.
func runGoBenchmarks(ctx context.Context, log *slog.Logger, heapProfile string) (benchResults, error) {
	var out bytes.Buffer
	var failed error
	for _, g := range goBenchmarks {
		cmd := exec.CommandContext(ctx, "go", "test", "-p", "1", "-run", "^$", "-bench", g.pattern,
			"-benchtime", g.benchtime, "-count", "1", "./cmd/alertmedic", "./webhook")
		cmd.Env = append(os.Environ(), "ALERTMEDIC_HEAP_PROFILE="+heapProfile)
		cmd.Stdout, cmd.Stderr = &out, &out
		log.Info("running Go benchmarks", "cmd", strings.Join(cmd.Args, " "))
		if err := cmd.Run(); err != nil && failed == nil {
			failed = fmt.Errorf("go test -bench %s: %w", g.pattern, err)
		}
	}
	_ = os.WriteFile(filepath.Join(filepath.Dir(heapProfile), "gobench.out"), out.Bytes(), 0o600)
	res := parseBenchmarks(out.String())
	if failed != nil {
		return res, fmt.Errorf("%w\n%s", failed, out.String())
	}
	return res, nil
}

// parseBenchmarks reads "BenchmarkX-2  200  123 ns/op  4.5 p50-ms ..."
// lines. When a benchmark's own output came between its name and its
// figures, the figures' line comes without the name: it belongs to the
// last name seen.
func parseBenchmarks(out string) benchResults {
	res := benchResults{}
	last := ""
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if strings.HasPrefix(f[0], "Benchmark") {
			last, _, _ = strings.Cut(f[0], "-")
			f = f[1:]
		}
		if last == "" || len(f) < 3 || !slices.Contains(f, "ns/op") {
			continue
		}
		if _, err := strconv.Atoi(f[0]); err != nil {
			continue
		}
		m := map[string]float64{}
		for i := 1; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				m[f[i+1]] = v
			}
		}
		res[last] = m
	}
	return res
}

// heapTop is the top entries of the heap profile at path by in-use space
// (go tool pprof -top), as "function size" pairs.
func heapTop(ctx context.Context, path string, n int) ([]string, error) {
	out, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-sample_index=inuse_space",
		"-nodecount", strconv.Itoa(n), path).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go tool pprof %s: %w\n%s", filepath.Base(path), err, out)
	}
	var top []string
	header := true
	for line := range strings.SplitSeq(string(out), "\n") {
		f := strings.Fields(line)
		if header {
			header = !(len(f) > 0 && f[0] == "flat")
			continue
		}
		if len(f) < 6 {
			continue
		}
		// flat flat% sum% cum cum% function...
		top = append(top, fmt.Sprintf("%s %s", strings.Join(f[5:], " "), f[0]))
	}
	return top, nil
}
