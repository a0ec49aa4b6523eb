# vsysbed - build, guests, tests, benchmark, demo.
#
#   make demo    build everything and run a probe guest under vsysbed
#   make check   install the Debian packages the tests need, then make test

# Go may live outside PATH on a fresh machine (the tarball install).
ifeq ($(shell command -v go 2>/dev/null),)
export PATH := $(PATH):/usr/local/go/bin
endif

GO       ?= go
# staticcheck, run by `make test` from the Go module proxy (not a module
# dependency: go.mod stays as it is).
STATICCHECK_VERSION := v0.8.2
# What `vsysbed --version` and every report's vsysbed_version say: the
# commit (git describe), "-dirty" for a modified tree.
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo devel)
VERSION_LDFLAGS := -ldflags "-X github.com/vsysbed/vsysbed/internal/version.stamp=$(VERSION)"
CC       ?= gcc
MUSLCC   ?= musl-gcc
BUILD    := build
GUESTDIR := $(BUILD)/guests
VSYSBED  := $(BUILD)/vsysbed
SRC      := e2e/guests

GUEST_CFLAGS := -O2 -g -Wall -Wextra

# The threads-and-signals guests, each built three ways (dynamic glibc,
# static glibc, static musl): the libcs create threads, cancel them and
# return from signal handlers differently.
LIBC_GUESTS := threads threads1000 manythreads cancel signals sigevthread

# The guests the e2e suite and the benchmark run.
GUEST_BINS := \
	$(GUESTDIR)/vsyscall_probe-musl \
	$(GUESTDIR)/vsyscall_probe-glibc-static \
	$(GUESTDIR)/vsyscall_probe-glibc \
	$(GUESTDIR)/vsyscall_probe-musl-static-pie \
	$(GUESTDIR)/vsyscall_probe-glibc-static-pie \
	$(GUESTDIR)/vecregs \
	$(GUESTDIR)/sleeper \
	$(GUESTDIR)/stopsleep \
	$(GUESTDIR)/bench \
	$(GUESTDIR)/crash \
	$(GUESTDIR)/exit42 \
	$(GUESTDIR)/thread \
	$(GUESTDIR)/forker \
	$(GUESTDIR)/spawn \
	$(GUESTDIR)/forkthreads \
	$(GUESTDIR)/forkpipe \
	$(GUESTDIR)/forkbench \
	$(GUESTDIR)/waitany \
	$(GUESTDIR)/traced \
	$(GUESTDIR)/vforkstate \
	$(GUESTDIR)/forkthread \
	$(GUESTDIR)/hostfds \
	$(GUESTDIR)/sigwait \
	$(GUESTDIR)/procself \
	$(GUESTDIR)/pwait \
	$(GUESTDIR)/sigfd \
	$(GUESTDIR)/manysig \
	$(GUESTDIR)/sigroute \
	$(GUESTDIR)/sigexit \
	$(GUESTDIR)/killfault \
	$(GUESTDIR)/semantics $(GUESTDIR)/nproc $(GUESTDIR)/fasttimer $(GUESTDIR)/chldorder \
	$(GUESTDIR)/stopcont $(GUESTDIR)/jobctl \
	$(GUESTDIR)/restart \
	$(GUESTDIR)/goexec \
	$(GUESTDIR)/inherit \
	$(GUESTDIR)/sysvshm \
	$(GUESTDIR)/sharedanon \
	$(GUESTDIR)/hostile \
	$(GUESTDIR)/procview \
	$(GUESTDIR)/segtail $(GUESTDIR)/argmax \
	$(GUESTDIR)/rewrite $(GUESTDIR)/rewritemt $(GUESTDIR)/rewriteshort \
	$(GUESTDIR)/inject $(GUESTDIR)/needs \
	$(foreach g,$(LIBC_GUESTS),$(GUESTDIR)/$(g)-glibc $(GUESTDIR)/$(g)-glibc-static $(GUESTDIR)/$(g)-musl) \
	$(GUESTDIR)/gostatic

# apache2-utils: ab, for make bench-apps (redis-tools and nginx-light serve it too).
DEB_PACKAGES := gcc make musl-tools busybox-static python3 coreutils binutils file chromium dpkg-dev redis-server redis-tools postgresql strace nginx-light apache2-utils

.PHONY: all build weakfilter guests test e2e bench bench-apps bench-explore conformance demo check deps clean fuzz

all: build guests

# PIE is required: a non-PIE host would sit at 0x400000, where non-PIE
# guests must be loaded.
build:
	$(GO) build -buildmode=pie $(VERSION_LDFLAGS) -o $(VSYSBED) ./cmd/vsysbed

guests: $(GUEST_BINS)

# A deliberately weakened build for the audit's negative test
# (bpf/weaken_testbuild.go): its filter lets guest getpid/getppid through.
weakfilter:
	$(GO) build -buildmode=pie $(VERSION_LDFLAGS) -tags vsysbed_weakfilter -o $(BUILD)/vsysbed-weakfilter ./cmd/vsysbed

$(GUESTDIR):
	mkdir -p $@

$(GUESTDIR)/vsyscall_probe-musl: $(SRC)/vsyscall_probe.c $(SRC)/vdsosym.h | $(GUESTDIR)
	$(MUSLCC) $(GUEST_CFLAGS) -static -o $@ $<

$(GUESTDIR)/vsyscall_probe-glibc-static: $(SRC)/vsyscall_probe.c $(SRC)/vdsosym.h | $(GUESTDIR)
	$(CC) $(GUEST_CFLAGS) -static -o $@ $<

$(GUESTDIR)/vsyscall_probe-glibc: $(SRC)/vsyscall_probe.c $(SRC)/vdsosym.h | $(GUESTDIR)
	$(CC) $(GUEST_CFLAGS) -o $@ $<

# Debian's musl-gcc specs know no -static-pie: alone it links a dynamic PIE
# against /lib/ld-musl-x86_64.so.1.  A static PIE needs musl's
# self-relocating rcrt1.o and a static link without an interpreter.
MUSL_LIBDIR ?= /usr/lib/x86_64-linux-musl

$(GUESTDIR)/vsyscall_probe-musl-static-pie: $(SRC)/vsyscall_probe.c $(SRC)/vdsosym.h | $(GUESTDIR)
	$(MUSLCC) $(GUEST_CFLAGS) -fPIE -static-pie -nostartfiles \
		-Wl,-static,--no-dynamic-linker,-z,text -o $@ \
		$(MUSL_LIBDIR)/rcrt1.o $(MUSL_LIBDIR)/crti.o $$($(CC) -print-file-name=crtbeginS.o) \
		$< $$($(CC) -print-file-name=crtendS.o) $(MUSL_LIBDIR)/crtn.o

$(GUESTDIR)/vsyscall_probe-glibc-static-pie: $(SRC)/vsyscall_probe.c $(SRC)/vdsosym.h | $(GUESTDIR)
	$(CC) $(GUEST_CFLAGS) -static-pie -o $@ $<

# Static, so the raw syscalls it checks are the only traps besides startup.
$(GUESTDIR)/vecregs: $(SRC)/vecregs.c | $(GUESTDIR)
	$(CC) $(GUEST_CFLAGS) -static -o $@ $<

$(GUESTDIR)/bench: $(SRC)/bench.c $(SRC)/vdsosym.h | $(GUESTDIR)
	$(MUSLCC) $(GUEST_CFLAGS) -static -pthread -o $@ $<

$(GUESTDIR)/thread: $(SRC)/thread.c | $(GUESTDIR)
	$(CC) $(GUEST_CFLAGS) -pthread -o $@ $<

$(GUESTDIR)/manysig: $(SRC)/manysig.c | $(GUESTDIR)
	$(CC) $(GUEST_CFLAGS) -pthread -o $@ $<

$(GUESTDIR)/sigroute: $(SRC)/sigroute.c | $(GUESTDIR)
	$(CC) $(GUEST_CFLAGS) -pthread -o $@ $<

$(GUESTDIR)/sigexit: $(SRC)/sigexit.c | $(GUESTDIR)
	$(CC) $(GUEST_CFLAGS) -pthread -o $@ $<

$(GUESTDIR)/procself: $(SRC)/procself.c | $(GUESTDIR)
	$(CC) $(GUEST_CFLAGS) -pthread -o $@ $<

$(GUESTDIR)/forkthread: $(SRC)/forkthread.c | $(GUESTDIR)
	$(CC) $(GUEST_CFLAGS) -pthread -o $@ $<

$(GUESTDIR)/forkthreads: $(SRC)/forkthreads.c | $(GUESTDIR)
	$(CC) $(GUEST_CFLAGS) -pthread -o $@ $<

$(GUESTDIR)/%-glibc: $(SRC)/%.c | $(GUESTDIR)
	$(CC) $(GUEST_CFLAGS) -pthread -o $@ $<

$(GUESTDIR)/%-glibc-static: $(SRC)/%.c | $(GUESTDIR)
	$(CC) $(GUEST_CFLAGS) -pthread -static -o $@ $<

$(GUESTDIR)/%-musl: $(SRC)/%.c | $(GUESTDIR)
	$(MUSLCC) $(GUEST_CFLAGS) -pthread -static -o $@ $<

# A static Go program (no cgo): its own module, so the root's ./... skips it.
$(GUESTDIR)/gostatic: $(SRC)/gostatic/main.go $(SRC)/gostatic/go.mod | $(GUESTDIR)
	cd $(SRC)/gostatic && CGO_ENABLED=0 $(GO) build -o $(CURDIR)/$@ .

# os/exec from goroutines on many threads, as `go build` does.
$(GUESTDIR)/goexec: $(SRC)/goexec/main.go $(SRC)/goexec/go.mod | $(GUESTDIR)
	cd $(SRC)/goexec && CGO_ENABLED=0 $(GO) build -o $(CURDIR)/$@ .

$(GUESTDIR)/%: $(SRC)/%.c | $(GUESTDIR)
	$(CC) $(GUEST_CFLAGS) -o $@ $<

# The e2e suite (./e2e) runs build/vsysbed on build/guests, so both come first.
test: build weakfilter guests corpus
	$(GO) vet ./...
	@unformatted="$$(gofmt -l .)"; \
	if [ -n "$$unformatted" ]; then \
		echo "gofmt: these files need formatting:"; echo "$$unformatted"; exit 1; \
	fi
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...
	$(GO) test -timeout 45m ./...

e2e: build weakfilter guests corpus
	$(GO) test -count=1 -v ./e2e/... -ginkgo.v

# Go native fuzzing, each target for FUZZTIME (its seeds in the package's
# testdata/fuzz/ also run with every `go test`). A crash leaves its input
# in testdata/fuzz/NAME/ as a new seed: fix the code, keep the seed.
FUZZTIME ?= 30s
FUZZ_TARGETS := ./loader:FuzzParse ./loader:FuzzShebang ./loader:FuzzArgSpace \
	./vdsoinject:FuzzImage ./coverage:FuzzReport ./cmd/vsysbed:FuzzParseRoute

fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t#*:}; \
		echo "fuzz $$pkg $$name ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

bench: build guests
	scripts/bench.sh

# Debian's redis-server, nginx, find and du natively and under vsysbed
# (issue 15's application rows; ~2 minutes, not part of make test).
# TSV=docs/bench-apps.tsv keeps the rows for the plot (docs/BENCHMARKS.md).
bench-apps: build
	TSV="$(TSV)" scripts/bench-apps.sh

# vsysbed explore of redis-server with a redis-benchmark test (issue 18's
# row, ~5 minutes; docs/explore.md).
bench-explore: build
	scripts/bench-explore.sh

# Every conformance guest natively and under vsysbed (both trap modes,
# the ptrace platform): one line per case, then "N passed, N failed".
# GUESTS="a b" and MODES="sud ptrace" choose a subset; seccomp-off and
# sud-off run that trap mode with --rewrite=off (the default is lazy).
conformance: build guests
	GUESTS="$(GUESTS)" MODES="$(MODES)" scripts/conformance.sh

# The demo guest needs musl-gcc, so a fresh machine gets the packages first.
demo: deps
	$(MAKE) build guests
	$(VSYSBED) run -- $(GUESTDIR)/vsyscall_probe-musl

check: deps
	$(MAKE) test

# Install the Debian packages the guests and tests need (only the missing ones).
deps:
	@missing=""; \
	for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		if [ "$$(id -u)" = 0 ]; then sudo=""; else sudo=sudo; fi; \
		$$sudo apt-get update && \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	fi

clean:
	rm -rf $(BUILD)
include toolchain/musl.mk
