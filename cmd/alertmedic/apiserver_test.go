package main

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
	"testing"
)

// serverTimes is the API server's own account of the time it spent on
// requests (apiserver_request_duration_seconds), by "VERB resource" or
// "VERB resource/subresource": seconds in all, and how many.
type serverTimes map[string]struct{ sum, count float64 }

// serverLatency reads serverTimes from the API server's /metrics.
func serverLatency(t testing.TB) serverTimes {
	t.Helper()
	raw, err := cluster.Client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(t.Context())
	if err != nil {
		t.Fatalf("API server metrics: %v", err)
	}
	out := serverTimes{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Text()
		name, rest, ok := strings.Cut(line, "{")
		if !ok || name != "apiserver_request_duration_seconds_sum" && name != "apiserver_request_duration_seconds_count" {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			continue
		}
		l := map[string]string{}
		for kv := range strings.SplitSeq(labels, ",") {
			if k, val, ok := strings.Cut(kv, "="); ok {
				l[k] = strings.Trim(val, `"`)
			}
		}
		key := l["verb"] + " " + l["resource"]
		if l["subresource"] != "" {
			key += "/" + l["subresource"]
		}
		e := out[key]
		if strings.HasSuffix(name, "_sum") {
			e.sum += v
		} else {
			e.count += v
		}
		out[key] = e
	}
	return out
}

// since is what t holds beyond before.
func (t serverTimes) since(before serverTimes) serverTimes {
	out := serverTimes{}
	for k, e := range t {
		b := before[k]
		out[k] = struct{ sum, count float64 }{e.sum - b.sum, e.count - b.count}
	}
	return out
}

// mean is the mean time the API server spent on one "VERB resource"
// request, in milliseconds (0: none).
func (t serverTimes) mean(verb, resource string) float64 {
	e := t[verb+" "+resource]
	if e.count == 0 {
		return 0
	}
	return e.sum / e.count * 1000
}
