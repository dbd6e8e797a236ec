package webhook

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	amwebhook "github.com/prometheus/alertmanager/notify/webhook"
	"github.com/prometheus/alertmanager/template"
)

// fullMessage is an Alertmanager notification with every field set, so that
// a field missing on either side changes the JSON.
func fullMessage() *amwebhook.Message {
	t0 := time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)
	return &amwebhook.Message{
		Version:         "4",
		GroupKey:        `{}/{severity="page"}:{alertname="PodCrashLooping"}`,
		TruncatedAlerts: 7,
		Data: &template.Data{
			Receiver: "alertmedic",
			Status:   "firing",
			Alerts: template.Alerts{
				{
					Status:       "firing",
					Labels:       template.KV{"alertname": "PodCrashLooping", "namespace": "shop", "deployment": "api"},
					Annotations:  template.KV{"summary": "api restarts", "runbook": "https://runbooks.example/api"},
					StartsAt:     t0,
					EndsAt:       t0.Add(90*time.Minute + 123456789*time.Nanosecond),
					GeneratorURL: "http://prometheus.example/graph?g0.expr=up",
					Fingerprint:  "1a2b3c4d5e6f7a8b",
				},
				{
					Status:       "resolved",
					Labels:       template.KV{"alertname": "PodCrashLooping", "namespace": "shop", "deployment": "web"},
					Annotations:  template.KV{"summary": "web restarts"},
					StartsAt:     t0.Add(-time.Hour + 1),
					EndsAt:       t0.Add(999 * time.Millisecond),
					GeneratorURL: "http://prometheus.example/graph?g0.expr=up2",
					Fingerprint:  "8b7a6f5e4d3c2b1a",
				},
				{
					Status:       "firing",
					Labels:       template.KV{"alertname": "HighLatency", "namespace": "pay"},
					Annotations:  template.KV{"description": "p99 over 2s"},
					StartsAt:     t0.Add(time.Microsecond),
					EndsAt:       t0.Add(time.Hour + time.Microsecond),
					GeneratorURL: "http://prometheus.example/graph?g0.expr=latency",
					Fingerprint:  "0f0f0f0f0f0f0f0f",
				},
			},
			GroupLabels:       template.KV{"alertname": "PodCrashLooping"},
			CommonLabels:      template.KV{"alertname": "PodCrashLooping", "namespace": "shop"},
			CommonAnnotations: template.KV{"team": "shop"},
			ExternalURL:       "http://alertmanager.example:9093",
		},
	}
}

// requireAllSet fails if any exported field of v, or of the structs it
// embeds or lists, is its zero value: a field added upstream that the
// fixture leaves unset could hide behind omitempty.
func requireAllSet(t *testing.T, path string, v reflect.Value) {
	t.Helper()
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			t.Errorf("%s is nil in the fixture; set it", path)
			return
		}
		requireAllSet(t, path, v.Elem())
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			if v.Interface().(time.Time).IsZero() {
				t.Errorf("%s is zero in the fixture; set it", path)
			}
			return
		}
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			requireAllSet(t, path+"."+f.Name, v.Field(i))
		}
	case reflect.Slice, reflect.Map:
		if v.Len() == 0 {
			t.Errorf("%s is empty in the fixture; set it", path)
		}
		if v.Kind() == reflect.Slice {
			for i := range v.Len() {
				requireAllSet(t, path, v.Index(i))
			}
		}
	default:
		if v.IsZero() {
			t.Errorf("%s is zero in the fixture; set it", path)
		}
	}
}

// sameJSON fails unless a and b hold the same JSON value (members compared
// by name, so order does not matter).
func sameJSON(t *testing.T, what string, a, b []byte) {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if !reflect.DeepEqual(va, vb) {
		t.Errorf("%s: the JSON differs\nAlertmanager: %s\nours:         %s", what, a, b)
	}
}

// TestMessageShape proves that Message has the JSON shape of Alertmanager's
// notify/webhook.Message: each decodes what the other encodes and encodes it
// back unchanged, every field set. A field Alertmanager adds, renames or
// retags fails it.
func TestMessageShape(t *testing.T) {
	am := fullMessage()
	requireAllSet(t, "amwebhook.Message", reflect.ValueOf(am))

	t.Run("Alertmanager to ours", func(t *testing.T) {
		sent, err := json.Marshal(am)
		if err != nil {
			t.Fatal(err)
		}
		var ours Message
		if err := json.Unmarshal(sent, &ours); err != nil {
			t.Fatal(err)
		}
		again, err := json.Marshal(&ours)
		if err != nil {
			t.Fatal(err)
		}
		sameJSON(t, "Alertmanager → Message → JSON", sent, again)
	})

	t.Run("ours to Alertmanager", func(t *testing.T) {
		ours := Message{Data: am.Data, Version: am.Version, GroupKey: am.GroupKey, TruncatedAlerts: am.TruncatedAlerts}
		requireAllSet(t, "Message", reflect.ValueOf(&ours))
		out, err := json.Marshal(&ours)
		if err != nil {
			t.Fatal(err)
		}
		var back amwebhook.Message
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatal(err)
		}
		again, err := json.Marshal(&back)
		if err != nil {
			t.Fatal(err)
		}
		sameJSON(t, "Message → Alertmanager → JSON", again, out)
		if !reflect.DeepEqual(&back, am) {
			t.Errorf("Alertmanager's message changed on its way through ours:\nwant %+v\n got %+v", am, &back)
		}
	})
}
