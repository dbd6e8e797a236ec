package webhook

import (
	"bytes"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/alertmanager/template"
)

// maxSkipDepth bounds the nesting of an unknown value decodeFast skips;
// deeper ones are left to encoding/json (whose own limit is 10,000).
const maxSkipDepth = 64

// decodeFast decodes body into a Message without reflection, for the shape
// Alertmanager sends. It returns false, having decided nothing, for any
// body it does not decode exactly as json.Unmarshal would into Message:
// keys that match a field only case-insensitively (encoding/json accepts
// them), escaped or non-ASCII object keys, a field given twice, null, a
// value of another type than the field's, a number that is not a plain
// unsigned integer, a \u escape of a surrogate, invalid UTF-8 in a decoded
// string, deeply nested unknown values, and anything that is not valid
// JSON. The caller then runs encoding/json, whose results and error
// messages stay the reference; FuzzDecodeFast holds the two to the same
// results whenever decodeFast accepts.
func decodeFast(body []byte) (*Message, bool) {
	d := fastDecoder{b: body, spans: make([]stringSpan, 0, 32)}
	msg, ok := d.message()
	if !ok {
		return nil, false
	}
	return msg, true
}

// fastDecoder is one decodeFast run over b, at offset i.
type fastDecoder struct {
	b     []byte
	i     int
	spans []stringSpan // a map's keys and values, before the map is made
}

// The fields of Message and template.Alert, by their exact JSON names.
var (
	messageFields = [...]string{"version", "groupKey", "truncatedAlerts", "receiver", "status", "alerts",
		"groupLabels", "commonLabels", "commonAnnotations", "externalURL"}
	alertFields = [...]string{"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"}
)

func (d *fastDecoder) message() (*Message, bool) {
	d.ws()
	if !d.eat('{') {
		return nil, false
	}
	msg := &Message{}
	data := func() *template.Data {
		if msg.Data == nil {
			msg.Data = &template.Data{}
		}
		return msg.Data
	}
	var seen uint16
	ok := d.object(func(key []byte) bool {
		f := fieldIndex(key, messageFields[:])
		if f < 0 {
			return f == -1 && d.skip(0)
		}
		if seen&(1<<f) != 0 {
			return false // merged by encoding/json, not replaced
		}
		seen |= 1 << f
		var ok bool
		switch f {
		case 0:
			msg.Version, ok = d.str()
		case 1:
			msg.GroupKey, ok = d.str()
		case 2:
			msg.TruncatedAlerts, ok = d.uint()
		case 3:
			data().Receiver, ok = d.str()
		case 4:
			data().Status, ok = d.str()
		case 5:
			data().Alerts, ok = d.alerts()
		case 6:
			data().GroupLabels, ok = d.kv()
		case 7:
			data().CommonLabels, ok = d.kv()
		case 8:
			data().CommonAnnotations, ok = d.kv()
		case 9:
			data().ExternalURL, ok = d.str()
		}
		return ok
	})
	if !ok {
		return nil, false
	}
	d.ws()
	return msg, d.i == len(d.b)
}

func (d *fastDecoder) alerts() (template.Alerts, bool) {
	if !d.eat('[') {
		return nil, false
	}
	as := template.Alerts{}
	d.ws()
	if d.eat(']') {
		return as, true
	}
	for {
		as = append(as, template.Alert{})
		if !d.alert(&as[len(as)-1]) {
			return nil, false
		}
		d.ws()
		if d.eat(']') {
			return as, true
		}
		if !d.eat(',') {
			return nil, false
		}
		d.ws()
	}
}

func (d *fastDecoder) alert(a *template.Alert) bool {
	if !d.eat('{') {
		return false
	}
	var seen uint16
	return d.object(func(key []byte) bool {
		f := fieldIndex(key, alertFields[:])
		if f < 0 {
			return f == -1 && d.skip(0)
		}
		if seen&(1<<f) != 0 {
			return false
		}
		seen |= 1 << f
		var ok bool
		switch f {
		case 0:
			a.Status, ok = d.str()
		case 1:
			a.Labels, ok = d.kv()
		case 2:
			a.Annotations, ok = d.kv()
		case 3:
			ok = d.timestamp(&a.StartsAt)
		case 4:
			ok = d.timestamp(&a.EndsAt)
		case 5:
			a.GeneratorURL, ok = d.str()
		case 6:
			a.Fingerprint, ok = d.str()
		}
		return ok
	})
}

// timestamp hands the raw string literal to time.Time's UnmarshalJSON, as
// encoding/json does (without unescaping it).
func (d *fastDecoder) timestamp(t *time.Time) bool {
	start := d.i
	if !d.skipString() {
		return false
	}
	return t.UnmarshalJSON(d.b[start:d.i]) == nil
}

// object reads the members of an object whose '{' is read: for each key,
// value calls value with the key and d at its value.
func (d *fastDecoder) object(value func(key []byte) bool) bool {
	d.ws()
	if d.eat('}') {
		return true
	}
	for {
		key, ok := d.fieldKey()
		if !ok {
			return false
		}
		d.ws()
		if !d.eat(':') {
			return false
		}
		d.ws()
		if !value(key) {
			return false
		}
		d.ws()
		if d.eat('}') {
			return true
		}
		if !d.eat(',') {
			return false
		}
		d.ws()
	}
}

// fieldIndex returns the index of key in names, -1 when key names no field
// at all, and -2 when it names one only case-insensitively (encoding/json
// would decode it into that field).
func fieldIndex(key []byte, names []string) int {
	for i, n := range names {
		if string(key) == n {
			return i
		}
	}
	for _, n := range names {
		if len(n) == len(key) && asciiEqualFold(key, n) {
			return -2
		}
	}
	return -1
}

func asciiEqualFold(b []byte, s string) bool {
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// fieldKey reads an object key of printable ASCII without escapes, and
// refuses others: encoding/json folds Unicode (the Kelvin sign matches 'k').
func (d *fastDecoder) fieldKey() ([]byte, bool) {
	if !d.eat('"') {
		return nil, false
	}
	start := d.i
	for ; d.i < len(d.b); d.i++ {
		switch c := d.b[d.i]; {
		case c == '"':
			d.i++
			return d.b[start : d.i-1], true
		case c < 0x20 || c == '\\' || c >= utf8.RuneSelf:
			return nil, false
		}
	}
	return nil, false
}

// kv reads an object of strings into a new map, as encoding/json does: an
// empty object is an empty map, a key given twice keeps its last value.
// The keys and values without escapes share one string, the object's text:
// one allocation where there would be two per label (they are kept, and
// dropped, together with their map).
func (d *fastDecoder) kv() (template.KV, bool) {
	start := d.i
	if !d.eat('{') {
		return nil, false
	}
	d.spans = d.spans[:0]
	plain := false // a key or value without escapes: the text is needed
	d.ws()
	if !d.eat('}') {
		for {
			k, ok := d.span()
			if !ok {
				return nil, false
			}
			d.ws()
			if !d.eat(':') {
				return nil, false
			}
			d.ws()
			v, ok := d.span()
			if !ok {
				return nil, false
			}
			plain = plain || !k.escaped || !v.escaped
			d.spans = append(d.spans, k, v)
			d.ws()
			if d.eat('}') {
				break
			}
			if !d.eat(',') {
				return nil, false
			}
			d.ws()
		}
	}
	var text string
	if plain {
		text = string(d.b[start:d.i])
	}
	str := func(s stringSpan) (string, bool) {
		if s.escaped {
			return unescape(d.b[s.from:s.to])
		}
		return text[s.from-start : s.to-start], true
	}
	m := make(template.KV, len(d.spans)/2)
	for i := 0; i < len(d.spans); i += 2 {
		k, ok := str(d.spans[i])
		if !ok {
			return nil, false
		}
		v, ok := str(d.spans[i+1])
		if !ok {
			return nil, false
		}
		m[k] = v
	}
	return m, true
}

// stringSpan is where a string's content is in the body, between its quotes.
type stringSpan struct {
	from, to int
	escaped  bool // holds escapes; else valid UTF-8 and the string as is
}

// span reads a string, checking what it can without decoding it: the
// syntax, and UTF-8 when it has no escapes.
func (d *fastDecoder) span() (stringSpan, bool) {
	if !d.eat('"') {
		return stringSpan{}, false
	}
	s := stringSpan{from: d.i}
	ascii := true
	for d.i < len(d.b) {
		switch c := d.b[d.i]; {
		case c == '"':
			s.to = d.i
			d.i++
			if !s.escaped && !ascii && !utf8.Valid(d.b[s.from:s.to]) {
				return s, false
			}
			return s, true
		case c == '\\':
			if !d.escape() {
				return s, false
			}
			s.escaped = true
		case c < 0x20:
			return s, false
		default:
			ascii = ascii && c < utf8.RuneSelf
			d.i++
		}
	}
	return s, false
}

// escape reads an escape sequence as encoding/json's scanner checks it.
func (d *fastDecoder) escape() bool {
	if d.i+1 >= len(d.b) {
		return false
	}
	switch d.b[d.i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		d.i += 2
	case 'u':
		if _, ok := hex4(d.b[d.i+2:]); !ok {
			return false
		}
		d.i += 6
	default:
		return false
	}
	return true
}

// str reads a string value.
func (d *fastDecoder) str() (string, bool) {
	s, ok := d.span()
	switch {
	case !ok:
		return "", false
	case s.escaped:
		return unescape(d.b[s.from:s.to])
	}
	return intern(d.b[s.from:s.to]), true
}

// intern returns the statuses without allocating.
func intern(b []byte) string {
	switch string(b) {
	case statusFiring:
		return statusFiring
	case statusResolved:
		return statusResolved
	}
	return string(b)
}

// unescape decodes the content of a string whose syntax span checked, as
// encoding/json does, or refuses it: invalid UTF-8 (which encoding/json
// replaces) and \u escapes of surrogates (which it pairs or replaces).
func unescape(raw []byte) (string, bool) {
	var out strings.Builder
	out.Grow(len(raw)) // escapes only shrink
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, '\\')
		if i < 0 {
			i = len(raw)
		}
		if !utf8.Valid(raw[:i]) {
			return "", false
		}
		out.Write(raw[:i])
		if i == len(raw) {
			break
		}
		e := raw[i+1]
		raw = raw[i+2:]
		switch e {
		case 'b':
			e = '\b'
		case 'f':
			e = '\f'
		case 'n':
			e = '\n'
		case 'r':
			e = '\r'
		case 't':
			e = '\t'
		case 'u':
			r, _ := hex4(raw)
			if 0xd800 <= r && r < 0xe000 {
				return "", false
			}
			raw = raw[4:]
			out.WriteRune(r)
			continue
		}
		out.WriteByte(e) // '"', '\\' or '/'
	}
	return out.String(), true
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// uint reads a number that is a plain unsigned integer fitting uint64.
func (d *fastDecoder) uint() (uint64, bool) {
	start := d.i
	var n uint64
	for ; d.i < len(d.b) && '0' <= d.b[d.i] && d.b[d.i] <= '9'; d.i++ {
		if n > (1<<64-1)/10 {
			return 0, false
		}
		next := n*10 + uint64(d.b[d.i]-'0')
		if next < n {
			return 0, false
		}
		n = next
	}
	digits := d.i - start
	if digits == 0 || digits > 1 && d.b[start] == '0' {
		return 0, false
	}
	if d.i < len(d.b) {
		if c := d.b[d.i]; c == '.' || c == 'e' || c == 'E' {
			return 0, false
		}
	}
	return n, true
}

// skip reads any valid JSON value, as encoding/json skips an unknown key's.
func (d *fastDecoder) skip(depth int) bool {
	if d.i >= len(d.b) || depth > maxSkipDepth {
		return false
	}
	switch c := d.b[d.i]; c {
	case '{':
		d.i++
		d.ws()
		if d.eat('}') {
			return true
		}
		for {
			if !d.skipString() {
				return false
			}
			d.ws()
			if !d.eat(':') {
				return false
			}
			d.ws()
			if !d.skip(depth + 1) {
				return false
			}
			d.ws()
			if d.eat('}') {
				return true
			}
			if !d.eat(',') {
				return false
			}
			d.ws()
		}
	case '[':
		d.i++
		d.ws()
		if d.eat(']') {
			return true
		}
		for {
			if !d.skip(depth + 1) {
				return false
			}
			d.ws()
			if d.eat(']') {
				return true
			}
			if !d.eat(',') {
				return false
			}
			d.ws()
		}
	case '"':
		return d.skipString()
	case 't':
		return d.literal("true")
	case 'f':
		return d.literal("false")
	case 'n':
		return d.literal("null")
	default:
		return d.skipNumber()
	}
}

// skipString reads a string as encoding/json's scanner checks it: no
// control characters, only JSON's escapes; any bytes otherwise.
func (d *fastDecoder) skipString() bool {
	if !d.eat('"') {
		return false
	}
	for d.i < len(d.b) {
		switch c := d.b[d.i]; {
		case c == '"':
			d.i++
			return true
		case c == '\\':
			if !d.escape() {
				return false
			}
		case c < 0x20:
			return false
		default:
			d.i++
		}
	}
	return false
}

// skipNumber reads a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *fastDecoder) skipNumber() bool {
	d.eat('-')
	switch {
	case d.eat('0'):
	case d.i < len(d.b) && '1' <= d.b[d.i] && d.b[d.i] <= '9':
		d.digits()
	default:
		return false
	}
	if d.eat('.') && !d.digits() {
		return false
	}
	if d.eat('e') || d.eat('E') {
		if !d.eat('+') {
			d.eat('-')
		}
		if !d.digits() {
			return false
		}
	}
	return true
}

// digits reads one or more digits.
func (d *fastDecoder) digits() bool {
	start := d.i
	for d.i < len(d.b) && '0' <= d.b[d.i] && d.b[d.i] <= '9' {
		d.i++
	}
	return d.i > start
}

func (d *fastDecoder) literal(s string) bool {
	if len(d.b)-d.i < len(s) || string(d.b[d.i:d.i+len(s)]) != s {
		return false
	}
	d.i += len(s)
	return true
}

// ws skips JSON's whitespace.
func (d *fastDecoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *fastDecoder) eat(c byte) bool {
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}
