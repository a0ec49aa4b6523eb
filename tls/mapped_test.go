package tls

import (
	"testing"

	"github.com/vsysbed/vsysbed/tls/cblock/cbtest"
)

// mappedBlock is a control block in an anonymous mapping, every byte 0xa5 (cbtest.Mapped).
func mappedBlock(t *testing.T) (*ControlBlock, []byte) { return cbtest.Mapped(t) }
