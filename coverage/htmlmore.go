package coverage

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"sort"
	"strings"
)

// HTMLOptions are what the HTML page may read beyond the report itself.
// The zero value reads nothing: the page is then a function of the report
// alone (the renderers' golden tests rely on it).
type HTMLOptions struct {
	// ReadSource reads a source file a trap site's DWARF line names, for
	// the page's source view (`vsysbed report show` passes os.ReadFile);
	// nil leaves the view out.
	ReadSource func(path string) ([]byte, error)
	// Refusal says whether vsysbed refuses syscall nr on every call, with
	// which error (its name, "ENOSYS") and why (kernelsim's table); nil
	// leaves the page's refusals section out.
	Refusal func(nr int) (errno, why string, refused bool)
}

// WriteHTMLWith is WriteHTML with what o lets the page read: the source
// lines of trap sites and kernelsim's reasons for refused calls.
func (r *Report) WriteHTMLWith(w io.Writer, o HTMLOptions) error {
	bw := bufio.NewWriter(w)
	p := r.htmlPage()
	p.addSources(r, o.ReadSource)
	p.addRefusals(r, o.Refusal)
	if err := htmlTemplate().Execute(bw, p); err != nil {
		return err
	}
	return bw.Flush()
}

// htmlFunction is one function's sites: the page's grouped view.
type htmlFunction struct {
	Function   string // demangled; "?" when unknown
	Object     string
	ObjectBase string
	Sites      []htmlSite
	Calls      uint64
	Trap       uint64 // trapped calls
	Open       bool   // shown unfolded: it traps
}

// groupByFunction groups the page's sites under (object, function),
// functions with the most trapped calls first, then the most calls.
func groupByFunction(sites []htmlSite) []htmlFunction {
	index := map[[2]string]int{}
	var out []htmlFunction
	for _, s := range sites {
		fn := s.Function
		if fn == "" {
			fn = "?"
		}
		k := [2]string{s.Object, fn}
		i, ok := index[k]
		if !ok {
			i = len(out)
			index[k] = i
			out = append(out, htmlFunction{Function: fn, Object: s.Object, ObjectBase: s.ObjectBase})
		}
		f := &out[i]
		f.Sites = append(f.Sites, s)
		f.Calls += s.Count
		if s.Kind == KindTrap {
			f.Trap += s.Count
			f.Open = true
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := &out[i], &out[j]
		if a.Trap != b.Trap {
			return a.Trap > b.Trap
		}
		return a.Calls > b.Calls
	})
	for i := range out {
		sort.SliceStable(out[i].Sites, func(a, b int) bool { return out[i].Sites[a].Count > out[i].Sites[b].Count })
	}
	return out
}

// htmlRefusal is a syscall the guest called that vsysbed refuses.
type htmlRefusal struct {
	Name  string
	Nr    int
	Calls uint64
	Errno string
	Why   string
}

func (p *htmlPage) addRefusals(r *Report, refusal func(int) (string, string, bool)) {
	if refusal == nil {
		return
	}
	for _, row := range r.Syscalls {
		if row.Int80 > 0 || row.Total == 0 {
			continue // i386 numbers are another table
		}
		if errno, why, ok := refusal(row.Nr); ok {
			p.Refusals = append(p.Refusals, htmlRefusal{Name: row.Name, Nr: row.Nr, Calls: row.Total, Errno: errno, Why: why})
		}
	}
	sort.SliceStable(p.Refusals, func(i, j int) bool { return p.Refusals[i].Calls > p.Refusals[j].Calls })
}

// Source view limits: the page stays small whatever the program.
const (
	htmlSourceFiles   = 20      // files shown
	htmlSourceContext = 3       // lines around each trapping line
	htmlSourceMaxSize = 4 << 20 // bytes of one file read
)

// htmlSourceFile is one source file's trapping lines with their context.
type htmlSourceFile struct {
	File  string
	Calls uint64 // trapped calls from its lines
	Lines []htmlSourceLine
}

type htmlSourceLine struct {
	N     int
	Text  string
	Calls uint64 // trapped calls on this line, 0 for context
	Gap   bool   // a "⋮" between two windows
	What  string // the syscalls trapping here
}

// addSources adds the source view: for each source file a trap site's
// DWARF line names and read can read, its trapping lines marked with their
// trapped calls, a few lines of context around each (as `go tool cover
// -html` shows covered lines). Files with the most trapped calls first.
func (p *htmlPage) addSources(r *Report, read func(string) ([]byte, error)) {
	if read == nil {
		return
	}
	type lineInfo struct {
		calls    uint64
		syscalls []string
	}
	files := map[string]map[int]*lineInfo{}
	calls := map[string]uint64{}
	for _, s := range r.Sites {
		if s.Kind != KindTrap || s.File == "" || s.Line <= 0 || !strings.HasPrefix(s.File, "/") {
			continue // a relative name has no root to read it from
		}
		if files[s.File] == nil {
			files[s.File] = map[int]*lineInfo{}
		}
		li := files[s.File][s.Line]
		if li == nil {
			li = &lineInfo{}
			files[s.File][s.Line] = li
		}
		li.calls += s.Count
		if !containsString(li.syscalls, s.Syscall) {
			li.syscalls = append(li.syscalls, s.Syscall)
		}
		calls[s.File] += s.Count
	}
	var names []string
	for f := range files {
		names = append(names, f)
	}
	sort.Slice(names, func(i, j int) bool {
		if calls[names[i]] != calls[names[j]] {
			return calls[names[i]] > calls[names[j]]
		}
		return names[i] < names[j]
	})
	for _, name := range names {
		if len(p.Sources) == htmlSourceFiles {
			break
		}
		if st, err := os.Stat(name); err == nil && st.Size() > htmlSourceMaxSize {
			continue
		}
		b, err := read(name)
		if err != nil || len(b) > htmlSourceMaxSize || bytes.IndexByte(b, 0) >= 0 {
			continue // gone, unreadable or not text
		}
		text := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		var marked []int
		for n := range files[name] {
			if n <= len(text) {
				marked = append(marked, n)
			}
		}
		if len(marked) == 0 {
			continue // the file changed since the build
		}
		sort.Ints(marked)
		show := map[int]bool{}
		for _, n := range marked {
			for k := max(1, n-htmlSourceContext); k <= min(len(text), n+htmlSourceContext); k++ {
				show[k] = true
			}
		}
		f := htmlSourceFile{File: name, Calls: calls[name]}
		last := 0
		for n := 1; n <= len(text); n++ {
			if !show[n] {
				continue
			}
			if last != 0 && n != last+1 {
				f.Lines = append(f.Lines, htmlSourceLine{Gap: true})
			}
			l := htmlSourceLine{N: n, Text: strings.TrimRight(text[n-1], "\r")}
			if li := files[name][n]; li != nil {
				l.Calls, l.What = li.calls, strings.Join(li.syscalls, ", ")
			}
			f.Lines = append(f.Lines, l)
			last = n
		}
		p.Sources = append(p.Sources, f)
	}
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
