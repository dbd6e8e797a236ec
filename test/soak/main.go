package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	amwebhook "github.com/prometheus/alertmanager/notify/webhook"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
	"github.com/alertmedic/alertmedic/internal/faultproxy"
	"github.com/alertmedic/alertmedic/internal/kube"
	"github.com/alertmedic/alertmedic/internal/testcluster"
)

type options struct {
	duration, settle, sample time.Duration
	rate                     float64 // notifications per second
	faults                   float64 // chance of each kind of fault per API request
	outageEvery, outageFor   time.Duration
	bin, dir                 string
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 10*time.Minute, "how long to send notifications")
	flag.DurationVar(&o.settle, "settle", 3*time.Minute, "how long, after sending stops and faults end, every episode has to be finished")
	flag.DurationVar(&o.sample, "sample", 30*time.Second, "how often to sample alertmedic's RSS and goroutines")
	flag.Float64Var(&o.rate, "rate", 4, "notifications posted per second")
	flag.Float64Var(&o.faults, "faults", 0.01, "chance of each kind of injected fault (delay, 503, 500, 429, cut, write answered 504, write answer lost) per API request")
	flag.DurationVar(&o.outageEvery, "outage-every", 3*time.Minute, "how often the API server becomes unreachable (0: never)")
	flag.DurationVar(&o.outageFor, "outage-for", 10*time.Second, "how long each outage lasts")
	flag.StringVar(&o.bin, "bin", "bin/alertmedic", "the alertmedic binary (make build)")
	flag.StringVar(&o.dir, "dir", "", "where to keep alertmedic's log and files (default: a new temporary folder)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ok, err := run(ctx, o, log)
	if err != nil {
		log.Error("soak could not run", "err", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

const (
	recordsNS = "alertmedic"
	workNS    = "soak"
	token     = "soak-token"
	rulesText = `rules:
  - name: restart
    match: ['alertname="SoakRestart"']
    target: {kind: Deployment, namespace: '{{ .Labels.namespace }}', name: '{{ .Labels.deployment }}'}
    action: restart
  - name: scale-up
    match: ['alertname="SoakScale"']
    target: {kind: Deployment, namespace: '{{ .Labels.namespace }}', name: '{{ .Labels.deployment }}'}
    action: scale
    scale: {replicas: "+1", max: 10}
`
)

// episode is one firing episode of one alert, with a Deployment of its own:
// its generation says how many times alertmedic changed it.
type episode struct {
	alert    template.Alert
	accepted bool // a firing notification of it was answered 200
	resolved bool
}

type soak struct {
	o     options
	log   *slog.Logger
	kube  kube.Client
	proxy *faultproxy.Proxy
	addr  string // alertmedic's listen address

	mu       sync.Mutex
	episodes []*episode
	final    map[string]bool // deployment -> its record is finished
	posts    map[string]int  // kind of post -> count
	answers  map[int]int     // HTTP status -> count (0: transport error)
}

func run(ctx context.Context, o options, log *slog.Logger) (bool, error) {
	if o.dir == "" {
		d, err := os.MkdirTemp("", "alertmedic-soak-")
		if err != nil {
			return false, err
		}
		o.dir = d
	}
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		return false, err
	}
	cluster, err := testcluster.Start()
	if err != nil {
		return false, err
	}
	defer cluster.Stop()
	proxy, err := faultproxy.Start(cluster.Config)
	if err != nil {
		return false, err
	}
	defer proxy.Close()
	s := &soak{o: o, log: log, kube: cluster.Records, proxy: proxy, final: map[string]bool{}, posts: map[string]int{}, answers: map[int]int{}}
	for _, ns := range []string{recordsNS, workNS} {
		if err := s.kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return false, fmt.Errorf("create namespace %s: %w", ns, err)
		}
	}
	kubeconfig := filepath.Join(o.dir, "proxy.kubeconfig")
	rules := filepath.Join(o.dir, "rules.yaml")
	tokenFile := filepath.Join(o.dir, "token")
	for path, text := range map[string]string{
		kubeconfig: fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters: [{name: proxy, cluster: {server: 'http://%s'}}]\n"+
			"users: [{name: soak, user: {}}]\ncontexts: [{name: proxy, context: {cluster: proxy, user: soak}}]\ncurrent-context: proxy\n", proxy.Addr()),
		rules: rulesText, tokenFile: token,
	} {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			return false, err
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return false, err
	}
	s.addr = ln.Addr().String()
	ln.Close()
	logFile, err := os.Create(filepath.Join(o.dir, "alertmedic.log"))
	if err != nil {
		return false, err
	}
	defer logFile.Close()
	log.Info("soak starting", "duration", o.duration, "rate", o.rate, "faults", o.faults, "outage_every", o.outageEvery,
		"outage_for", o.outageFor, "alertmedic_log", logFile.Name())

	// alertmedic, restarted when it exits (as its Deployment would be).
	args := []string{"serve", "--listen", s.addr, "--kubeconfig", kubeconfig, "--rules", rules, "--token-file", tokenFile,
		"--namespace", recordsNS, "--identity", "soak-0", "--breaker-max", "-1", "--log.format", "json"}
	procCtx, stopProc := context.WithCancel(ctx)
	pids := make(chan int, 1)
	var restarts int
	var wg sync.WaitGroup
	wg.Go(func() {
		for procCtx.Err() == nil {
			cmd := exec.Command(bin, args...)
			cmd.Stdout, cmd.Stderr = logFile, logFile
			if err := cmd.Start(); err != nil {
				log.Error("start alertmedic", "err", err)
				stopProc()
				return
			}
			pids <- cmd.Process.Pid
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case err := <-exited:
				restarts++
				log.Warn("alertmedic exited; starting it again", "err", err)
			case <-procCtx.Done():
				_ = cmd.Process.Signal(syscall.SIGTERM)
				<-exited
			}
		}
	})
	defer func() { stopProc(); wg.Wait() }()
	pid := <-pids
	if !s.waitReady(ctx, time.Minute) {
		return false, fmt.Errorf("alertmedic did not get ready within a minute; see %s", logFile.Name())
	}

	// Faults, then traffic, for the duration.
	s.addFaults()
	sendCtx, stopSending := context.WithTimeout(ctx, o.duration)
	defer stopSending()
	var traffic sync.WaitGroup
	traffic.Go(func() { s.send(sendCtx) })
	traffic.Go(func() { s.outages(sendCtx) })
	traffic.Go(func() { s.watchRecords(sendCtx) })
	var samples []string
	sample := func() {
		select {
		case p := <-pids:
			pid = p
		default:
		}
		samples = append(samples, s.sampleLine(pid))
	}
	sample()
	tick := time.NewTicker(o.sample)
	for sendCtx.Err() == nil {
		select {
		case <-tick.C:
			sample()
		case <-sendCtx.Done():
		}
	}
	tick.Stop()
	traffic.Wait()
	if ctx.Err() != nil {
		return false, ctx.Err()
	}

	// No more faults: every accepted episode must now be finished.
	faults := map[string]int{}
	for _, name := range faultNames {
		faults[name] = proxy.Hits(name)
	}
	requests := len(proxy.Requests())
	proxy.Reset()
	if err := proxy.Up(); err != nil {
		return false, err
	}
	s.resendUnaccepted(ctx)
	deadline := time.Now().Add(o.settle)
	for !s.allFinal(ctx) && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(time.Second)
	}
	sample()
	fmt.Printf("\nAPI requests while faults were on: %d; faults injected:", requests)
	for _, name := range faultNames {
		fmt.Printf(" %q=%d", name, faults[name])
	}
	return s.report(ctx, samples, restarts)
}

func (s *soak) waitReady(ctx context.Context, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if resp, err := http.Get("http://" + s.addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return false
}

var faultNames = []string{"delay 2s", "503", "500", "429", "cut before forwarding", "write applied, answered 504", "write applied, answer lost"}

// addFaults injects, with chance o.faults each, every kind of fault the
// proxy has into alertmedic's API requests.
func (s *soak) addFaults() {
	p := s.o.faults
	chance := func(r *http.Request) bool { return rand.Float64() < p }
	write := func(r *http.Request) bool { return r.Method != http.MethodGet && chance(r) }
	for _, r := range []faultproxy.Rule{
		{Name: "delay 2s", Delay: 2 * time.Second, Kind: faultproxy.NoWatch, Match: chance},
		{Name: "503", Status: http.StatusServiceUnavailable, Match: chance},
		{Name: "500", Status: http.StatusInternalServerError, Match: chance},
		{Name: "429", Status: http.StatusTooManyRequests, Match: chance},
		{Name: "cut before forwarding", Cut: true, Match: chance},
		{Name: "write applied, answered 504", After: faultproxy.Answer504, Kind: faultproxy.NoWatch, Match: write},
		{Name: "write applied, answer lost", After: faultproxy.DropAnswer, Kind: faultproxy.NoWatch, Match: write},
	} {
		s.proxy.Add(r)
	}
}

// outages make the API server unreachable for o.outageFor every o.outageEvery.
func (s *soak) outages(ctx context.Context) {
	if s.o.outageEvery <= 0 {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.o.outageEvery):
		}
		s.log.Info("API server unreachable", "for", s.o.outageFor)
		s.proxy.Down()
		select {
		case <-ctx.Done():
		case <-time.After(s.o.outageFor):
		}
		if err := s.proxy.Up(); err != nil {
			s.log.Error("API server back", "err", err)
		}
	}
}

// send posts at o.rate a mix of new episodes, re-sends, duplicates (the
// same notification twice at once, as from an Alertmanager pair) and
// resolves of finished episodes.
func (s *soak) send(ctx context.Context) {
	tick := time.NewTicker(time.Duration(float64(time.Second) / s.o.rate))
	defer tick.Stop()
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		kind, alerts, eps := s.next(ctx)
		if alerts == nil {
			continue
		}
		copies := 1
		if kind == "duplicate" {
			copies = 2
		}
		body := notification(alerts)
		for range copies {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				if s.post(ctx, body) && alerts[0].Status == "firing" {
					s.mu.Lock()
					for _, e := range eps {
						e.accepted = true
					}
					s.mu.Unlock()
				}
			})
		}
	}
}

// next picks what to post.
func (s *soak) next(ctx context.Context) (string, []template.Alert, []*episode) {
	s.mu.Lock()
	var firing []*episode
	for _, e := range s.episodes {
		if !e.resolved {
			firing = append(firing, e)
		}
	}
	s.mu.Unlock()
	x := rand.Float64()
	switch {
	case x < 0.3 || len(firing) == 0:
		e, err := s.newEpisode(ctx)
		if err != nil {
			s.log.Error("new episode", "err", err)
			return "", nil, nil
		}
		s.count("new")
		return "new", []template.Alert{e.alert}, []*episode{e}
	case x < 0.85:
		// A group of up to 5 firing episodes, as Alertmanager re-sends it.
		group := make([]*episode, 0, 5)
		for range min(5, len(firing)) {
			group = append(group, firing[rand.IntN(len(firing))])
		}
		kind := "resend"
		if x >= 0.7 {
			kind = "duplicate"
		}
		s.count(kind)
		alerts := make([]template.Alert, len(group))
		for i, e := range group {
			alerts[i] = e.alert
		}
		return kind, alerts, group
	default:
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, e := range firing {
			if s.final[e.alert.Labels["deployment"]] {
				e.resolved = true
				a := e.alert
				a.Status, a.EndsAt = "resolved", time.Now()
				s.posts["resolve"]++
				return "resolve", []template.Alert{a}, nil
			}
		}
		return "", nil, nil
	}
}

func (s *soak) count(kind string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.posts[kind]++
}

// newEpisode creates a Deployment for a new episode (directly, not through
// the proxy) and returns the episode, half of them restarts, half scales.
func (s *soak) newEpisode(ctx context.Context) (*episode, error) {
	s.mu.Lock()
	n := len(s.episodes)
	s.mu.Unlock()
	name := fmt.Sprintf("ep-%d", n)
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: workNS},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
			},
		},
	}
	if err := s.kube.Create(ctx, d); err != nil {
		return nil, err
	}
	alertname := "SoakRestart"
	if n%2 == 1 {
		alertname = "SoakScale"
	}
	ls := model.LabelSet{"alertname": model.LabelValue(alertname), "namespace": workNS, "deployment": model.LabelValue(name)}
	kv := template.KV{}
	for k, v := range ls {
		kv[string(k)] = string(v)
	}
	e := &episode{alert: template.Alert{Status: "firing", Labels: kv, Annotations: template.KV{}, StartsAt: time.Now(), Fingerprint: ls.Fingerprint().String()}}
	s.mu.Lock()
	s.episodes = append(s.episodes, e)
	s.mu.Unlock()
	return e, nil
}

func notification(alerts []template.Alert) []byte {
	msg := amwebhook.Message{Version: "4", GroupKey: "{}:{soak}", Data: &template.Data{
		Receiver: "alertmedic", Status: alerts[0].Status, Alerts: alerts,
		GroupLabels: template.KV{}, CommonLabels: template.KV{}, CommonAnnotations: template.KV{},
	}}
	b, _ := json.Marshal(msg)
	return b
}

// post sends body as Alertmanager does, retrying 5xx and transport errors
// for up to a minute; it reports whether it was answered 200.
func (s *soak) post(ctx context.Context, body []byte) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	for wait := 500 * time.Millisecond; ; wait = min(2*wait, 8*time.Second) {
		code := 0
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+s.addr+"/webhook", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body) //nolint:errcheck
			resp.Body.Close()
			code = resp.StatusCode
		}
		s.mu.Lock()
		s.answers[code]++
		s.mu.Unlock()
		if code != 0 && code < 500 {
			return code == http.StatusOK
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
	}
}

// resendUnaccepted posts, once faults are over, the episodes never
// answered 200 (Alertmanager keeps re-sending them).
func (s *soak) resendUnaccepted(ctx context.Context) {
	s.mu.Lock()
	var todo []*episode
	for _, e := range s.episodes {
		if !e.accepted && !e.resolved {
			todo = append(todo, e)
		}
	}
	s.mu.Unlock()
	for _, e := range todo {
		if s.post(ctx, notification([]template.Alert{e.alert})) {
			s.mu.Lock()
			e.accepted = true
			s.mu.Unlock()
		}
	}
}

// watchRecords notes which episodes' records are finished, every 2s.
func (s *soak) watchRecords(ctx context.Context) {
	for ctx.Err() == nil {
		s.allFinal(ctx)
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
}

// allFinal refreshes s.final and reports whether every accepted episode's
// record is finished.
func (s *soak) allFinal(ctx context.Context) bool {
	var list v1alpha1.RemediationList
	if err := s.kube.List(ctx, &list, kube.InNamespace(recordsNS)); err != nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range list.Items {
		s.final[r.Spec.Target.Name] = r.Status.Phase.Final()
	}
	for _, e := range s.episodes {
		if e.accepted && !s.final[e.alert.Labels["deployment"]] {
			return false
		}
	}
	return true
}

// sampleLine is alertmedic's RSS and goroutines now.
func (s *soak) sampleLine(pid int) string {
	rss := "?"
	if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				if kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB")); err == nil {
					rss = fmt.Sprintf("%.1f MB", float64(kb)/1024)
				}
			}
		}
	}
	goroutines := "?"
	if resp, err := http.Get("http://" + s.addr + "/metrics"); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for line := range strings.SplitSeq(string(body), "\n") {
			if v, ok := strings.CutPrefix(line, "go_goroutines "); ok {
				goroutines = v
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("%s  pid %d  rss %s  goroutines %s  episodes %d",
		time.Now().Format(time.TimeOnly), pid, rss, goroutines, len(s.episodes))
}

// report prints every episode's action count and the samples; it reports
// whether every episode was acted on exactly once.
func (s *soak) report(ctx context.Context, samples []string, restarts int) (bool, error) {
	var list v1alpha1.RemediationList
	if err := s.kube.List(ctx, &list, kube.InNamespace(recordsNS)); err != nil {
		return false, err
	}
	records := map[string]v1alpha1.Remediation{}
	for _, r := range list.Items {
		records[r.Spec.Target.Name] = r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Printf("\n\nalertmedic soak: %s at %.1f notifications/s, fault chance %.3f per kind, outages of %s every %s\n",
		s.o.duration, s.o.rate, s.o.faults, s.o.outageFor, s.o.outageEvery)
	fmt.Printf("posted: %v; answers by status (0: transport error): %v; alertmedic restarts: %d\n", s.posts, s.answers, restarts)
	histogram := map[int]int{}
	var bad []string
	for i, e := range s.episodes {
		name := e.alert.Labels["deployment"]
		var d appsv1.Deployment
		if err := s.kube.Get(ctx, kube.ObjectKey{Namespace: workNS, Name: name}, &d); err != nil {
			return false, err
		}
		// Created at generation 1; each action (a restart's template
		// patch, a scale of spec.replicas) adds one.
		acted := int(d.Generation - 1)
		if e.alert.Labels["alertname"] == "SoakScale" && int(*d.Spec.Replicas-1) != acted {
			bad = append(bad, fmt.Sprintf("%s: generation %d but replicas %d", name, d.Generation, *d.Spec.Replicas))
		}
		histogram[acted]++
		if acted != 1 {
			r := records[name]
			bad = append(bad, fmt.Sprintf("episode %d (%s, %s, accepted %v): acted on %d times; record %s %s/%s %q",
				i, name, e.alert.Labels["alertname"], e.accepted, acted, r.Name, r.Status.Phase, r.Status.Reason, r.Status.Message))
		}
	}
	keys := make([]int, 0, len(histogram))
	for k := range histogram {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	fmt.Printf("episodes: %d; by times acted on:", len(s.episodes))
	for _, k := range keys {
		fmt.Printf(" %d×=%d", k, histogram[k])
	}
	fmt.Println()
	for _, b := range bad {
		fmt.Println("  NOT ONCE:", b)
	}
	fmt.Println("alertmedic over time:")
	for _, l := range samples {
		fmt.Println(" ", l)
	}
	if len(bad) > 0 {
		fmt.Printf("FAIL: %d episodes not acted on exactly once\n", len(bad))
		return false, nil
	}
	fmt.Println("PASS: every episode acted on exactly once")
	return true, nil
}
