// Command rsspages says which of a Go binary's own pages are resident in a
// running process, and whose they are: code by package, read-only data by
// kind, the function table (.gopclntab) by the package of each function's
// entries. With page faults recorded by perf, it also says which resident
// pages were faulted in and which the kernel mapped around them
// (fault-around), and which code path faulted them. As root (pagemap):
//
//	go build -trimpath -o /tmp/am.sym ./cmd/alertmedic  # make build's layout, with symbols
//	perf record -e page-faults -c 1 -d -g -o /tmp/pf.data -- /tmp/am.sym serve ...
//	go run ./hack/rsspages -pid PID -o /tmp/pages.txt   # when it is idle
//	kill -9 PID; perf script -i /tmp/pf.data -F addr,ip,sym > /tmp/faults.txt
//	go run ./hack/rsspages -sym /tmp/am.sym -pages /tmp/pages.txt -faults /tmp/faults.txt
//
// Without perf, leave -faults out. docs/performance.md shows its output.
package main

import (
	"bufio"
	"debug/elf"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

const page = 4096

func main() {
	pid := flag.Int("pid", 0, "snapshot: the process whose resident pages of its executable to list")
	out := flag.String("o", "", "snapshot: where to write the list")
	sym := flag.String("sym", "", "report: the binary with symbols (same layout as the one running)")
	pages := flag.String("pages", "", "report: a list written by -pid")
	faults := flag.String("faults", "", "report: perf script -F addr,ip,sym output of page faults (optional)")
	top := flag.Int("top", 20, "report: rows per table")
	flag.Parse()
	var err error
	if *pid != 0 {
		err = snapshot(*pid, *out)
	} else {
		err = report(*sym, *pages, *faults, *top)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "rsspages:", err)
		os.Exit(1)
	}
}

// snapshot writes the address of every resident page of the process's
// executable mappings, one per line, in hex, with the address and the
// size in pages of the page-cache folio it belongs to (/proc/kpageflags:
// the kernel maps a whole folio on one fault).
func snapshot(pid int, out string) error {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return err
	}
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return err
	}
	pm, err := os.Open(fmt.Sprintf("/proc/%d/pagemap", pid))
	if err != nil {
		return err
	}
	defer pm.Close()
	kf, err := os.Open("/proc/kpageflags")
	if err != nil {
		return err
	}
	defer kf.Close()
	flags := func(pfn uint64) uint64 {
		var b [8]byte
		if _, err := kf.ReadAt(b[:], int64(pfn*8)); err != nil {
			return 0
		}
		return binary.LittleEndian.Uint64(b[:])
	}
	const head, tail = 1 << 15, 1 << 16
	var sb strings.Builder
	for line := range strings.SplitSeq(string(maps), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || f[5] != exe {
			continue
		}
		lo, hi, _ := strings.Cut(f[0], "-")
		a, _ := strconv.ParseUint(lo, 16, 64)
		b, _ := strconv.ParseUint(hi, 16, 64)
		buf := make([]byte, (b-a)/page*8)
		if _, err := pm.ReadAt(buf, int64(a/page*8)); err != nil {
			return fmt.Errorf("pagemap: %w", err)
		}
		for i := 0; i < len(buf); i += 8 {
			e := binary.LittleEndian.Uint64(buf[i:])
			if e>>63 == 0 { // not present
				continue
			}
			va, pfn := a+uint64(i/8)*page, e&(1<<55-1)
			first := pfn // the folio's head page
			for flags(first)&tail != 0 && flags(first)&head == 0 && pfn-first < 512 {
				first--
			}
			n := uint64(1)
			if flags(first)&head != 0 {
				for flags(first+n)&tail != 0 && flags(first+n)&head == 0 {
					n++
				}
			}
			fmt.Fprintf(&sb, "%x %x %d\n", va, va-(pfn-first)*page, n)
		}
	}
	return os.WriteFile(out, []byte(sb.String()), 0o644)
}

// span is a range of the binary's addresses and whose it is.
type span struct {
	lo, hi uint64
	kind   string // section or part of one
	owner  string // package, or "" when only the kind is known
}

func report(sym, pagesPath, faultsPath string, top int) error {
	f, err := elf.Open(sym)
	if err != nil {
		return err
	}
	defer f.Close()
	spans, err := layout(f)
	if err != nil {
		return err
	}
	resident, folio, err := readPages(pagesPath)
	if err != nil {
		return err
	}
	byKind, byOwner := attribute(spans, resident)
	fmt.Printf("resident pages of the executable: %d (%s)\n\n", len(resident), kb(len(resident)*page))
	table("by section and kind", byKind, top)
	table("by package (code, function table entries; data whose owner is known)", byOwner, top)
	if faultsPath == "" {
		return nil
	}
	return faultReport(faultsPath, spans, resident, folio, top)
}

// layout lists the spans of the binary's loaded sections: functions by
// package (symbols), the read-only data's parts (the linker's markers),
// and the function table's entries by the package of their function.
func layout(f *elf.File) ([]span, error) {
	syms, err := f.Symbols()
	if err != nil {
		return nil, err
	}
	sort.Slice(syms, func(i, j int) bool { return syms[i].Value < syms[j].Value })
	addr := map[string]uint64{}
	for _, s := range syms {
		addr[s.Name] = s.Value
	}
	var spans []span
	sect := func(name string) *elf.Section { return f.Section(name) }
	// Sections first, as the fallback kind of every byte.
	for _, s := range f.Sections {
		if s.Flags&elf.SHF_ALLOC != 0 && s.Addr != 0 && s.Type != elf.SHT_NOBITS {
			spans = append(spans, span{s.Addr, s.Addr + s.Size, s.Name, ""})
		}
	}
	// Functions in .text.
	text := sect(".text")
	var funcs []span
	for _, s := range syms {
		if s.Size > 0 && s.Value >= text.Addr && s.Value < text.Addr+text.Size {
			funcs = append(funcs, span{s.Value, s.Value + s.Size, ".text", pkgOf(s.Name)})
		}
	}
	spans = append(spans, funcs...)
	// Parts of .rodata, between the linker's markers.
	for _, p := range [][3]string{
		{"runtime.types", "go:string.*", ".rodata: type descriptors"},
		{"go:string.*", "go:funcdesc", ".rodata: string literals"},
		{"go:funcdesc", "runtime.gcbits.*", ".rodata: func values, itabs, dictionaries, tables"},
		{"runtime.gcbits.*", "runtime.erodata", ".rodata: pointer bitmaps, the rest"},
	} {
		if a, b := addr[p[0]], addr[p[1]]; a != 0 && b > a {
			spans = append(spans, span{a, b, p[2], ""})
		}
	}
	// Named read-only data (dictionaries, itabs, tables) by package.
	ro := sect(".rodata")
	for _, s := range syms {
		if s.Size > 0 && s.Value >= addr["go:funcdesc"] && s.Value < ro.Addr+ro.Size {
			spans = append(spans, span{s.Value, s.Value + s.Size, ".rodata: func values, itabs, dictionaries, tables", pkgOf(s.Name)})
		}
	}
	pcln, err := pclntab(f, addr, funcs)
	if err != nil {
		return nil, err
	}
	spans = append(spans, pcln...)
	// Data and bss by symbol.
	for _, name := range []string{".noptrdata", ".data"} {
		s := sect(name)
		for _, y := range syms {
			if y.Size > 0 && y.Value >= s.Addr && y.Value < s.Addr+s.Size {
				spans = append(spans, span{y.Value, y.Value + y.Size, name, pkgOf(y.Name)})
			}
		}
	}
	return spans, nil
}

// pclntab splits the function table: names, the file tables, and for each
// function its _func entry, its pc-value tables and its funcdata (stack
// maps), owned by the function's package.
func pclntab(f *elf.File, addr map[string]uint64, funcs []span) ([]span, error) {
	sec := f.Section(".gopclntab")
	data, err := sec.Data()
	if err != nil {
		return nil, err
	}
	base := sec.Addr
	word := func(i int) uint64 { return binary.LittleEndian.Uint64(data[8+8*i:]) }
	u32 := func(off uint64) uint32 { return binary.LittleEndian.Uint32(data[off:]) }
	nfunc := word(0)
	nameOff, cuOff, pcOff, funcOff := word(3), word(4), word(6), word(7)
	text := f.Section(".text").Addr
	gofunc := addr["go:func.*"]
	owner := func(entry uint64) string {
		i := sort.Search(len(funcs), func(i int) bool { return funcs[i].lo > entry }) - 1
		if i < 0 {
			return "?"
		}
		return funcs[i].owner
	}
	spans := []span{
		{base, base + nameOff, ".gopclntab: header", ""},
		{base + nameOff, base + cuOff, ".gopclntab: function names", ""},
		{base + cuOff, base + pcOff, ".gopclntab: compilation units, files", ""},
		{base + pcOff, base + funcOff, ".gopclntab: pc-value tables", ""},
		{base + funcOff, gofunc, ".gopclntab: func entries", ""},
		{gofunc, addr["runtime.findfunctab"], ".gopclntab: funcdata (stack maps, ...)", ""},
		{addr["runtime.findfunctab"], addr["runtime.epclntab"], ".gopclntab: findfunctab", ""},
	}
	type fd struct {
		off   uint64
		owner string
	}
	var fds []fd
	for i := uint64(0); i < nfunc; i++ {
		entry, fo := uint64(u32(funcOff+8*i)), uint64(u32(funcOff+8*i+4))
		p := owner(text + entry)
		fn := funcOff + fo
		npcdata, nfuncdata := uint64(u32(fn+28)), uint64(data[fn+43])
		end := fn + 44 + 4*npcdata + 4*nfuncdata
		spans = append(spans, span{base + fn, base + end, ".gopclntab: func entries", p})
		name := nameOff + uint64(int32(u32(fn+4)))
		n := uint64(0)
		for name+n < uint64(len(data)) && data[name+n] != 0 {
			n++
		}
		spans = append(spans, span{base + name, base + name + n + 1, ".gopclntab: function names", p})
		tabs := []uint64{uint64(u32(fn + 16)), uint64(u32(fn + 20)), uint64(u32(fn + 24))}
		for j := uint64(0); j < npcdata; j++ {
			tabs = append(tabs, uint64(u32(fn+44+4*j)))
		}
		for _, t := range tabs {
			if t != 0 {
				start := pcOff + t
				spans = append(spans, span{base + start, base + start + pcvalueLen(data[start:]), ".gopclntab: pc-value tables", p})
			}
		}
		for j := uint64(0); j < nfuncdata; j++ {
			if o := u32(fn + 44 + 4*npcdata + 4*j); o != ^uint32(0) {
				fds = append(fds, fd{gofunc + uint64(o), p})
			}
		}
	}
	sort.Slice(fds, func(i, j int) bool { return fds[i].off < fds[j].off })
	for i, d := range fds {
		end := addr["runtime.findfunctab"]
		if i+1 < len(fds) {
			end = fds[i+1].off
		}
		spans = append(spans, span{d.off, end, ".gopclntab: funcdata (stack maps, ...)", d.owner})
	}
	return spans, nil
}

// pcvalueLen is the length of one pc-value table: pairs of varints
// (value delta, pc delta) ended by a zero value delta after the first.
func pcvalueLen(p []byte) uint64 {
	n := 0
	for first := true; ; first = false {
		v, k := binary.Uvarint(p[n:])
		if k <= 0 {
			return uint64(n)
		}
		n += k
		if v == 0 && !first {
			return uint64(n)
		}
		_, k = binary.Uvarint(p[n:])
		if k <= 0 {
			return uint64(n)
		}
		n += k
	}
}

// pkgOf is the package of a symbol: the import path up to the first dot
// after its last slash (generic arguments cut off first).
func pkgOf(name string) string {
	name = strings.TrimPrefix(name, "go:itab.")
	name = strings.TrimLeft(name, "*")
	if i := strings.IndexByte(name, '['); i >= 0 {
		name = name[:i]
	}
	slash := strings.LastIndexByte(name, '/')
	if i := strings.IndexByte(name[slash+1:], '.'); i >= 0 {
		return name[:slash+1+i]
	}
	return name
}

// readPages reads a snapshot: resident pages, and each one's folio (its
// first page's address and its size in pages).
func readPages(path string) (map[uint64]bool, map[uint64][2]uint64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	out, folio := map[uint64]bool{}, map[uint64][2]uint64{}
	for l := range strings.SplitSeq(strings.TrimSpace(string(data)), "\n") {
		var a, f, n uint64
		if _, err := fmt.Sscanf(l, "%x %x %d", &a, &f, &n); err != nil {
			return nil, nil, fmt.Errorf("%s: %q: %w", path, l, err)
		}
		out[a], folio[a] = true, [2]uint64{f, n}
	}
	return out, folio, nil
}

// attribute splits each resident page's bytes among the spans covering
// them: the innermost (last added, narrowest) span wins for each byte.
func attribute(spans []span, resident map[uint64]bool) (byKind, byOwner map[string]int) {
	byKind, byOwner = map[string]int{}, map[string]int{}
	for pg := range resident {
		owners := pageOwners(spans, index(spans, resident)[pg], pg)
		for key, n := range owners {
			kind, owner, _ := strings.Cut(key, "\x00")
			byKind[kind] += n
			if owner != "" {
				byOwner[owner] += n
			}
		}
	}
	return byKind, byOwner
}

// index lists, for each resident page, the spans on it (computed once).
func index(spans []span, resident map[uint64]bool) map[uint64][]int {
	if indexed != nil {
		return indexed
	}
	indexed = map[uint64][]int{}
	for i, s := range spans {
		for pg := s.lo &^ (page - 1); pg < s.hi; pg += page {
			if resident[pg] {
				indexed[pg] = append(indexed[pg], i)
			}
		}
	}
	return indexed
}

var indexed map[uint64][]int

// pageOwners is, for one page, bytes by "kind\x00owner": a byte is its
// most specific span's (one with an owner over one without, a narrower
// kind over its section).
func pageOwners(spans []span, on []int, pg uint64) map[string]int {
	best := make([]int, page) // index into spans+1; 0: none
	rank := func(s span) int {
		r := 0
		if strings.Contains(s.kind, ":") {
			r++
		}
		if s.owner != "" {
			r += 2
		}
		return r
	}
	for _, i := range on {
		s := spans[i]
		lo, hi := max(s.lo, pg)-pg, min(s.hi, pg+page)-pg
		for b := lo; b < hi; b++ {
			if best[b] == 0 || rank(spans[best[b]-1]) <= rank(s) {
				best[b] = i + 1
			}
		}
	}
	out := map[string]int{}
	for _, i := range best {
		if i == 0 {
			out["(no section)\x00"]++
			continue
		}
		out[spans[i-1].kind+"\x00"+spans[i-1].owner]++
	}
	return out
}

// faultReport reads perf's page faults and says, for the executable's
// resident pages, which were faulted and by whom.
func faultReport(path string, spans []span, resident map[uint64]bool, folio map[uint64][2]uint64, top int) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	faulted := map[uint64]string{} // page: the code path that first faulted it
	var order []uint64             // faulted pages, first fault first
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var cur []string // addr, then the callchain's symbols, innermost first
	flush := func() {
		if len(cur) == 0 {
			return
		}
		a, err := strconv.ParseUint(cur[0], 16, 64)
		if err == nil && resident[a&^(page-1)] {
			if _, seen := faulted[a&^(page-1)]; !seen {
				faulted[a&^(page-1)] = path1(cur[1:])
				order = append(order, a&^(page-1))
			}
		}
		cur = nil
	}
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		fields := strings.Fields(line)
		if !strings.HasPrefix(line, "\t") || len(cur) == 0 {
			flush()
			cur = []string{fields[0]}
			continue
		}
		if len(fields) >= 2 && !strings.HasPrefix(fields[0], "ffffffff") { // not the kernel's
			cur = append(cur, fields[1])
		}
	}
	flush()
	faultedKind, byPath := map[string]int{}, map[string]int{}
	for pg := range faulted {
		for key, n := range pageOwners(spans, index(spans, resident)[pg], pg) {
			kind, _, _ := strings.Cut(key, "\x00")
			faultedKind[kind] += n
		}
	}
	table("pages faulted themselves (touched while not mapped), by kind", faultedKind, top)
	// Each resident page is charged to the first fault that mapped it: on
	// the page, on its folio, or in its 64 KB window.
	charged := map[uint64]bool{}
	for _, pg := range order {
		mapped := []uint64{pg}
		if f := folio[pg]; f[1] > 1 {
			for i := range f[1] {
				mapped = append(mapped, f[0]+i*page)
			}
		}
		for w := pg &^ (16*page - 1); w < pg&^(16*page-1)+16*page; w += page {
			mapped = append(mapped, w)
		}
		for _, m := range mapped {
			if resident[m] && !charged[m] {
				charged[m] = true
				byPath[faulted[pg]] += page
			}
		}
	}
	table("resident pages by the code path whose fault mapped them (the package init running, else the goroutine's first function)", byPath, top)
	// How each resident page came to be mapped: its own fault, a fault on
	// its folio (the kernel maps a large folio whole), or a fault in its
	// 64 KB fault-around window.
	folioFaulted, windowFaulted := map[uint64]bool{}, map[uint64]bool{}
	for pg := range faulted {
		folioFaulted[folio[pg][0]] = true
		windowFaulted[pg/(16*page)] = true
	}
	how := map[string]int{}
	for pg := range resident {
		switch _, own := faulted[pg]; {
		case own:
			how["faulted itself"] += page
		case folio[pg][1] > 1 && folioFaulted[folio[pg][0]]:
			how["mapped with a faulted page's large folio"] += page
		case windowFaulted[pg/(16*page)]:
			how["mapped around a fault in its 64 KB window"] += page
		default:
			how["none of these (its folio's or window's fault not recorded)"] += page
		}
	}
	sizes := map[string]int{}
	for pg := range resident {
		sizes[fmt.Sprintf("in %3d KB folios", folio[pg][1]*page/1024)] += page
	}
	table("how the resident pages were mapped", how, top)
	table("resident pages by the size of their page-cache folio", sizes, top)
	return nil
}

// path1 names a fault's code path from its callchain (innermost first):
// the package initialiser running it, else the outermost function that
// is not the runtime's.
func path1(chain []string) string {
	for i, s := range chain {
		if s == "runtime.doInit1" && i > 0 {
			return "init " + pkgOf(chain[i-1])
		}
	}
	for i := len(chain) - 1; i >= 0; i-- {
		s := chain[i]
		if !strings.HasPrefix(s, "runtime.") && s != "[unknown]" {
			return pkgOf(s) + " (" + filepath.Base(s) + ")"
		}
	}
	if len(chain) > 0 {
		return "runtime (" + chain[0] + ")"
	}
	return "?"
}

func table(title string, m map[string]int, top int) {
	type row struct {
		k string
		n int
	}
	var rows []row
	total := 0
	for k, n := range m {
		rows = append(rows, row{k, n})
		total += n
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].n > rows[j].n })
	fmt.Printf("%s (%s in all)\n", title, kb(total))
	for i, r := range rows {
		if i == top {
			break
		}
		fmt.Printf("  %10s  %s\n", kb(r.n), r.k)
	}
	fmt.Println()
}

func kb(n int) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }
