package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	amwebhook "github.com/prometheus/alertmanager/notify/webhook"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"
)

const token = "bench-token"

// t0 is the startsAt of the alerts whose episodes do not change.
var t0 = time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)

// alert is a firing alert with the labels of a typical kube-state-metrics
// alert; extra labels (name, value pairs) make it distinct.
func alert(alertname, ns, deployment string, startsAt time.Time, extra ...string) template.Alert {
	ls := model.LabelSet{"alertname": model.LabelValue(alertname), "namespace": model.LabelValue(ns),
		"deployment": model.LabelValue(deployment), "severity": "critical", "container": "app",
		"pod": model.LabelValue(deployment + "-7d9f8b6c5-x2x4q"), "job": "kube-state-metrics",
		"instance": "10.0.0.1:8080", "cluster": "prod-eu-1"}
	for i := 0; i+1 < len(extra); i += 2 {
		ls[model.LabelName(extra[i])] = model.LabelValue(extra[i+1])
	}
	kv := template.KV{}
	for k, v := range ls {
		kv[string(k)] = string(v)
	}
	return template.Alert{Status: "firing", Labels: kv, Annotations: template.KV{"summary": "Pod is crash looping."},
		StartsAt: startsAt, GeneratorURL: "http://prometheus:9090/graph", Fingerprint: ls.Fingerprint().String()}
}

// notification is an Alertmanager version-4 payload of alerts.
func notification(alerts ...template.Alert) []byte {
	msg := amwebhook.Message{Version: "4", GroupKey: `{}/{severity="critical"}:{alertname="` + alerts[0].Labels["alertname"] + `"}`,
		Data: &template.Data{
			Receiver: "alertmedic", Status: "firing", Alerts: alerts,
			GroupLabels: template.KV{"alertname": alerts[0].Labels["alertname"]}, CommonLabels: template.KV{},
			CommonAnnotations: template.KV{}, ExternalURL: "http://alertmanager:9093",
		}}
	b, err := json.Marshal(msg)
	if err != nil {
		panic(err) // the types above always marshal
	}
	return b
}

// poster posts notifications as Alertmanager does, over kept-alive
// connections.
type poster struct{ client *http.Client }

func newPoster(conns int) *poster {
	return &poster{client: &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, IdleConnTimeout: time.Minute,
	}}}
}

// post sends body once and returns the HTTP status (0: transport error).
func (p *poster) post(ctx context.Context, url string, body []byte) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/webhook", bytes.NewReader(body))
	if err != nil {
		return 0
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// postRetrying posts as Alertmanager does: 5xx and transport errors are
// retried with a backoff from 500 ms to 8 s, until ctx ends. It returns the
// last status and how many attempts it took.
func (p *poster) postRetrying(ctx context.Context, url string, body []byte) (int, int) {
	attempts := 0
	for wait := 500 * time.Millisecond; ; wait = min(2*wait, 8*time.Second) {
		attempts++
		code := p.post(ctx, url, body)
		if code != 0 && code < 500 {
			return code, attempts
		}
		select {
		case <-ctx.Done():
			return code, attempts
		case <-time.After(wait):
		}
	}
}

// hammer posts body from conns goroutines back to back for d, after a
// warm-up of half a second, and returns the notifications answered 200 per
// second. Any other answer is an error: what is measured is throughput of
// accepted notifications.
func hammer(ctx context.Context, url string, body []byte, conns int, d time.Duration) (float64, error) {
	l := newLoad(url, body, conns)
	if err := l.warm(ctx); err != nil {
		return 0, err
	}
	n, took, err := l.run(ctx, d)
	return float64(n) / took.Seconds(), err
}

// load posts one body to one server from conns kept-alive connections.
type load struct {
	url   string
	body  []byte
	conns int
	p     *poster
}

func newLoad(url string, body []byte, conns int) *load {
	return &load{url: url, body: body, conns: conns, p: newPoster(conns)}
}

// warm posts for half a second, unmeasured: connections opened, the
// server's first answers made.
func (l *load) warm(ctx context.Context) error {
	_, _, err := l.run(ctx, 500*time.Millisecond)
	return err
}

// run posts for d and returns how many notifications were answered 200 and
// how long that took. Any other answer is an error.
func (l *load) run(ctx context.Context, d time.Duration) (int64, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var ok atomic.Int64
	var mu sync.Mutex
	var bad error
	var wg sync.WaitGroup
	start := time.Now()
	for range l.conns {
		wg.Go(func() {
			for ctx.Err() == nil {
				code := l.p.post(ctx, l.url, l.body)
				if ctx.Err() != nil {
					return
				}
				if code != http.StatusOK {
					mu.Lock()
					bad = fmt.Errorf("POST %s/webhook answered %d", l.url, code)
					mu.Unlock()
					return
				}
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	return ok.Load(), time.Since(start), bad
}

// loadRounds is how many turns each side of a throughput comparison takes.
const loadRounds = 5

// spread is the median of ratios and their range, as "median 1.02×, 0.97×
// to 1.06×".
func spread(ratios []float64) string {
	if len(ratios) == 0 {
		return "none"
	}
	r := slices.Clone(ratios)
	slices.Sort(r)
	return fmt.Sprintf("median %.2f×, %.2f× to %.2f×", r[len(r)/2], r[0], r[len(r)-1])
}

// side is one server's part of a comparison: its notifications per second
// over all its turns, and the CPU time its process spent per notification.
type side struct {
	rate float64
	cpu  time.Duration
}

// turns is a throughput comparison of two servers, both running: after a
// warm-up of half a second each, a and b post in turns of d/rounds, the
// order swapped every round (a b, b a, a b, ...) so that whatever changes
// on the machine over the run meets both alike. pa and pb are the two
// servers' processes, for their CPU time. It returns each side's figures
// and the ratio a/b of every round's throughput.
func turns(ctx context.Context, a, b *load, pa, pb *proc, d time.Duration, rounds int) (sa, sb side, ratios []float64, err error) {
	for _, l := range []*load{a, b} {
		if err := l.warm(ctx); err != nil {
			return sa, sb, nil, err
		}
	}
	turn := d / time.Duration(rounds)
	var n [2]int64
	var took, cpu [2]time.Duration
	for i := range rounds {
		order := []int{0, 1}
		if i%2 == 1 {
			order = []int{1, 0}
		}
		var rate [2]float64
		for _, j := range order {
			l, p := a, pa
			if j == 1 {
				l, p = b, pb
			}
			before := p.cpu()
			k, t, err := l.run(ctx, turn)
			if err != nil {
				return sa, sb, nil, err
			}
			cpu[j] += p.cpu() - before
			n[j], took[j], rate[j] = n[j]+k, took[j]+t, float64(k)/t.Seconds()
		}
		ratios = append(ratios, rate[0]/rate[1])
	}
	sa = side{rate: float64(n[0]) / took[0].Seconds(), cpu: cpu[0] / time.Duration(max(n[0], 1))}
	sb = side{rate: float64(n[1]) / took[1].Seconds(), cpu: cpu[1] / time.Duration(max(n[1], 1))}
	return sa, sb, ratios, nil
}

// probePeriod is how often the manifests' kubelet probes /readyz
// (readinessProbe.periodSeconds).
const probePeriod = 5 * time.Second

// kubelet probes url's /readyz every probePeriod for d, as the kubelet
// does, and returns how many probes it made and how many were not
// answered 200.
func kubelet(ctx context.Context, url string, d time.Duration) (probes, unready int) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	client := &http.Client{Timeout: 3 * time.Second} // timeoutSeconds
	t := time.NewTicker(probePeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return probes, unready
		case <-t.C:
		}
		probes++
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/readyz", nil)
		if err != nil {
			unready++
			continue
		}
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return probes - 1, unready // cut by the window's end
			}
			unready++
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			unready++
		}
	}
}
