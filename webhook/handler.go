package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// maxPooledBuffer is the largest body buffer kept for reuse; rarer, larger
// bodies are left to the garbage collector.
const maxPooledBuffer = 1 << 20

// handler serves POST /webhook. It is a plain http.Handler so that the hot
// path is one decode plus a loop over the alerts, whatever router serves it.
type handler struct {
	sink          Sink
	creds         *credentials
	maxBody       int64
	acceptTimeout time.Duration
	retryAfter    string
	log           *slog.Logger
	metrics       *Metrics
	bufs          sync.Pool
	jsonType      []string // the Content-Type of the 200 answer
}

// errAcceptTimeout is the cause of an Accept cut short by Options.AcceptTimeout.
var errAcceptTimeout = errors.New("accept deadline passed")

func newHandler(o Options, m *Metrics) *handler {
	return &handler{
		sink:          o.Sink,
		creds:         newCredentials(o),
		maxBody:       o.MaxBodyBytes,
		acceptTimeout: o.AcceptTimeout,
		retryAfter:    strconv.Itoa(int((o.RetryAfter + time.Second - 1) / time.Second)),
		log:           o.Logger,
		metrics:       m,
		bufs:          sync.Pool{New: func() any { return new(bytes.Buffer) }},
		jsonType:      []string{"application/json"},
	}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	code := h.ingest(w, r)
	h.metrics.answered(code, time.Since(start))
}

// ingest answers one notification and returns the status code it sent.
func (h *handler) ingest(w http.ResponseWriter, r *http.Request) (code int) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			h.log.Error("panic while handling notification", "panic", p, "stack", string(debug.Stack()))
			code = http.StatusInternalServerError
			writeError(w, code, "internal error while handling the notification (Alertmanager will retry); alertmedic's logs have the details")
		}
	}()

	// Everything decided from the headers alone is answered before a byte
	// of the body is read, on a connection that is then closed: a sender
	// with the wrong token, or trickling a body it may not send, gets its
	// answer at once and holds nothing.
	if h.creds != nil {
		if reason := h.creds.check(r); reason != "" {
			w.Header()["Www-Authenticate"] = slices.Clone(h.creds.challenges)
			return h.refuseUnread(w, r, http.StatusUnauthorized, reason)
		}
	}
	if ce := r.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return h.refuseUnread(w, r, http.StatusUnsupportedMediaType,
			fmt.Sprintf("unsupported Content-Encoding %q: send the payload uncompressed", clip(ce)))
	}
	if ct := r.Header.Get("Content-Type"); !isJSON(ct) {
		msg := fmt.Sprintf("unsupported Content-Type %q: send application/json, as Alertmanager's webhook_configs does", clip(ct))
		if ct == "" {
			msg = "missing Content-Type: send application/json, as Alertmanager's webhook_configs does"
		}
		return h.refuseUnread(w, r, http.StatusUnsupportedMediaType, msg)
	}
	if r.ContentLength > h.maxBody {
		return h.refuseUnread(w, r, http.StatusRequestEntityTooLarge,
			h.tooLarge(fmt.Sprintf("request body is %d bytes, more", r.ContentLength)))
	}

	buf := h.bufs.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxPooledBuffer {
			buf.Reset()
			h.bufs.Put(buf)
		}
	}()
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(http.MaxBytesReader(unwrap(w), r.Body, h.maxBody)); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return h.reject(w, r, http.StatusRequestEntityTooLarge, h.tooLarge("request body is more"), "")
		}
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
			// The server's read timeout cut a body that came too slowly.
			// Alertmanager on a congested link retries a 5xx; a hostile
			// sender is cut off either way.
			h.log.Warn("request body not received in time", "remote_addr", r.RemoteAddr, "user_agent", r.UserAgent(), "err", err)
			w.Header().Set("Connection", "close")
			w.Header().Set("Retry-After", h.retryAfter)
			writeError(w, http.StatusServiceUnavailable, "the request body did not arrive within alertmedic's read timeout; Alertmanager will retry")
			return http.StatusServiceUnavailable
		}
		return h.reject(w, r, http.StatusBadRequest, "reading request body: "+err.Error(), "")
	}

	msg, t, err := decode(buf.Bytes())
	if err != nil {
		return h.reject(w, r, http.StatusBadRequest, err.Error(), msg.GroupKey)
	}

	h.metrics.firing.Add(float64(t.firing))
	h.metrics.resolved.Add(float64(t.resolved))
	if msg.TruncatedAlerts > 0 {
		h.metrics.truncated.Add(float64(msg.TruncatedAlerts))
		h.log.Warn("notification truncated by Alertmanager", "group_key", msg.GroupKey, "receiver", msg.Receiver,
			"truncated_alerts", msg.TruncatedAlerts, "alerts", len(msg.Alerts))
	}

	ctx, cancel := context.WithTimeoutCause(r.Context(), h.acceptTimeout, errAcceptTimeout)
	err = h.sink.Accept(ctx, msg)
	timedOut := context.Cause(ctx) == errAcceptTimeout
	cancel()
	if err != nil {
		if timedOut {
			w.Header().Set("Retry-After", h.retryAfter)
			h.log.Warn("notification not accepted in time", "group_key", msg.GroupKey, "alerts", len(msg.Alerts),
				"accept_timeout", h.acceptTimeout, "err", err)
			writeError(w, http.StatusServiceUnavailable, fmt.Sprintf(
				"alertmedic could not record the notification within %s (the Kubernetes API server is slow or unreachable), Alertmanager will retry", h.acceptTimeout))
			return http.StatusServiceUnavailable
		}
		if errors.Is(err, ErrBusy) {
			w.Header().Set("Retry-After", h.retryAfter)
			h.log.Warn("notification deferred", "group_key", msg.GroupKey, "alerts", len(msg.Alerts), "err", err)
			writeError(w, http.StatusServiceUnavailable, "alertmedic cannot accept work now, Alertmanager will retry: "+err.Error())
			return http.StatusServiceUnavailable
		}
		h.log.Error("notification not accepted", "group_key", msg.GroupKey, "alerts", len(msg.Alerts), "err", err)
		writeError(w, http.StatusInternalServerError, "alertmedic failed to accept the notification, Alertmanager will retry: "+err.Error())
		return http.StatusInternalServerError
	}

	// Debug: Alertmanager re-sends every group at each repeat interval, so
	// at info this line would be most of the log and a fifth of a re-send's
	// cost; what a notification planned is logged at info by the engine
	// ("remediation planned", "alert resolved; ...").
	if h.log.Enabled(r.Context(), slog.LevelDebug) { // else its arguments would be boxed for nothing
		h.log.Debug("notification accepted", "group_key", msg.GroupKey, "receiver", msg.Receiver, "status", msg.Status,
			"firing", t.firing, "resolved", t.resolved)
	}
	// Already in canonical form, and never changed in place by net/http:
	// one value for every answer, not a new one each time.
	w.Header()["Content-Type"] = h.jsonType
	w.WriteHeader(http.StatusOK)
	b := make([]byte, 0, 48)
	b = append(b, `{"status":"accepted","alerts":`...)
	b = strconv.AppendInt(b, int64(len(msg.Alerts)), 10)
	b = append(b, "}\n"...)
	_, _ = w.Write(b)
	return http.StatusOK
}

// refuseUnread rejects a request whose body has not been read, and closes
// the connection after the answer rather than reading the rest of the body
// (net/http would otherwise read up to 256 KiB of it, at the sender's pace,
// before answering).
func (h *handler) refuseUnread(w http.ResponseWriter, r *http.Request, code int, reason string) int {
	w.Header().Set("Connection", "close")
	return h.reject(w, r, code, reason, "")
}

// reject answers a request that is refused for good (4xx) and logs why.
func (h *handler) reject(w http.ResponseWriter, r *http.Request, code int, reason, groupKey string) int {
	h.log.Warn("notification rejected", "code", code, "reason", reason, "group_key", groupKey,
		"remote_addr", r.RemoteAddr, "user_agent", r.UserAgent())
	writeError(w, code, reason)
	return code
}

func (h *handler) tooLarge(what string) string {
	return fmt.Sprintf("%s than alertmedic's limit of %d bytes: lower max_alerts in the Alertmanager webhook_configs receiver, or raise alertmedic's body limit", what, h.maxBody)
}

// isJSON accepts application/json with any parameters (charset=utf-8).
func isJSON(contentType string) bool {
	if contentType == "application/json" {
		return true
	}
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "application/json")
}

// unwrap returns the innermost ResponseWriter, which http.MaxBytesReader
// tells to close the connection once the limit is hit.
func unwrap(w http.ResponseWriter) http.ResponseWriter {
	for {
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return w
		}
		w = u.Unwrap()
	}
}

// errorBody is the JSON shape of every 4xx and 5xx answer.
type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	b, _ := json.Marshal(errorBody{Error: msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

// decodeError turns an encoding/json error into a message that says where
// in the body the problem is and what it is.
func decodeError(body []byte, err error) string {
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		if len(bytes.TrimSpace(body)) == 0 {
			return fmt.Sprintf("request body is empty: expected a JSON object, Alertmanager's webhook payload version %q", supportedVersion)
		}
		// encoding/json's messages are the only way to tell these apart.
		if strings.HasSuffix(se.Error(), "after top-level value") {
			return fmt.Sprintf("invalid JSON at byte offset %d: unexpected data after the JSON object (near: %s); send one notification per request", se.Offset, near(body, se.Offset))
		}
		if se.Error() == "unexpected end of JSON input" {
			return fmt.Sprintf("invalid JSON: the body ends after %d bytes, before the JSON object is complete (was it cut short?)", len(body))
		}
		return fmt.Sprintf("invalid JSON at byte offset %d: %s (near: %s)", se.Offset, se.Error(), near(body, se.Offset))
	}
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		field := strings.TrimPrefix(te.Field, "Data.")
		if p := pathAt(body, te.Offset); p != "" {
			field = p
		}
		if field == "" {
			return fmt.Sprintf("invalid payload at byte offset %d: expected a JSON object, got %s", te.Offset, te.Value)
		}
		return fmt.Sprintf("invalid payload at byte offset %d: %s must be %s, got %s", te.Offset, field, jsonKind(te.Type), te.Value)
	}
	// Errors of json.Unmarshaler (time.Time) carry no position: find the
	// alert and field by decoding the timestamps alone.
	return "invalid payload: " + locateTimeError(body, err)
}

// pathAt returns the JSON path (alerts[3].labels.severity) of the value of
// body that ends at or spans byte offset, or "". encoding/json's type errors
// name the field by its Go path, without the alert index or the map key.
func pathAt(body []byte, offset int64) string {
	type frame struct {
		object    bool
		key       string // object: the current key
		index     int    // array: the current element
		expectKey bool
	}
	var stack []frame
	path := func() string {
		var b strings.Builder
		for _, f := range stack {
			if f.object {
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(clip(f.key))
			} else {
				fmt.Fprintf(&b, "[%d]", f.index)
			}
		}
		return b.String()
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		top := len(stack) - 1
		if top >= 0 && stack[top].object && stack[top].expectKey {
			if key, ok := tok.(string); ok {
				stack[top].key, stack[top].expectKey = key, false
				continue
			}
			stack = stack[:top] // '}'
		} else if d, ok := tok.(json.Delim); ok && d == ']' {
			stack = stack[:top]
		} else {
			// A value: the next element of an array, or a key's value.
			if top >= 0 && !stack[top].object {
				stack[top].index++
			}
			if dec.InputOffset() >= offset {
				return path()
			}
			switch tok {
			case json.Delim('{'):
				stack = append(stack, frame{object: true, expectKey: true})
				continue
			case json.Delim('['):
				stack = append(stack, frame{index: -1})
				continue
			}
		}
		// A value is complete: its object expects the next key.
		if top = len(stack) - 1; top >= 0 && stack[top].object {
			stack[top].expectKey = true
		}
	}
}

// near shows the bytes around offset, non-printable ones as '.'.
func near(body []byte, offset int64) string {
	const span = 16
	from, to := max(offset-span, 0), min(offset+span, int64(len(body)))
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return '.'
		}
		return r
	}, string(body[from:to]))
}

func jsonKind(t reflect.Type) string {
	if t == nil {
		return "a different type"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Map, reflect.Struct, reflect.Pointer:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Bool:
		return "a boolean"
	default:
		return "a number"
	}
}

func locateTimeError(body []byte, err error) string {
	var probe struct {
		Alerts []struct {
			StartsAt json.RawMessage `json:"startsAt"`
			EndsAt   json.RawMessage `json:"endsAt"`
		} `json:"alerts"`
	}
	if json.Unmarshal(body, &probe) == nil {
		for i, a := range probe.Alerts {
			for _, f := range [...]struct {
				name string
				raw  json.RawMessage
			}{{"startsAt", a.StartsAt}, {"endsAt", a.EndsAt}} {
				if len(f.raw) == 0 {
					continue
				}
				var t time.Time
				if terr := t.UnmarshalJSON(f.raw); terr != nil {
					return fmt.Sprintf("alerts[%d].%s: %v; timestamps must be RFC 3339 strings such as \"2026-01-02T15:04:05Z\"", i, f.name, terr)
				}
			}
		}
	}
	return err.Error()
}
