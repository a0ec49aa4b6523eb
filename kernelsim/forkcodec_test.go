package kernelsim

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"reflect"
	"testing"
)

func testForkState(n int) *ForkState {
	st := &ForkState{BrkCur: 0x5000 + uint64(n), Comm: "guest", FDFloor: 1500, Mask: 1 << 9}
	st.VMAs = [][2]uint64{{0x1000, 0x2000}, {0x3000, uint64(0x4000 + n)}}
	st.Regions = []ForkRegion{{Start: 0x1000, End: 0x2000, Prot: 3, FD: -1}}
	st.FDs = []ForkFD{{Num: 3, Cloexec: true}, {Num: 1500}}
	st.Routes = map[int]bool{39: true}
	st.Signalfds = map[int]uint64{7: 1 << 16}
	st.Xsave = []byte{1, 2, 3}
	st.Actions[17] = [4]uint64{0x401000, 4, 0, 0}
	return st
}

// TestForkStream sends states as a parent does, each to a child that
// decodes it with a new decoder and to a spare primed with the prelude,
// and gets them back whole; the primed spare decodes with what it read
// ahead (a state framed with a damaged prelude still decodes there, and
// fails in a fresh child), and a spare primed with another process's
// prelude decodes with a new decoder.
func TestForkStream(t *testing.T) {
	frame, err := ForkPrelude()
	if err != nil {
		t.Fatal(err)
	}
	for n := range 3 {
		want := testForkState(n)
		msg, err := frameFork(want)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(msg, frame) {
			t.Fatalf("state %d: not framed after the prelude", n)
		}
		got, err := decodeFork(bytes.NewReader(msg))
		if err != nil {
			t.Fatalf("state %d, fresh child: %v", n, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("state %d, fresh child: got %+v, want %+v", n, got, want)
		}
		if err := PrimeAdopt(bytes.NewReader(frame)); err != nil {
			t.Fatal(err)
		}
		damaged := bytes.Clone(msg)
		for i := 16; i < len(frame); i++ {
			damaged[i] = 0xff
		}
		got, err = decodeFork(bytes.NewReader(damaged))
		if err != nil {
			t.Fatalf("state %d, primed spare: %v", n, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("state %d, primed spare: got %+v, want %+v", n, got, want)
		}
		if primed != nil {
			t.Fatal("the primed decoder was kept for a second stream")
		}
		if _, err := decodeFork(bytes.NewReader(damaged)); err == nil {
			t.Fatalf("state %d: a damaged prelude decoded without a primed decoder", n)
		}
		other := bytes.Clone(frame)
		binary.LittleEndian.PutUint64(other, ^binary.LittleEndian.Uint64(other))
		if err := PrimeAdopt(bytes.NewReader(other)); err != nil {
			t.Fatal(err)
		}
		if got, err = decodeFork(bytes.NewReader(msg)); err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("state %d, spare primed by another prelude: %v, %+v", n, err, got)
		}
	}
}

// TestForkStreamSendsTypesOnce: after the prelude, a state carries no
// type descriptors — it is shorter than a fresh encoder's output.
func TestForkStreamSendsTypesOnce(t *testing.T) {
	st := testForkState(1)
	prelude, _, state, err := encodeFork(st)
	if err != nil {
		t.Fatal(err)
	}
	var fresh bytes.Buffer
	if err := gobEncodeFresh(&fresh, st); err != nil {
		t.Fatal(err)
	}
	if len(state) >= fresh.Len() || len(prelude) == 0 {
		t.Fatalf("state %d bytes after a %d-byte prelude, fresh encoding %d", len(state), len(prelude), fresh.Len())
	}
}

func gobEncodeFresh(w *bytes.Buffer, st *ForkState) error {
	return gob.NewEncoder(w).Encode(st)
}
