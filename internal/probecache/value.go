package probecache

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/vsysbed/vsysbed/internal/cachedir"
	"golang.org/x/sys/unix"
)

// Other answers kept across runs beside the probe's (the TSC frequency,
// vsysbed calibrate's table): lines of text under a name and a key, in a
// file of their own with the same checks as the probe's (its full key, a
// checksum, an atomic write). A value must not hold a line "sum ...".

// valueFormat is the first line of a value file.
const valueFormat = "vsysbed-cache-value 1"

// valuePath is the file of name's value for key in dir.
func valuePath(dir, name, key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(dir, name+"-"+hex.EncodeToString(sum[:12]))
}

func encodeValue(name, key string, lines []string) []byte {
	var b bytes.Buffer
	b.WriteString(valueFormat + " " + name + "\n")
	b.WriteString(strings.TrimSuffix(key, "\n") + "\n")
	b.WriteString("--\n")
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	return cachedir.Seal(b.Bytes())
}

func decodeValue(data []byte, name, key string) ([]string, error) {
	body, err := cachedir.Unseal(data, valueFormat+" "+name+"\n"+strings.TrimSuffix(key, "\n")+"\n--\n")
	if err != nil {
		return nil, err
	}
	rest := strings.TrimSuffix(string(body), "\n")
	if rest == "" {
		return []string{}, nil
	}
	return strings.Split(rest, "\n"), nil
}

// LoadValue returns the lines stored in dir under name for key; ok is
// false when there is no valid entry (or dir is "").
func LoadValue(dir, name, key string) (lines []string, ok bool) {
	if dir == "" {
		return nil, false
	}
	data, err := os.ReadFile(valuePath(dir, name, key))
	if err != nil || len(data) > 1<<20 {
		return nil, false
	}
	lines, err = decodeValue(data, name, key)
	return lines, err == nil
}

// StoreValue writes lines under name for key into dir (created if
// missing), atomically.
func StoreValue(dir, name, key string, lines []string) error {
	if dir == "" {
		return errors.New("probecache: no cache directory")
	}
	for _, l := range lines {
		if strings.Contains(l, "\n") || strings.HasPrefix(l, "sum ") {
			return errors.New("probecache: a value line holds a newline or starts with sum")
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+name+"-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(encodeValue(name, key, lines))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), valuePath(dir, name, key))
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// MachineKey names this boot of this machine and kernel: what the TSC's
// rate and the per-path costs depend on besides vsysbed itself (the boot
// id changes at every boot, when the kernel calibrates the TSC again).
func MachineKey() string {
	var b strings.Builder
	boot, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	b.WriteString("boot " + strings.TrimSpace(string(boot)) + "\n")
	if cpu, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(cpu), "\n") {
			if strings.HasPrefix(l, "model name") {
				b.WriteString("cpu " + strings.TrimSpace(l[strings.Index(l, ":")+1:]) + "\n")
				break
			}
		}
	}
	b.WriteString(unameLines())
	return b.String()
}

func unameLines() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return "kernel " + unix.ByteSliceToString(u.Release[:]) + " " + unix.ByteSliceToString(u.Version[:]) + " " +
		unix.ByteSliceToString(u.Machine[:]) + "\n"
}
