package rundir

import (
	"os"
	"testing"
)

func TestParseStartTime(t *testing.T) {
	// A command name with spaces and parentheses, then fields 3..22.
	stat := "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 12345 67 18446744073709551615"
	got, err := parseStartTime(stat)
	if err != nil || got != 987654 {
		t.Fatalf("parseStartTime = %d, %v; want 987654", got, err)
	}
	if _, err := parseStartTime("4242 (x) S 1"); err == nil {
		t.Fatal("a short line parsed")
	}
}

func TestSupervisorRecord(t *testing.T) {
	dir := t.TempDir()
	if alive, err := SupervisorAlive(dir); err == nil || alive {
		t.Fatalf("no record: alive=%v err=%v", alive, err)
	}
	if err := WriteSupervisor(dir); err != nil {
		t.Fatal(err)
	}
	pid, _, err := ReadSupervisor(dir)
	if err != nil || pid != os.Getpid() {
		t.Fatalf("ReadSupervisor = %d, %v", pid, err)
	}
	if alive, err := SupervisorAlive(dir); err != nil || !alive {
		t.Fatalf("this process: alive=%v err=%v", alive, err)
	}
	// The same pid with another start time is another process.
	os.WriteFile(dir+"/"+SupervisorFile, []byte("1 1\n"), 0o644)
	if alive, _ := SupervisorAlive(dir); alive {
		t.Fatal("a recycled pid passed for the supervisor")
	}
	if Released(dir) {
		t.Fatal("released without the file")
	}
}
