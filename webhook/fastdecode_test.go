package webhook

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// sameAsEncodingJSON fails t unless decodeFast, when it accepts body,
// decodes it exactly as encoding/json does, and encoding/json accepts it
// too. It reports whether decodeFast accepted.
func sameAsEncodingJSON(t *testing.T, body []byte) bool {
	t.Helper()
	got, ok := decodeFast(body)
	if !ok {
		return false
	}
	want := &Message{}
	if err := json.Unmarshal(body, want); err != nil {
		t.Fatalf("decodeFast accepted a body encoding/json refuses (%v): %q", err, body)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decodeFast and encoding/json differ on %q\n fast: %s\n json: %s", body, dump(got), dump(want))
	}
	return true
}

// dump shows a Message with its embedded Data.
func dump(m *Message) string {
	data := "<nil>"
	if m.Data != nil {
		data = fmt.Sprintf("%#v", *m.Data)
	}
	return fmt.Sprintf("version=%q groupKey=%q truncatedAlerts=%d data=%s", m.Version, m.GroupKey, m.TruncatedAlerts, data)
}

// trickyBodies are bodies near the edges of what decodeFast takes: each is
// a seed of FuzzDecodeFast, and TestDecodeFast says which it must accept.
var trickyBodies = []struct {
	name   string
	body   string
	accept bool // decodeFast must decode it (else it must give up)
}{
	// What Alertmanager sends, and what encoding/json does with it.
	{"minimal", `{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"a":"b"},"startsAt":"2026-01-02T03:04:05Z"}]}`, true},
	{"no data fields", `{"version":"4"}`, true},
	{"empty object", `{}`, true},
	{"empty alerts and maps", `{"alerts":[],"groupLabels":{},"commonLabels":{},"commonAnnotations":{},"alerts2":[]}`, true},
	{"empty alert", `{"alerts":[{},{"labels":{}}]}`, true},
	{"whitespace everywhere", " \t\r\n{ \"version\" :\n\"4\" ,\t\"alerts\" : [ { \"labels\" : { \"a\" : \"b\" } } , {} ] , \"truncatedAlerts\" : 7 } \n", true},
	{"escapes", `{"groupKey":"{}:{alertname=\"A\\\/\b\f\n\r\t\u0041\u00e9\u2028\u0000\uFFFF\"}","alerts":[{"labels":{"k\u003c\"":"\u003e\u0026"}}]}`, true},
	{"UTF-8", `{"receiver":"é😀","alerts":[{"labels":{"ключ":"значение"},"annotations":{"":""}}]}`, true},
	{"escaped label key, plain value", `{"alerts":[{"labels":{"a\n":"b"}}]}`, true},
	{"plain label key, escaped value", `{"alerts":[{"labels":{"a":"\u00e9"}}]}`, true},
	{"every label escaped", `{"alerts":[{"labels":{"\"":"\/","\t":"\\"}}]}`, true},
	{"map key twice", `{"alerts":[{"labels":{"a":"1","b":"2","a":"3"}}]}`, true},
	{"unknown keys, nested", `{"x":{"a":[1,-0.5e+7,{"b":[true,false,null,"s\u00e9\ud800",{}]}],"c":{},"d":[]},"version":"4","y":null,"alerts":[{"z":[[[[]]]],"status":"resolved"}]}`, true},
	{"unknown key with invalid UTF-8", "{\"x\":\"\xff\xfe\",\"version\":\"4\"}", true},
	{"Data is not a key", `{"Data":{"receiver":"x"},"version":"4"}`, true},
	{"times", `{"alerts":[{"startsAt":"2026-01-02T03:04:05.123456789+01:30","endsAt":"2026-01-02T03:04:05+01:00"},{"startsAt":"0001-01-01T00:00:00Z","endsAt":"2026-01-02T03:04:05-00:00"}]}`, true},
	{"largest truncatedAlerts", `{"truncatedAlerts":18446744073709551615}`, true},
	{"zero truncatedAlerts", `{"truncatedAlerts":0}`, true},
	{"unknown numbers", `{"a":0,"b":-0,"c":1E400,"d":12.5e-3,"e":123456789012345678901234567890}`, true},

	// What decodeFast leaves to encoding/json.
	{"empty", ``, false},
	{"not an object", `[]`, false},
	{"null body", `null`, false},
	{"string body", `"4"`, false},
	{"trailing data", `{} {}`, false},
	{"trailing comma", `{"version":"4",}`, false},
	{"cut short", `{"version":"4"`, false},
	{"byte order mark", "\ufeff{}", false},
	{"vertical tab", "\v{}", false},
	{"key case", `{"Version":"4"}`, false},
	{"key case, data field", `{"version":"4","STATUS":"firing"}`, false},
	{"key case, alert field", `{"alerts":[{"startsat":"2026-01-02T03:04:05Z"}]}`, false},
	{"key with long s", `{"ſtatus":"firing"}`, false},
	{"key with Kelvin sign escaped", `{"alerts":[{"\u212Aey":"x"}]}`, false},
	{"escaped key", `{"vers\u0069on":"4"}`, false},
	{"version twice", `{"version":"4","version":"3"}`, false},
	{"labels twice", `{"alerts":[{"labels":{"a":"1"},"labels":{"b":"2"}}]}`, false},
	{"alerts twice", `{"alerts":[{}],"alerts":[{}]}`, false},
	{"null version", `{"version":null}`, false},
	{"null labels", `{"alerts":[{"labels":null}]}`, false},
	{"null label value", `{"alerts":[{"labels":{"a":null}}]}`, false},
	{"null alert", `{"alerts":[null]}`, false},
	{"null alerts", `{"alerts":null}`, false},
	{"null startsAt", `{"alerts":[{"startsAt":null}]}`, false},
	{"number version", `{"version":4}`, false},
	{"string truncatedAlerts", `{"truncatedAlerts":"1"}`, false},
	{"negative truncatedAlerts", `{"truncatedAlerts":-1}`, false},
	{"fractional truncatedAlerts", `{"truncatedAlerts":1.0}`, false},
	{"exponent truncatedAlerts", `{"truncatedAlerts":1e2}`, false},
	{"leading zero", `{"truncatedAlerts":01}`, false},
	{"overflowing truncatedAlerts", `{"truncatedAlerts":18446744073709551616}`, false},
	{"label value number", `{"alerts":[{"labels":{"a":1}}]}`, false},
	{"alerts object", `{"alerts":{}}`, false},
	{"surrogate pair", `{"receiver":"\ud83d\ude00"}`, false},
	{"lone surrogate", `{"receiver":"\ud800x"}`, false},
	{"bad escape", `{"receiver":"\x"}`, false},
	{"short u escape", `{"receiver":"\u12"}`, false},
	{"control character", "{\"receiver\":\"a\tb\"}", false},
	{"invalid UTF-8", "{\"receiver\":\"\xff\"}", false},
	{"invalid UTF-8 in a label", "{\"alerts\":[{\"labels\":{\"a\xc3(\":\"b\"}}]}", false},
	{"UTF-8 surrogate", "{\"receiver\":\"\xed\xa0\x80\"}", false},
	{"invalid UTF-8 after an escape", "{\"receiver\":\"\\n\xe2\x82\"}", false},
	{"time not RFC 3339", `{"alerts":[{"startsAt":"2026-01-02 03:04:05Z"}]}`, false},
	{"time escaped", `{"alerts":[{"startsAt":"2026-01-02T03:04:05\u005a"}]}`, false},
	{"time number", `{"alerts":[{"startsAt":1767322800}]}`, false},
	{"time of hour 24", `{"alerts":[{"startsAt":"2026-01-02T24:00:00Z"}]}`, false},
	{"unknown value malformed", `{"x":[1,]}`, false},
	{"unknown literal", `{"x":nul}`, false},
	{"unknown number malformed", `{"x":1.}`, false},
	{"unknown number with a leading zero", `{"x":01}`, false},
	{"unknown value too deep", `{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, false},
}

// TestDecodeFast: Alertmanager's own payloads and the tricky bodies above
// are decoded by decodeFast exactly as encoding/json decodes them, or left
// to it.
func TestDecodeFast(t *testing.T) {
	fixtures, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(fixtures) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, p := range fixtures {
		t.Run(filepath.Base(p), func(t *testing.T) {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if !sameAsEncodingJSON(t, b) {
				t.Error("decodeFast gave up on a payload of Alertmanager's")
			}
		})
	}
	for _, n := range []int{1, 100} {
		if !sameAsEncodingJSON(t, payloadN(t, n)) {
			t.Errorf("decodeFast gave up on the %d-alert benchmark payload", n)
		}
	}
	for _, tc := range trickyBodies {
		t.Run(tc.name, func(t *testing.T) {
			if got := sameAsEncodingJSON(t, []byte(tc.body)); got != tc.accept {
				t.Errorf("decodeFast accepted = %v, want %v: %q", got, tc.accept, tc.body)
			}
		})
	}
}

// TestDecodeFastLeavesErrorsAlone: the bodies decodeFast leaves are
// answered by encoding/json's path, with the messages a user saw before.
func TestDecodeFastLeavesErrorsAlone(t *testing.T) {
	for _, tc := range trickyBodies {
		if tc.accept {
			continue
		}
		want := &Message{}
		jerr := json.Unmarshal([]byte(tc.body), want)
		msg, _, err := decode([]byte(tc.body))
		switch {
		case jerr != nil:
			if err == nil || err.Error() != decodeError([]byte(tc.body), jerr) {
				t.Errorf("%s: decode error %v, want %q", tc.name, err, decodeError([]byte(tc.body), jerr))
			}
		case !reflect.DeepEqual(msg, want) && err == nil:
			t.Errorf("%s: decode gave %s, encoding/json %s", tc.name, dump(msg), dump(want))
		}
	}
}

// FuzzDecodeFast holds decodeFast to encoding/json: whatever it accepts,
// encoding/json accepts too and decodes to the same Message.
func FuzzDecodeFast(f *testing.F) {
	fixtures, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, p := range fixtures {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(payloadN(f, 1))
	f.Add(payloadN(f, 3))
	for _, tc := range trickyBodies {
		f.Add([]byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		sameAsEncodingJSON(t, body)
	})
}

// FuzzDecodeFastStrings puts arbitrary string contents (escapes, UTF-8 or
// not) in the places of a payload where decodeFast decodes strings: label
// keys and values next to plain ones, top-level and alert fields, and
// unknown keys. Byte-level mutation of whole bodies seldom keeps the
// structure around such a string valid.
func FuzzDecodeFastStrings(f *testing.F) {
	for _, s := range [][3]string{
		{"a", "b", "c"},
		{`a\n`, "b", `\u00e9`},
		{`\"`, `\/`, `\t\\`},
		{`\ud83d\ude00`, "\xff", `\u0000`},
		{"é", "\xed\xa0\x80", `x\u003c\u003e\u0026`},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, a, b, c string) {
		for _, body := range []string{
			`{"alerts":[{"labels":{"` + a + `":"` + b + `","k":"v","` + c + `":"w"}}]}`,
			`{"alerts":[{"annotations":{"x":"` + a + `"},"labels":{"` + b + `":"` + c + `"}}]}`,
			`{"version":"` + a + `","groupKey":"` + b + `","commonLabels":{"` + c + `":"` + c + `"}}`,
			`{"alerts":[{"generatorURL":"` + a + `","fingerprint":"` + b + `","status":"` + c + `"}]}`,
			`{"` + a + `":"` + b + `","receiver":"` + c + `"}`,
			`{"alerts":[{"startsAt":"` + a + `","` + b + `":1,"endsAt":"` + c + `"}]}`,
		} {
			sameAsEncodingJSON(t, []byte(body))
		}
	})
}
