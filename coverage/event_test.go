package coverage

import (
	"encoding/json"
	"syscall"
	"testing"
)

func TestHexJSON(t *testing.T) {
	for in, want := range map[string]Hex{`"0x1f"`: 0x1f, `"0X1F"`: 0x1f, `31`: 31, `"0xffffffffffffffff"`: ^Hex(0)} {
		var h Hex
		if err := json.Unmarshal([]byte(in), &h); err != nil || h != want {
			t.Errorf("unmarshal %s = %#x, %v; want %#x", in, uint64(h), err, uint64(want))
		}
	}
	for _, bad := range []string{`"zz"`, `"0x"`, `-1`, `"0x10000000000000000"`, `true`} {
		var h Hex
		if err := json.Unmarshal([]byte(bad), &h); err == nil {
			t.Errorf("unmarshal %s accepted as %#x", bad, uint64(h))
		}
	}
	if b, _ := json.Marshal(Hex(0xABC)); string(b) != `"0xabc"` {
		t.Errorf("marshal = %s", b)
	}
}

func TestSignalName(t *testing.T) {
	if SignalName(0) != "" || SignalName(syscall.SIGKILL) != "SIGKILL" || SignalName(40) != "SIG40" {
		t.Errorf("SignalName: %q %q %q", SignalName(0), SignalName(syscall.SIGKILL), SignalName(40))
	}
}
