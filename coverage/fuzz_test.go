package coverage

import (
	"io"
	"testing"
)

// FuzzReport feeds arbitrary bytes to the report reader and everything
// `vsysbed report` does with what it accepts: merge, diff, check and the
// three writers. A report file is user input (hand-edited, truncated,
// from another build): a bad one gets an error, never a panic.
func FuzzReport(f *testing.F) {
	seed := aslrRun(&testing.T{}, []string{"prog", "arg"}, 0x7f0000000000, 3,
		call{libx, 0x10, 1, KindTrap, 4}, call{libx, 0x20, 39, KindBypass, 2})
	f.Add([]byte(jsonOf(&testing.T{}, seed)))
	f.Add([]byte(`{"schema":"` + Schema + `"}`))
	f.Add([]byte(`{"schema":"` + Schema + `","syscalls":[{"name":"read","nr":-1}],"sites":[{"object":"","count":1}]}`))
	f.Add([]byte(`{"schema":"vsysbed.report/0"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(data, "fuzz.json")
		if err != nil {
			return
		}
		m, err := Merge(r, r)
		if err == nil {
			Compare(r, m)
			minBypass, maxSites := 50.0, 1
			Check(m, Gates{MinBypass: &minBypass, NoNewTrapsSince: r, MaxTrapSites: &maxSites})
		}
		for _, w := range []func(io.Writer) error{r.WriteJSON, r.WriteText, r.WriteHTML} {
			w(io.Discard)
		}
	})
}
