package controller

import (
	"cmp"
	"encoding/hex"
	"slices"

	"k8s.io/apimachinery/pkg/types"
)

// archiveIndex is the leader's index of archived records: for each, its UID
// and the end of its retention. A record named as alertmedic names them
// (ingest.RecordName: "rem-" and 20 hex digits) with a UID the API server
// gave (a UUID) is held as 10 + 16 + 8 bytes in the map's own slot, with
// no string of its own: some 60 bytes a record against 135 as strings
// (BenchmarkArchiveIndexHeap). Any other is held as strings.
type archiveIndex struct {
	short map[shortName]shortEntry
	long  map[string]archivedEntry
}

// archivedEntry is one archived record: its UID and the end of its
// retention (Unix nanoseconds).
type archivedEntry struct {
	uid   types.UID
	until int64
}

// archivedRecord is an archived record with its name.
type archivedRecord struct {
	name string
	archivedEntry
}

const (
	namePrefix = "rem-"
	nameHex    = 20
	uuidLen    = 36
)

type shortName [nameHex / 2]byte

type shortEntry struct {
	uid   [16]byte
	until int64
}

func newArchiveIndex() *archiveIndex {
	return &archiveIndex{short: map[shortName]shortEntry{}, long: map[string]archivedEntry{}}
}

// put indexes the record name (replacing what the index held for it).
func (x *archiveIndex) put(name string, e archivedEntry) {
	k, okName := parseShortName(name)
	u, okUID := parseUUID(string(e.uid))
	if okName && okUID {
		delete(x.long, name)
		x.short[k] = shortEntry{uid: u, until: e.until}
		return
	}
	if okName {
		delete(x.short, k)
	}
	x.long[name] = e
}

func (x *archiveIndex) get(name string) (archivedEntry, bool) {
	if k, ok := parseShortName(name); ok {
		if s, ok := x.short[k]; ok {
			return s.entry(), true
		}
	}
	e, ok := x.long[name]
	return e, ok
}

func (x *archiveIndex) remove(name string) {
	if k, ok := parseShortName(name); ok {
		delete(x.short, k)
	}
	delete(x.long, name)
}

func (x *archiveIndex) len() int { return len(x.short) + len(x.long) }

// merge indexes every record of y (y's entries win).
func (x *archiveIndex) merge(y *archiveIndex) {
	for k, s := range y.short {
		delete(x.long, k.String())
		x.short[k] = s
	}
	for name, e := range y.long {
		x.put(name, e)
	}
}

// records returns the records keep selects by the end of their retention,
// soonest first (by name when they end together).
func (x *archiveIndex) records(keep func(until int64) bool) []archivedRecord {
	var out []archivedRecord
	for k, s := range x.short {
		if keep(s.until) {
			out = append(out, archivedRecord{name: k.String(), archivedEntry: s.entry()})
		}
	}
	for name, e := range x.long {
		if keep(e.until) {
			out = append(out, archivedRecord{name: name, archivedEntry: e})
		}
	}
	slices.SortFunc(out, func(a, b archivedRecord) int {
		if c := cmp.Compare(a.until, b.until); c != 0 {
			return c
		}
		return cmp.Compare(a.name, b.name)
	})
	return out
}

func (s shortEntry) entry() archivedEntry {
	return archivedEntry{uid: types.UID(formatUUID(s.uid)), until: s.until}
}

func (k shortName) String() string {
	var b [len(namePrefix) + nameHex]byte
	copy(b[:], namePrefix)
	hex.Encode(b[len(namePrefix):], k[:])
	return string(b[:])
}

// parseShortName reads a name of the form RecordName gives, exactly: it
// must print back the same, so lower-case hex only.
func parseShortName(name string) (shortName, bool) {
	var k shortName
	if len(name) != len(namePrefix)+nameHex || name[:len(namePrefix)] != namePrefix || !lowerHex(name[len(namePrefix):]) {
		return k, false
	}
	_, err := hex.Decode(k[:], []byte(name[len(namePrefix):]))
	return k, err == nil
}

// parseUUID reads a UUID in its canonical form (8-4-4-4-12 lower-case hex
// digits), as the API server writes UIDs: only a form that formatUUID
// prints back the same.
func parseUUID(s string) ([16]byte, bool) {
	var u [16]byte
	if len(s) != uuidLen || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	digits := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	if !lowerHex(digits) {
		return u, false
	}
	_, err := hex.Decode(u[:], []byte(digits))
	return u, err == nil
}

func formatUUID(u [16]byte) string {
	var b [uuidLen]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

func lowerHex(s string) bool {
	for i := range len(s) {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
