package chatops

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/alertmedic/alertmedic/api/v1alpha1"
)

// socketServer is Slack's end of a Socket Mode connection: it greets the
// app, sends it the envelopes given, and reports the acknowledgements.
type socketServer struct {
	send chan []byte
	acks chan string
}

func startSocketServer(t *testing.T) (*socketServer, string) {
	s := &socketServer{send: make(chan []byte, 10), acks: make(chan string, 10)}
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		_ = conn.WriteJSON(map[string]any{"type": "hello", "num_connections": 1,
			"connection_info": map[string]any{"app_id": "A0ALERTMEDIC"}})
		go func() {
			for {
				var ack struct {
					EnvelopeID string `json:"envelope_id"`
				}
				if err := conn.ReadJSON(&ack); err != nil {
					return
				}
				s.acks <- ack.EnvelopeID
			}
		}()
		for {
			select {
			case b := <-s.send:
				if err := conn.WriteMessage(websocket.TextMessage, b); err != nil {
					return
				}
			case <-r.Context().Done():
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return s, "ws" + strings.TrimPrefix(srv.URL, "http")
}

// A click delivered over Socket Mode is decided like one posted over HTTP,
// and acknowledged on the socket.
func TestSocketModeApproval(t *testing.T) {
	e := newEnv(t)
	e.workload("web")
	b := e.start(func(o *Options) { o.SigningSecret = "" }) // no HTTP endpoint
	sock, url := startSocketServer(t)
	e.ws.SetSocketURL(url)
	rec := e.restartNeedingApproval("web", alice)
	msg := e.posted(rec)

	api := e.ws.Client(slack.OptionAppLevelToken("xapp-1-test"))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- b.chat.RunSocketMode(ctx, socketmode.New(api)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("socket mode: %v", err)
		}
	})

	envelope, err := json.Marshal(map[string]any{"type": "interactive", "envelope_id": "env-1",
		"payload": json.RawMessage(approveBy("U0ALICE", msg, rec).Payload()), "accepts_response_payload": false})
	if err != nil {
		t.Fatal(err)
	}
	sock.send <- envelope
	select {
	case id := <-sock.acks:
		if id != "env-1" {
			t.Errorf("acknowledged %q, want env-1", id)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the interaction was never acknowledged")
	}
	waitFor(t, "the restart", phaseIs(e, rec, v1alpha1.PhaseSucceeded))
	if by := e.get(rec).Status.DecidedBy; by != "slack:U0ALICE (alice)" {
		t.Errorf("decided by %q", by)
	}
	if n := e.restarts("web"); n != 1 {
		t.Errorf("restarts = %d, want 1", n)
	}
	// The HTTP endpoint is closed without a signing secret.
	if code := e.click(b, approveBy("U0ALICE", msg, rec)); code != http.StatusNotFound {
		t.Errorf("HTTP click without a signing secret answered %d, want 404", code)
	}
}
