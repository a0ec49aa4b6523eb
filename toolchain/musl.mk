# toolchain/musl.mk - the bypass-enabled musl and the guest corpus.
#
#   make musl     build/musl/: musl from Debian's source package with our
#                 patch series (toolchain/musl/series), and the compiler
#                 wrapper build/musl/bin/vsysbed-cc
#   make corpus   build/corpus/: each guest of e2e/guests/corpus built
#                 against dynamic glibc, static glibc, stock musl
#                 (musl-gcc -static), and the bypass musl (static and dynamic)
#
# Included from the top-level Makefile, which defines BUILD, CC and MUSLCC.

MUSL_TC       := toolchain
MUSL_PREFIX   := $(abspath $(BUILD)/musl)
MUSL_SRCROOT  := $(BUILD)/musl-src
MUSL_OBJDIR   := $(BUILD)/musl-build
MUSL_PATCHES  := $(shell cat $(MUSL_TC)/musl/series 2>/dev/null)
VSYSBED_CC    := $(MUSL_PREFIX)/bin/vsysbed-cc
MUSL_JOBS     ?= $(shell nproc 2>/dev/null || echo 2)

CORPUS_SRC    := e2e/guests/corpus
CORPUS_DIR    := $(BUILD)/corpus
CORPUS_NAMES  := hello fileio threads cancel forkexec signals sockets syscallbench
# The libc variants; e2e/corpus_test.go lists the same suffixes.
CORPUS_LIBCS  := glibc glibc-static musl vsysbed vsysbed-dynamic
CORPUS        := $(foreach n,$(CORPUS_NAMES),$(foreach l,$(CORPUS_LIBCS),$(CORPUS_DIR)/$(n)-$(l)))
CORPUS_CFLAGS := -O2 -g -Wall -Wextra -pthread

.PHONY: musl corpus

musl: $(VSYSBED_CC)

# The pristine source: Debian's package, unpacked once.
$(MUSL_SRCROOT)/musl/VERSION:
	$(MUSL_TC)/fetch-musl.sh $(MUSL_SRCROOT)

# A fresh copy with the series applied, so a changed patch rebuilds from
# clean source instead of patching twice.
$(MUSL_OBJDIR)/.patched: $(MUSL_SRCROOT)/musl/VERSION $(MUSL_TC)/musl/series $(addprefix $(MUSL_TC)/musl/,$(MUSL_PATCHES))
	rm -rf $(MUSL_OBJDIR)
	cp -a $(MUSL_SRCROOT)/musl $(MUSL_OBJDIR)
	for p in $(MUSL_PATCHES); do \
		echo "patching musl: $$p"; \
		patch -d $(MUSL_OBJDIR) -p1 -s --no-backup-if-mismatch < $(MUSL_TC)/musl/$$p || exit 1; \
	done
	touch $@

# syslibdir is ours too: the dynamic loader is build/musl/lib/ld-musl-x86_64.so.1,
# never the system's /lib one (that is stock musl).
$(MUSL_PREFIX)/lib/libc.a: $(MUSL_OBJDIR)/.patched
	cd $(MUSL_OBJDIR) && ./configure --prefix=$(MUSL_PREFIX) --syslibdir=$(MUSL_PREFIX)/lib \
		--disable-wrapper CC=$(CC) >/dev/null
	$(MAKE) -C $(MUSL_OBJDIR) -j$(MUSL_JOBS) >/dev/null
	rm -rf $(MUSL_PREFIX)
	$(MAKE) -C $(MUSL_OBJDIR) install >/dev/null

$(VSYSBED_CC): $(MUSL_PREFIX)/lib/libc.a $(MUSL_TC)/vsysbed-cc.in $(MUSL_TC)/vsysbed-cc.specs.in
	mkdir -p $(MUSL_PREFIX)/bin
	sed -e 's|@PREFIX@|$(MUSL_PREFIX)|g' -e 's|@REALCC@|$(CC)|g' $(MUSL_TC)/vsysbed-cc.specs.in > $(MUSL_PREFIX)/lib/vsysbed-cc.specs
	sed -e 's|@PREFIX@|$(MUSL_PREFIX)|g' -e 's|@REALCC@|$(CC)|g' $(MUSL_TC)/vsysbed-cc.in > $@.tmp
	chmod +x $@.tmp
	mv $@.tmp $@

corpus: musl $(CORPUS)

$(CORPUS_DIR):
	mkdir -p $@

$(CORPUS_DIR)/%-glibc: $(CORPUS_SRC)/%.c $(CORPUS_SRC)/corpus.h | $(CORPUS_DIR)
	$(CC) $(CORPUS_CFLAGS) -o $@ $<

$(CORPUS_DIR)/%-glibc-static: $(CORPUS_SRC)/%.c $(CORPUS_SRC)/corpus.h | $(CORPUS_DIR)
	$(CC) $(CORPUS_CFLAGS) -static -o $@ $<

$(CORPUS_DIR)/%-musl: $(CORPUS_SRC)/%.c $(CORPUS_SRC)/corpus.h | $(CORPUS_DIR)
	$(MUSLCC) $(CORPUS_CFLAGS) -static -o $@ $<

$(CORPUS_DIR)/%-vsysbed: $(CORPUS_SRC)/%.c $(CORPUS_SRC)/corpus.h $(VSYSBED_CC) | $(CORPUS_DIR)
	$(VSYSBED_CC) $(CORPUS_CFLAGS) -o $@ $<

$(CORPUS_DIR)/%-vsysbed-dynamic: $(CORPUS_SRC)/%.c $(CORPUS_SRC)/corpus.h $(VSYSBED_CC) | $(CORPUS_DIR)
	$(VSYSBED_CC) -dynamic $(CORPUS_CFLAGS) -o $@ $<
