package bed_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/onsi/gomega"

	"github.com/vsysbed/vsysbed/bed"
	"github.com/vsysbed/vsysbed/bed/bedmatch"
)

// Output runs a program under vsysbed like exec.Command(...).Output()
// runs it natively. The vsysbed binary comes from $VSYSBED_BIN or PATH.
func ExampleCommand() {
	out, err := bed.Command(context.Background(), "/bin/echo", "hello").Output()
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Print(string(out))
	// Output: hello
}

// Every run that started the guest leaves a coverage report: how many
// syscalls entered by each path, per syscall and per call site.
func ExampleCmd_Report() {
	cmd := bed.Command(context.Background(), "/bin/true")
	if err := cmd.Run(); err != nil {
		fmt.Println("error:", err)
		return
	}
	rep, err := cmd.Report()
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	t := rep.Totals
	fmt.Println("exit:", rep.Exit)
	fmt.Println("complete:", rep.Complete)
	fmt.Println("totals add up:", t.Total > 0 && t.Total == t.Bypass+t.Trap+t.VDSO+t.Int80+t.Patched)
	// Output:
	// exit: exit code 0
	// complete: true
	// totals add up: true
}

// A guest's failure is an *ExitError, as with os/exec; one vsysbed could
// not start at all is a *StartError.
func ExampleStartError() {
	err := bed.Command(context.Background(), "/no/such/program").Run()
	var se *bed.StartError
	if errors.As(err, &se) {
		fmt.Println("exit status:", se.Code, se.Code == bed.ExitNotFound)
	}
	// Output: exit status: 127 true
}

// The matchers of package bedmatch assert on a report. Debian's glibc
// issues raw `syscall` instructions, so /bin/echo's write traps. In a
// Ginkgo suite, write Expect(rep).To(bedmatch.HaveTrapped("write")).
func ExampleCmd_Report_matchers() {
	g := gomega.NewGomega(func(msg string, _ ...int) {
		fmt.Println(strings.SplitN(msg, "\n", 2)[0])
	})
	cmd := bed.Command(context.Background(), "/bin/echo", "hello")
	if _, err := cmd.Output(); err != nil {
		fmt.Println("error:", err)
		return
	}
	rep, err := cmd.Report()
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	g.Expect(rep).To(bedmatch.HaveTrapped("write"))
	g.Expect(rep).NotTo(bedmatch.BeFullyBypassed())
	fmt.Println("checked")
	// Output: checked
}
