package chatops

import (
	"testing"

	"github.com/alertmedic/alertmedic/internal/testslack"
)

// ParseInteraction takes whatever a signed request carries: it returns an
// interaction or an error, never panics, and a click it decodes names the
// button and the record as sent.
func FuzzParseInteraction(f *testing.F) {
	click := testslack.Click{User: "U0ALICE", Channel: "C0SHOP", TS: "1.2", ActionID: ActionApprove, Value: "rem-0123456789abcdef0123"}
	f.Add([]byte(click.Body()))
	f.Add([]byte("payload=%7B%7D"))
	f.Add([]byte("payload=%7Bnot+json"))
	f.Add([]byte("payload="))
	f.Add([]byte("%zz"))
	f.Add([]byte(`payload={"type":"block_actions","actions":[{"action_id":"x","value":null}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		cb, err := ParseInteraction(body)
		if err != nil {
			return
		}
		for _, a := range cb.ActionCallback.BlockActions {
			_ = a.ActionID + a.Value
		}
	})
}

func TestParseInteractionOfAClick(t *testing.T) {
	click := testslack.Click{User: "U0ALICE", UserName: "alice", Channel: "C0SHOP", TS: "1.2", ActionID: ActionApprove, Value: "rem-0123456789abcdef0123"}
	cb, err := ParseInteraction([]byte(click.Body()))
	if err != nil {
		t.Fatal(err)
	}
	if cb.User.ID != "U0ALICE" || cb.Channel.ID != "C0SHOP" || len(cb.ActionCallback.BlockActions) != 1 ||
		cb.ActionCallback.BlockActions[0].ActionID != ActionApprove || cb.ActionCallback.BlockActions[0].Value != click.Value {
		t.Errorf("decoded %+v", cb)
	}
	for _, bad := range []string{"", "payload=", "payload=%7Bnot+json", "user=U0ALICE"} {
		if _, err := ParseInteraction([]byte(bad)); err == nil {
			t.Errorf("ParseInteraction(%q) = nil error", bad)
		}
	}
}
