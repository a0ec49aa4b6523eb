package kernelsim

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestDocsUpToDate(t *testing.T) {
	var want bytes.Buffer
	if err := WriteDocs(&want); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../docs/syscalls.md")
	if err != nil {
		t.Fatalf("docs/syscalls.md is stale: run go generate ./kernelsim (%v)", err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("docs/syscalls.md is stale: run go generate ./kernelsim")
	}
}

func TestDocsRendering(t *testing.T) {
	rows := []Syscall{
		{Nr: 0, Name: "read", Route: Fast},
		{Nr: 1, Name: "write", Route: Guarded, Note: "fd must be the guest's | not the host's"},
		{Nr: 39, Name: "getpid", Route: Emulated, Note: "guest pid\nfrom kernelsim"},
		{Nr: 134, Name: "uselib", Route: Refused, Errno: unix.ENOSYS, Note: "obsolete"},
		{Nr: 135, Name: "personality", Route: Refused, Errno: unix.EPERM},
		{Nr: 136, Name: "ustat", Route: Refused, Errno: unix.ENOSYS},
	}
	var b bytes.Buffer
	if err := writeDocs(&b, rows); err != nil {
		t.Fatal(err)
	}
	doc := b.String()
	for _, want := range []string{
		"| fast | 1 |\n",
		"| guarded | 1 |\n",
		"| emulated | 1 |\n",
		"| refused | 3 |\n",
		"| total | 6 |\n",
		"| 0 | read | fast |  |\n",
		`| 1 | write | guarded | fd must be the guest's \| not the host's |` + "\n",
		"| 39 | getpid | emulated | guest pid from kernelsim |\n",
		"| 134 | uselib | refused | ENOSYS: obsolete |\n",
		"| 135 | personality | refused | EPERM |\n",
		"| 136 | ustat | refused | ENOSYS |\n",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("docs lack %q; got:\n%s", want, doc)
		}
	}
	// Summary rows have two cells, syscall rows four; an unescaped pipe in
	// a note would add one.
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(line, "| ") {
			continue
		}
		if pipes := strings.Count(strings.ReplaceAll(line, `\|`, ""), "|"); pipes != 3 && pipes != 5 {
			t.Errorf("malformed table row %q", line)
		}
	}
}

func TestDocsListEveryNumber(t *testing.T) {
	var b bytes.Buffer
	if err := WriteDocs(&b); err != nil {
		t.Fatal(err)
	}
	doc := b.String()
	for _, nr := range []int{0, 39, 335, MaxNr} {
		row := "| " + strconv.Itoa(nr) + " | " + Name(nr) + " | "
		if !strings.Contains(doc, row) {
			t.Errorf("docs have no row starting %q", row)
		}
	}
}
