package kernelsim

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"fmt"
	"hash/fnv"
	"io"
	"sync"
)

// The fork state's gob stream, kept across forks. A fresh gob encoder
// describes every type of ForkState before the value (sendTypeDescriptor,
// ~0.2 ms of the parent's fork), and a fresh decoder compiles a decoding
// engine for each (compileDec, ~0.25 ms of the child's): both on the
// fork's path, both the same at every fork. So a host process encodes
// every state with one encoder, whose first output — the descriptors and
// a zero ForkState, the *prelude* — is the same for all its children, and
// sends each child the prelude's digest and bytes before the state. A
// spare decodes the prelude while it waits (PrimeAdopt: the parent writes
// it at the spare's start, ForkPrelude), keeping the decoder; at the fork
// it decodes the state with that decoder and skips the prelude it is sent
// again. A fresh child decodes both with a new one.
//
// On the link: digest (8 bytes), prelude length (8), prelude, state length
// (8), state.

// forkStream is this process's encoder of fork states.
type forkStream struct {
	sync.Mutex
	out     bytes.Buffer
	enc     *gob.Encoder
	prelude []byte
	digest  uint64
}

var forkEncoder forkStream

// encodeFork returns the prelude, its digest and st encoded after it.
func encodeFork(st *ForkState) (prelude []byte, digest uint64, state []byte, err error) {
	e := &forkEncoder
	e.Lock()
	defer e.Unlock()
	if err := e.start(); err != nil {
		return nil, 0, nil, err
	}
	e.out.Reset()
	if err := e.enc.Encode(st); err != nil {
		// The stream is no longer one a decoder of the prelude can
		// follow (gob may have sent part of a type): start anew.
		e.enc = nil
		return nil, 0, nil, err
	}
	return e.prelude, e.digest, bytes.Clone(e.out.Bytes()), nil
}

// start makes the encoder and its prelude, once (again after a failure).
func (e *forkStream) start() error {
	if e.enc != nil {
		return nil
	}
	e.out.Reset()
	enc := gob.NewEncoder(&e.out)
	if err := enc.Encode(&ForkState{}); err != nil {
		return err
	}
	e.enc, e.prelude = enc, bytes.Clone(e.out.Bytes())
	h := fnv.New64a()
	h.Write(e.prelude)
	e.digest = h.Sum64()
	return nil
}

// ForkPrelude is what the platform writes on a spare's link when it starts
// it (PrimeAdopt reads it): the prelude's digest, length and bytes.
func ForkPrelude() ([]byte, error) {
	e := &forkEncoder
	e.Lock()
	defer e.Unlock()
	if err := e.start(); err != nil {
		return nil, err
	}
	return framePrelude(e.digest, e.prelude), nil
}

func framePrelude(digest uint64, prelude []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, digest)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(prelude)))
	return append(b, prelude...)
}

// frameFork is the state as sendFork writes it.
func frameFork(st *ForkState) ([]byte, error) {
	prelude, digest, state, err := encodeFork(st)
	if err != nil {
		return nil, err
	}
	b := framePrelude(digest, prelude)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(state)))
	return append(b, state...), nil
}

// messages is the decoder's reader: the message it is given, one at a
// time (a gob.Decoder keeps its reader; an io.ByteReader is not wrapped
// in a bufio.Reader that would read ahead).
type messages struct{ bytes.Reader }

// forkDecoder is a decoder that has read a prelude, and the prelude's
// digest: a spare's (PrimeAdopt).
type forkDecoder struct {
	digest uint64
	in     *messages
	dec    *gob.Decoder
}

var primed *forkDecoder

// readPrelude reads a prelude's digest and bytes from r.
func readPrelude(r io.Reader) (uint64, []byte, error) {
	var h [16]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	digest, n := binary.LittleEndian.Uint64(h[:8]), binary.LittleEndian.Uint64(h[8:])
	if n > 1<<20 {
		return 0, nil, fmt.Errorf("fork prelude of %d bytes", n)
	}
	b := make([]byte, n)
	_, err := io.ReadFull(r, b)
	return digest, b, err
}

// newForkDecoder decodes a prelude with a new decoder.
func newForkDecoder(digest uint64, prelude []byte) (*forkDecoder, error) {
	d := &forkDecoder{digest: digest, in: &messages{}}
	d.in.Reset(prelude)
	d.dec = gob.NewDecoder(d.in)
	var zero ForkState
	if err := d.dec.Decode(&zero); err != nil {
		return nil, fmt.Errorf("fork prelude: %w", err)
	}
	return d, nil
}

// PrimeAdopt reads the prelude the parent wrote on a spare's link
// (ForkPrelude) and decodes it, ahead of the fork.
func PrimeAdopt(link io.Reader) error {
	digest, prelude, err := readPrelude(link)
	if err != nil {
		return err
	}
	d, err := newForkDecoder(digest, prelude)
	if err != nil {
		return err
	}
	primed = d
	return nil
}

// decodeFork reads a state as frameFork wrote it, with the primed decoder
// when it read the same prelude, else with a new one.
func decodeFork(r io.Reader) (*ForkState, error) {
	digest, prelude, err := readPrelude(r)
	if err != nil {
		return nil, err
	}
	var n [8]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	size := binary.LittleEndian.Uint64(n[:])
	if size > 1<<30 {
		return nil, fmt.Errorf("fork state of %d bytes", size)
	}
	state := make([]byte, size)
	if _, err := io.ReadFull(r, state); err != nil {
		return nil, err
	}
	d := primed
	primed = nil // a decoder follows one stream
	if d == nil || d.digest != digest {
		if d, err = newForkDecoder(digest, prelude); err != nil {
			return nil, err
		}
	}
	d.in.Reset(state)
	var st ForkState
	if err := d.dec.Decode(&st); err != nil {
		return nil, err
	}
	return &st, nil
}
