package faultproxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
)

// Kind narrows a rule to watch requests or to the others.
type Kind int

const (
	AnyRequest Kind = iota
	WatchOnly       // ?watch=true or a /watch/ path
	NoWatch         // every request but watches
)

// AfterFault is what happens to a request once the API server has answered
// it: the write is applied upstream, the client does not learn so.
type AfterFault int

const (
	AfterNothing AfterFault = iota
	// Answer504 answers 504 with reason Timeout, as kube-apiserver does when
	// a request outlives its deadline (client-go: apierrors.IsTimeout).
	Answer504
	// DropAnswer closes the client's connection without an answer (client-go:
	// a transport error, such as "EOF" or "connection reset by peer").
	DropAnswer
)

// Rule is a fault for the requests it matches. Matching: Method (""
// matches any), Path a substring of the URL path ("" matches any), Kind,
// and Match when set; the first rule added that matches a request applies
// to it. Then, in order: Delay; Cut, or Status, or else the request is
// forwarded, its answer is held for AnswerDelay, and After applies.
type Rule struct {
	Name   string // counts Hits and labels the log
	Method string
	Path   string
	Kind   Kind
	Match  func(*http.Request) bool

	Delay  time.Duration // before anything else
	Cut    bool          // close the connection without forwarding or answering
	Status int           // answer this code (with a metav1.Status body) without forwarding
	// AnswerDelay holds the API server's answer this long before the
	// client gets it: the write is applied at once, the client learns so
	// late (or never, if it gives up first).
	AnswerDelay time.Duration
	After       AfterFault // forward, then answer 504 or drop the answer
	// Times is how many matching requests the rule applies to; 0: until it is
	// removed.
	Times int
}

// Request is one request the proxy saw, logged when it ended.
type Request struct {
	Method, Path string
	Watch        bool
	Rule         string // the rule applied, "" for none
	// Status is what the client got: 0 when the connection was cut without
	// an answer. Upstream is the API server's answer, 0 when not forwarded.
	Status, Upstream int
}

// Proxy forwards to an API server, with faults. Its methods are safe for
// concurrent use.
type Proxy struct {
	addr     string
	upstream *rest.Config
	srv      *http.Server
	proxy    *httputil.ReverseProxy

	mu    sync.Mutex
	ln    net.Listener // nil while down
	rules []*active
	hits  map[string]int
	log   []Request
	conns map[net.Conn]bool
}

type active struct {
	Rule
	left int // applications left when Times > 0
}

// Start listens on a loopback port and forwards every request to the API
// server of upstream, authenticated as upstream's user. Close it when done.
func Start(upstream *rest.Config) (*Proxy, error) {
	target, err := url.Parse(upstream.Host)
	if err != nil || target.Host == "" {
		target, err = url.Parse("https://" + upstream.Host)
		if err != nil {
			return nil, fmt.Errorf("upstream host %q: %w", upstream.Host, err)
		}
	}
	rt, err := rest.TransportFor(upstream)
	if err != nil {
		return nil, fmt.Errorf("upstream transport: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	p := &Proxy{addr: ln.Addr().String(), upstream: rest.CopyConfig(upstream), ln: ln, hits: map[string]int{}, conns: map[net.Conn]bool{}}
	p.proxy = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = target.Host
		},
		Transport:      rt,
		FlushInterval:  -1, // watches stream
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.errorHandler,
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve), ConnState: p.track, ReadHeaderTimeout: 10 * time.Second}
	go p.srv.Serve(ln) //nolint:errcheck // ends with Close or Down
	return p, nil
}

// Config returns a client config for the proxy: plain HTTP on loopback, no
// credentials (the proxy holds them); upstream's QPS, Burst and Timeout.
func (p *Proxy) Config() *rest.Config {
	c := rest.AnonymousClientConfig(p.upstream)
	c.Host, c.TLSClientConfig, c.Dial, c.Proxy = "http://"+p.addr, rest.TLSClientConfig{}, nil, nil
	return c
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.addr }

// Close stops the proxy and closes every connection.
func (p *Proxy) Close() error { return p.srv.Close() }

// Add adds a rule after the others and returns a function that removes it.
func (p *Proxy) Add(r Rule) (remove func()) {
	a := &active{Rule: r, left: r.Times}
	p.mu.Lock()
	p.rules = append(p.rules, a)
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		for i, x := range p.rules {
			if x == a {
				p.rules = append(p.rules[:i:i], p.rules[i+1:]...)
				return
			}
		}
	}
}

// Reset removes every rule and forgets the hits and the log. It does not
// bring a proxy that is down back up.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules, p.hits, p.log = nil, map[string]int{}, nil
}

// Hits is how many requests the rules named name applied to.
func (p *Proxy) Hits(name string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hits[name]
}

// Requests returns the log of requests, oldest first.
func (p *Proxy) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Request(nil), p.log...)
}

// Down makes the API server unreachable: the proxy stops listening, so new
// connections are refused ("connection refused", which client-go does not
// retry), and every open connection, watches included, is closed.
func (p *Proxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		return
	}
	p.ln.Close()
	p.ln = nil
	for c := range p.conns {
		c.Close()
	}
}

// Up listens again on the same address after Down.
func (p *Proxy) Up() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return fmt.Errorf("listen again on %s: %w", p.addr, err)
	}
	p.ln = ln
	go p.srv.Serve(ln) //nolint:errcheck // ends with Close or Down
	return nil
}

func (p *Proxy) track(c net.Conn, s http.ConnState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch s {
	case http.StateNew:
		if p.ln == nil { // accepted just before Down
			c.Close()
			return
		}
		p.conns[c] = true
	case http.StateHijacked, http.StateClosed:
		delete(p.conns, c)
	}
}

// IsWatch reports whether r is a watch request.
func IsWatch(r *http.Request) bool {
	w := r.URL.Query().Get("watch")
	return w == "true" || w == "1" || strings.Contains(r.URL.Path, "/watch/")
}

// match returns the rule that applies to r, counting it.
func (p *Proxy) match(r *http.Request, watch bool) *Rule {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range p.rules {
		if (a.Method != "" && a.Method != r.Method) || !strings.Contains(r.URL.Path, a.Path) ||
			(a.Kind == WatchOnly && !watch) || (a.Kind == NoWatch && watch) ||
			(a.Match != nil && !a.Match(r)) || (a.Times > 0 && a.left == 0) {
			continue
		}
		a.left--
		p.hits[a.Name]++
		rule := a.Rule
		return &rule
	}
	return nil
}

type ctxKey struct{}

// exchange is one request on its way through the proxy.
type exchange struct {
	rule          *Rule
	w             http.ResponseWriter
	entry         Request
	cut, answered bool
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	watch := IsWatch(r)
	x := &exchange{rule: p.match(r, watch), w: w, entry: Request{Method: r.Method, Path: r.URL.Path, Watch: watch}}
	defer p.record(x)
	rule := x.rule
	if rule == nil {
		p.forward(x, r)
		return
	}
	x.entry.Rule = rule.Name
	if rule.Delay > 0 {
		t := time.NewTimer(rule.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			x.cut = true
			return
		}
	}
	switch {
	case rule.Cut:
		cut(x)
	case rule.Status != 0:
		answer(x, r.Method, rule.Status, fmt.Sprintf("injected by faultproxy rule %q", rule.Name))
	default:
		p.forward(x, r)
	}
}

func (p *Proxy) forward(x *exchange, r *http.Request) {
	rec := &recorder{ResponseWriter: x.w, x: x}
	p.proxy.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), ctxKey{}, x)))
}

var errAfter = errors.New("answer withheld by faultproxy")

// modifyResponse applies a rule's After fault to the API server's answer.
func (p *Proxy) modifyResponse(resp *http.Response) error {
	x := resp.Request.Context().Value(ctxKey{}).(*exchange)
	x.entry.Upstream = resp.StatusCode
	if x.rule != nil && x.rule.AnswerDelay > 0 {
		t := time.NewTimer(x.rule.AnswerDelay)
		select {
		case <-t.C:
		case <-resp.Request.Context().Done():
			t.Stop()
			resp.Body.Close()
			return resp.Request.Context().Err() // the client gave up
		}
	}
	if x.rule == nil || x.rule.After == AfterNothing {
		return nil
	}
	// Read the whole answer, so that the write is surely done upstream.
	io.Copy(io.Discard, resp.Body) //nolint:errcheck // only waiting for the end
	resp.Body.Close()
	return errAfter
}

func (p *Proxy) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	x := r.Context().Value(ctxKey{}).(*exchange)
	switch {
	case errors.Is(err, errAfter) && x.rule.After == Answer504:
		answer(x, r.Method, http.StatusGatewayTimeout, fmt.Sprintf("the request was applied; answer replaced by faultproxy rule %q", x.rule.Name))
	case errors.Is(err, errAfter):
		cut(x)
	case r.Context().Err() != nil:
		x.cut = true // the client went away (or Down closed it)
	default:
		answer(x, r.Method, http.StatusBadGateway, fmt.Sprintf("faultproxy: upstream: %v", err))
	}
}

// answer writes a Kubernetes Status of code, with the reason client-go
// would infer from the code alone.
func answer(x *exchange, method string, code int, msg string) {
	st := apierrors.NewGenericServerResponse(code, method, schema.GroupResource{}, "", msg, 0, false).ErrStatus
	st.Kind, st.APIVersion = "Status", "v1"
	st.Message += " (" + msg + ")"
	body, _ := json.Marshal(st)
	x.w.Header().Set("Content-Type", "application/json")
	x.w.WriteHeader(code)
	x.w.Write(body) //nolint:errcheck // the client may be gone
	x.entry.Status, x.answered = code, true
}

// cut closes the client's connection without an answer.
func cut(x *exchange) {
	x.cut = true
	if conn, _, err := http.NewResponseController(x.w).Hijack(); err == nil {
		conn.Close()
		return
	}
	panic(http.ErrAbortHandler) // not hijackable: abort the response
}

func (p *Proxy) record(x *exchange) {
	if x.cut {
		x.entry.Status = 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.log = append(p.log, x.entry)
}

// recorder notes the status the client is sent.
type recorder struct {
	http.ResponseWriter
	x *exchange
}

func (r *recorder) WriteHeader(code int) {
	if !r.x.answered {
		r.x.entry.Status, r.x.answered = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
