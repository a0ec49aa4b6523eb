package vsysbed_test

import (
	_ "github.com/cilium/ebpf"
	_ "github.com/elastic/go-seccomp-bpf"
	_ "github.com/onsi/ginkgo/v2"
	_ "github.com/onsi/gomega"
	_ "golang.org/x/net/bpf"
	_ "golang.org/x/sys/unix"
)
