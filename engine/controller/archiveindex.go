package controller

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/hex"
	"slices"

	"k8s.io/apimachinery/pkg/types"
)

// archiveIndex is the leader's index of archived records: for each, its UID
// and the end of its retention. A record named as alertmedic names them
// (ingest.RecordName: "rem-" and 20 hex digits) with a UID the API server
// gave (a UUID) is held in 35 bytes (shortSlot), in a slice sorted by name,
// with no string or map slot of its own: some 36 bytes a record, against 63
// in a map and 135 as strings (BenchmarkArchiveIndexHeap). Any other is
// held as strings in a map.
type archiveIndex struct {
	short shortSlots
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

// shortSlot is one compactly held record. Its fields are byte arrays, so
// the struct has no padding: 35 bytes.
type shortSlot struct {
	name  shortName
	uid   [16]byte
	until [8]byte // little-endian Unix nanoseconds
	gone  bool    // removed; the slot is reused if the name comes back
}

func newArchiveIndex() *archiveIndex {
	return &archiveIndex{long: map[string]archivedEntry{}}
}

// put indexes the record name (replacing what the index held for it).
func (x *archiveIndex) put(name string, e archivedEntry) {
	k, okName := parseShortName(name)
	u, okUID := parseUUID(string(e.uid))
	if okName && okUID {
		delete(x.long, name)
		s := shortSlot{name: k, uid: u}
		binary.LittleEndian.PutUint64(s.until[:], uint64(e.until))
		x.short.put(s)
		return
	}
	if okName {
		x.short.remove(k)
	}
	x.long[name] = e
}

func (x *archiveIndex) get(name string) (archivedEntry, bool) {
	if k, ok := parseShortName(name); ok {
		if s := x.short.find(k); s != nil {
			return s.entry(), true
		}
	}
	e, ok := x.long[name]
	return e, ok
}

func (x *archiveIndex) remove(name string) {
	if k, ok := parseShortName(name); ok {
		x.short.remove(k)
	}
	delete(x.long, name)
}

func (x *archiveIndex) len() int { return x.short.len() + len(x.long) }

// trim gives back the room the index holds beyond its records, once it is
// filled.
func (x *archiveIndex) trim() { x.short.trim() }

// merge indexes every record of y (y's entries win).
func (x *archiveIndex) merge(y *archiveIndex) {
	y.short.each(func(s *shortSlot) {
		delete(x.long, s.name.String())
		x.short.put(*s)
	})
	for name, e := range y.long {
		x.put(name, e)
	}
}

// records returns the records keep selects by the end of their retention,
// soonest first (by name when they end together).
func (x *archiveIndex) records(keep func(until int64) bool) []archivedRecord {
	var out []archivedRecord
	x.short.each(func(s *shortSlot) {
		if keep(s.untilNanos()) {
			out = append(out, archivedRecord{name: s.name.String(), archivedEntry: s.entry()})
		}
	})
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

func (s *shortSlot) entry() archivedEntry {
	return archivedEntry{uid: types.UID(formatUUID(s.uid)), until: s.untilNanos()}
}

func (s *shortSlot) untilNanos() int64 { return int64(binary.LittleEndian.Uint64(s.until[:])) }

// shortSlots holds compact records: a run sorted by name, which holds
// most of them, and a short unsorted tail of those put since the tail was
// last folded into the run. The index is filled by a list of tens of
// thousands of records in one go (in name order, each appended to the
// run), and then changes a record at a time, as each is archived or
// collected. A put of a new name goes to the tail, merged into the run in
// one pass every foldAt of them, rather than moving the run each time; a
// removal only marks its slot, and the run is compacted once a quarter of
// it is gone.
type shortSlots struct {
	run  []shortSlot // sorted by name, no name twice
	tail []shortSlot // unsorted, no name twice or in run
	gone int         // slots of run marked gone
}

const foldAt = 256

func (x *shortSlots) len() int { return len(x.run) - x.gone + len(x.tail) }

// find returns the slot of name k, nil when it holds none.
func (x *shortSlots) find(k shortName) *shortSlot {
	if i, ok := x.search(k); ok && !x.run[i].gone {
		return &x.run[i]
	}
	for i := range x.tail {
		if x.tail[i].name == k {
			return &x.tail[i]
		}
	}
	return nil
}

func (x *shortSlots) search(k shortName) (int, bool) {
	return slices.BinarySearchFunc(x.run, k, func(s shortSlot, k shortName) int { return bytes.Compare(s.name[:], k[:]) })
}

func (x *shortSlots) put(s shortSlot) {
	if i, ok := x.search(s.name); ok {
		if x.run[i].gone {
			x.gone--
		}
		x.run[i] = s
		return
	}
	for i := range x.tail {
		if x.tail[i].name == s.name {
			x.tail[i] = s
			return
		}
	}
	// A list gives the records in name order: each goes at the run's end.
	if len(x.tail) == 0 && (len(x.run) == 0 || bytes.Compare(x.run[len(x.run)-1].name[:], s.name[:]) < 0) {
		x.run = append(x.run, s)
		return
	}
	if x.tail = append(x.tail, s); len(x.tail) >= foldAt {
		x.fold()
	}
}

func (x *shortSlots) remove(k shortName) {
	if i, ok := x.search(k); ok {
		if !x.run[i].gone {
			x.run[i].gone = true
			if x.gone++; x.gone > len(x.run)/4 {
				x.fold()
			}
		}
		return
	}
	for i := range x.tail {
		if x.tail[i].name == k {
			x.tail = slices.Delete(x.tail, i, i+1)
			return
		}
	}
}

// fold merges the tail into the run, in place, and drops the slots marked
// gone.
func (x *shortSlots) fold() {
	run := x.run
	if x.gone > 0 {
		run = slices.DeleteFunc(run, func(s shortSlot) bool { return s.gone })
	}
	slices.SortFunc(x.tail, func(a, b shortSlot) int { return bytes.Compare(a.name[:], b.name[:]) })
	// Merged from the back, so that no slot is moved before it is read.
	i, j := len(run)-1, len(x.tail)-1
	run = slices.Grow(run, len(x.tail))[:len(run)+len(x.tail)]
	for k := len(run) - 1; j >= 0; k-- {
		if i >= 0 && bytes.Compare(run[i].name[:], x.tail[j].name[:]) > 0 {
			run[k], i = run[i], i-1
		} else {
			run[k], j = x.tail[j], j-1
		}
	}
	x.run, x.tail, x.gone = run, x.tail[:0], 0
}

// trim folds, and copies the run into a slice of its own length: a run
// filled by appending has up to a quarter more room than slots.
func (x *shortSlots) trim() {
	x.fold()
	if cap(x.run) > len(x.run) {
		run := make([]shortSlot, len(x.run))
		copy(run, x.run)
		x.run = run
	}
}

// each calls f with every slot held.
func (x *shortSlots) each(f func(*shortSlot)) {
	for i := range x.run {
		if !x.run[i].gone {
			f(&x.run[i])
		}
	}
	for i := range x.tail {
		f(&x.tail[i])
	}
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
