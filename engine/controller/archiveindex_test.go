package controller

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/types"
)

// The index gives back exactly the names and UIDs it was given, whichever
// way it holds them.
func TestArchiveIndex(t *testing.T) {
	const uid = "0f8fad5b-d9cb-469f-a165-70867728950e"
	cases := []struct {
		name string
		uid  types.UID
		// short: held in the compact form.
		short bool
	}{
		{"rem-0123456789abcdef0123", uid, true},
		{"rem-0123456789ABCDEF0123", uid, false},                                    // upper-case hex would print back otherwise
		{"rem-0123456789abcdef012", uid, false},                                     // too short
		{"rem-0123456789abcdef01234", uid, false},                                   // too long
		{"rec-0123456789abcdef0123", uid, false},                                    // another prefix
		{"my-record", uid, false},                                                   // made by someone else
		{"rem-ffffffffffffffffffff", "0F8FAD5B-D9CB-469F-A165-70867728950E", false}, // upper-case UID
		{"rem-fffffffffffffffffff0", "0f8fad5bd9cb469fa16570867728950e", false},     // no dashes
		{"rem-fffffffffffffffffff1", "not-a-uuid", false},
		{"rem-fffffffffffffffffff2", "", false},
	}
	x := newArchiveIndex()
	for i, c := range cases {
		x.put(c.name, archivedEntry{uid: c.uid, until: int64(100 - i)})
	}
	if x.len() != len(cases) {
		t.Fatalf("len = %d, want %d", x.len(), len(cases))
	}
	for i, c := range cases {
		e, ok := x.get(c.name)
		if !ok || e.uid != c.uid || e.until != int64(100-i) {
			t.Errorf("get(%q) = %+v, %v; want uid %q until %d", c.name, e, ok, c.uid, 100-i)
		}
		if held := x.short.find(mustShort(c.name)) != nil; held != c.short {
			t.Errorf("%q held in the compact form: %v, want %v", c.name, held, c.short)
		}
	}

	// Soonest end first; keep selects.
	all := x.records(func(int64) bool { return true })
	if len(all) != len(cases) {
		t.Fatalf("records: %d, want %d", len(all), len(cases))
	}
	for i, r := range all {
		c := cases[len(cases)-1-i]
		if r.name != c.name || r.uid != c.uid {
			t.Errorf("records[%d] = %s %s, want %s %s", i, r.name, r.uid, c.name, c.uid)
		}
	}
	due := x.records(func(until int64) bool { return until >= 99 })
	if names := []string{due[0].name, due[1].name}; len(due) != 2 || !slices.Equal(names, []string{cases[1].name, cases[0].name}) {
		t.Errorf("records due: %v", due)
	}

	// A record put again with a UID that cannot be held compactly moves,
	// and back: never held twice.
	x.put(cases[0].name, archivedEntry{uid: "other", until: 1})
	x.put(cases[0].name, archivedEntry{uid: uid, until: 2})
	if x.len() != len(cases) {
		t.Errorf("after moving a record: len = %d, want %d", x.len(), len(cases))
	}
	if e, _ := x.get(cases[0].name); e.until != 2 || e.uid != uid {
		t.Errorf("after moving a record: %+v", e)
	}

	// merge: the added entries win.
	y := newArchiveIndex()
	y.put(cases[0].name, archivedEntry{uid: uid, until: 3})
	y.put(cases[5].name, archivedEntry{uid: uid, until: 4})
	y.put("rem-aaaaaaaaaaaaaaaaaaaa", archivedEntry{uid: uid, until: 5})
	x.merge(y)
	if x.len() != len(cases)+1 {
		t.Errorf("after merge: len = %d, want %d", x.len(), len(cases)+1)
	}
	for name, until := range map[string]int64{cases[0].name: 3, cases[5].name: 4, "rem-aaaaaaaaaaaaaaaaaaaa": 5} {
		if e, ok := x.get(name); !ok || e != (archivedEntry{uid: uid, until: until}) {
			t.Errorf("after merge: get(%q) = %+v, %v; want until %d", name, e, ok, until)
		}
	}

	for _, c := range cases {
		x.remove(c.name)
	}
	x.remove("rem-aaaaaaaaaaaaaaaaaaaa")
	if x.len() != 0 {
		t.Errorf("after removing every record: len = %d", x.len())
	}
}

func mustShort(name string) shortName {
	k, _ := parseShortName(name)
	return k
}

// The index agrees with a plain map through any sequence of puts,
// removals and merges, in any order, compact names and others mixed, with
// enough records that its sorted run is folded and compacted many times.
func TestArchiveIndexAgreesWithAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	name := func() string {
		n := rng.IntN(3000)
		if n%10 == 0 {
			return fmt.Sprintf("other-%d", n) // held as a string
		}
		return fmt.Sprintf("rem-%020x", n)
	}
	entry := func() archivedEntry {
		if rng.IntN(20) == 0 {
			return archivedEntry{uid: "not-a-uuid", until: rng.Int64()}
		}
		var u [16]byte
		for i := range u {
			u[i] = byte(rng.Uint32())
		}
		return archivedEntry{uid: types.UID(formatUUID(u)), until: rng.Int64N(1000)}
	}
	x, want := newArchiveIndex(), map[string]archivedEntry{}
	check := func(step int) {
		t.Helper()
		if x.len() != len(want) {
			t.Fatalf("step %d: len = %d, want %d", step, x.len(), len(want))
		}
		if s := &x.short; s.gone > len(s.run)/4 || len(s.tail) >= foldAt {
			t.Fatalf("step %d: %d of the run's %d slots gone, %d in the tail: not compacted", step, s.gone, len(s.run), len(s.tail))
		}
		got := map[string]archivedEntry{}
		for _, r := range x.records(func(int64) bool { return true }) {
			if _, twice := got[r.name]; twice {
				t.Fatalf("step %d: %s listed twice", step, r.name)
			}
			got[r.name] = r.archivedEntry
		}
		if !maps.Equal(got, want) {
			t.Fatalf("step %d: records differ from the map's (%d against %d)", step, len(got), len(want))
		}
		for range 20 {
			n := name()
			e, ok := x.get(n)
			if w, wok := want[n]; ok != wok || e != w {
				t.Fatalf("step %d: get(%q) = %+v, %v; want %+v, %v", step, n, e, ok, w, wok)
			}
		}
	}
	for step := range 40000 {
		switch op := rng.IntN(100); {
		case op < 55:
			n, e := name(), entry()
			x.put(n, e)
			want[n] = e
		case op < 95:
			n := name()
			x.remove(n)
			delete(want, n)
		case op < 98:
			y := newArchiveIndex()
			for range rng.IntN(600) {
				n, e := name(), entry()
				y.put(n, e)
				want[n] = e
			}
			x.merge(y)
		default:
			x.trim()
		}
		if step%97 == 0 {
			check(step)
		}
	}
	check(-1)
	// A list in name order, as listArchived fills a new index.
	x, want = newArchiveIndex(), map[string]archivedEntry{}
	for i := range 5000 {
		n, e := fmt.Sprintf("rem-%020x", i), entry()
		x.put(n, e)
		want[n] = e
	}
	x.trim()
	check(-2)
	if len(x.short.tail) != 0 || cap(x.short.run) != len(x.short.run) {
		t.Errorf("after trim: tail %d, run %d of %d", len(x.short.tail), len(x.short.run), cap(x.short.run))
	}
	// The sweep collects most of them, with nothing archived meanwhile: the
	// run does not keep their slots.
	for i := range 4900 {
		n := fmt.Sprintf("rem-%020x", i)
		x.remove(n)
		delete(want, n)
	}
	check(-3)
	if live := x.short.len(); len(x.short.run) > live+live/3+1 {
		t.Errorf("after removing 4,900 of 5,000: the run holds %d slots for %d records", len(x.short.run), live)
	}
}
