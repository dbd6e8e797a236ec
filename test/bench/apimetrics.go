package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"k8s.io/client-go/kubernetes"
)

// requests are counts of API requests by "VERB resource[/subresource]"
// (or "VERB /path" for a path that is not a resource), from the API
// server's own apiserver_request_total.
type requests map[string]float64

// scrapeRequests reads apiserver_request_total from kube-apiserver's
// /metrics with the test cluster's admin credentials. The scrape itself is
// not counted there.
func scrapeRequests(ctx context.Context, c kubernetes.Interface) (requests, error) {
	raw, err := c.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("scrape kube-apiserver /metrics: %w", err)
	}
	out := requests{}
	for line := range strings.SplitSeq(string(raw), "\n") {
		rest, ok := strings.CutPrefix(line, "apiserver_request_total{")
		if !ok {
			continue
		}
		labelText, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			continue
		}
		labels := map[string]string{}
		for kv := range strings.SplitSeq(labelText, ",") {
			k, val, _ := strings.Cut(kv, "=")
			labels[k] = strings.Trim(val, `"`)
		}
		out[requestKey(labels)] += v
	}
	return out, nil
}

func requestKey(l map[string]string) string {
	if l["resource"] == "" {
		path := l["subresource"]
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		return l["verb"] + " " + path
	}
	k := l["verb"] + " " + l["resource"]
	if l["subresource"] != "" {
		k += "/" + l["subresource"]
	}
	return k
}

// since is what r counted after before.
func (r requests) since(before requests) requests {
	d := requests{}
	for k, v := range r {
		if n := v - before[k]; n > 0 {
			d[k] = n
		}
	}
	return d
}

// apiServerOwn reports whether requests of this key come from the API
// server's own loops (its endpoint reconciler, service IP repair, OpenAPI
// aggregation, flow control), which alertmedic never makes: seen on an
// envtest API server with no client connected.
func apiServerOwn(key string) bool {
	verb, what, _ := strings.Cut(key, " ")
	resource, _, _ := strings.Cut(what, "/")
	if verb == "LIST" && resource == "services" {
		return true // its service IP and port repair loops
	}
	switch resource {
	case "endpoints", "endpointslices", "flowschemas", "prioritylevelconfigurations", "servicecidrs", "ipaddresses", "apiservices":
		return true
	}
	return strings.HasPrefix(what, "/openapi")
}

// isLease is the Lease's requests: alertmedic's leader election and the
// API server's own identity Lease (renewed every 10 s) share the resource.
func isLease(key string) bool {
	_, what, _ := strings.Cut(key, " ")
	return what == "leases"
}

func isWatch(key string) bool { return strings.HasPrefix(key, "WATCH ") }

func isWrite(key string) bool {
	verb, _, _ := strings.Cut(key, " ")
	switch verb {
	case "POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION":
		return true
	}
	return false
}

// split sorts r into what alertmedic asked for beyond watches and the
// Lease (work), the Lease, the watches, and the API server's own.
func (r requests) split() (work, lease, watches, own requests) {
	work, lease, watches, own = requests{}, requests{}, requests{}, requests{}
	for k, v := range r {
		switch {
		case apiServerOwn(k):
			own[k] = v
		case isLease(k):
			lease[k] = v
		case isWatch(k):
			watches[k] = v
		default:
			work[k] = v
		}
	}
	return work, lease, watches, own
}

func (r requests) total() float64 {
	n := 0.0
	for _, v := range r {
		n += v
	}
	return n
}

func (r requests) writes() float64 {
	n := 0.0
	for k, v := range r {
		if isWrite(k) {
			n += v
		}
	}
	return n
}

// String lists the counts, each divided by per, largest first.
func (r requests) list(per float64) string {
	if len(r) == 0 {
		return "none"
	}
	keys := slices.Sorted(maps.Keys(r))
	slices.SortStableFunc(keys, func(a, b string) int {
		switch {
		case r[a] > r[b]:
			return -1
		case r[a] < r[b]:
			return 1
		}
		return 0
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %s", k, strconv.FormatFloat(r[k]/per, 'f', -1, 64))
	}
	return strings.Join(parts, ", ")
}
