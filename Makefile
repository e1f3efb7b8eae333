# Marquee: one library (build/libmarquee.a and build/libmarquee.so.0), one command
# (build/marquee), one test runner.
#   make            build the libraries and the command
#   make install    install them, the headers, marquee.pc, man pages and bash completion into
#                   $(DESTDIR)$(PREFIX) (PREFIX=/usr/local); make uninstall removes them
#   make test       run the whole suite (C unit tests + numpy/scipy reference checks)
#   make asan       the same suite under AddressSanitizer + UBSan, in build-asan/
#   make bench      the benchmarks in bench/ (figures go to docs/BENCHMARKS.md by hand)
BUILD   ?= build
CC      ?= cc
OPT     ?= -O2 -g
CFLAGS  ?= $(OPT)
WARN     = -std=c17 -Wall -Wextra -Werror -Wno-unused-parameter
CPPFLAGS = -D_GNU_SOURCE -Iinclude -Isrc
DEPS_PC  = libmicrohttpd libcjson hiredis
PC_CFLAGS := $(shell pkg-config --cflags $(DEPS_PC) 2>/dev/null)
PC_LIBS   := $(shell pkg-config --libs $(DEPS_PC) 2>/dev/null || echo -lmicrohttpd -lcjson -lhiredis)
LDLIBS   = $(PC_LIBS) -lxgboost -llmdb -llapacke -lopenblas -lpthread -lm
ALL_CFLAGS = $(WARN) $(CPPFLAGS) $(PC_CFLAGS) -pthread $(CFLAGS) $(XCFLAGS)

MODULES  = core data models eval serve stats xp abr bandit rank sim
LIB_SRC  = $(foreach m,$(MODULES),$(wildcard src/$(m)/*.c))
CLI_SRC  = $(wildcard src/cli/*.c)
TEST_SRC = $(wildcard tests/*.c tests/*/*.c)
BENCH_SRC= $(wildcard bench/*.c)
LIB_OBJ  = $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/web_assets.o
CLI_OBJ  = $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ = $(TEST_SRC:%.c=$(BUILD)/%.o)
HDRS     = $(wildcard include/*.h include/marquee/*.h src/*/*.h tests/*.h tests/*/*.h bench/*.h)
VERSION := $(shell sed -n 's/^\#define MQ_VERSION "\(.*\)"/\1/p' include/marquee/core.h)
SOMAJOR  = $(firstword $(subst ., ,$(VERSION)))
SO       = $(BUILD)/libmarquee.so.$(SOMAJOR)

all: $(BUILD)/marquee $(SO)

$(BUILD)/%.o: %.c $(HDRS) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(PIC) -c $< -o $@

# One set of library objects for both libraries: position-independent, hidden unless declared
# in include/ (marquee.h's visibility pragma), no interposition, so calls inside the library
# stay direct and inlinable (the benchmarks run as fast as with non-PIC objects: BENCHMARKS.md).
$(LIB_OBJ): PIC = -fPIC -fvisibility=hidden -fno-semantic-interposition

# The CLI is a client of the public API: its objects see include/ only, never src/.
$(BUILD)/src/cli/%.o: src/cli/%.c $(HDRS) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -Isrc,$(ALL_CFLAGS)) -c $< -o $@

# The web console (web/*) compiled into the library as byte arrays (docs/console.md).
$(BUILD)/web_assets.c: scripts/embed_web.sh $(wildcard web/*)
	@mkdir -p $(dir $@)
	sh scripts/embed_web.sh web > $@.tmp && mv $@.tmp $@

$(BUILD)/web_assets.o: $(BUILD)/web_assets.c src/serve/serve.h
	$(CC) $(ALL_CFLAGS) $(PIC) -c $< -o $@

$(BUILD)/libmarquee.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libmarquee.so.$(VERSION): $(LIB_OBJ) scripts/libmarquee.map
	$(CC) $(ALL_CFLAGS) -shared -Wl,-soname,libmarquee.so.$(SOMAJOR) -Wl,--no-undefined \
	  -Wl,--version-script=scripts/libmarquee.map -o $@ $(LIB_OBJ) $(LDFLAGS) $(LDLIBS)

$(SO): $(BUILD)/libmarquee.so.$(VERSION)
	ln -sf libmarquee.so.$(VERSION) $@
	ln -sf libmarquee.so.$(SOMAJOR) $(BUILD)/libmarquee.so

$(BUILD)/marquee: $(CLI_OBJ) $(BUILD)/libmarquee.a
	$(CC) $(ALL_CFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libmarquee.a $(LDFLAGS) $(LDLIBS)

$(BUILD)/test_marquee: $(TEST_OBJ) $(BUILD)/libmarquee.a
	$(CC) $(ALL_CFLAGS) -o $@ $(TEST_OBJ) $(BUILD)/libmarquee.a $(LDFLAGS) $(LDLIBS)

$(BUILD)/bench_%: bench/%.c $(BUILD)/libmarquee.a
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libmarquee.a $(LDFLAGS) $(LDLIBS)

# The suite runs the command too (reference checks drive build/marquee), and the Python
# binding over the shared library, so build all three.
test: $(BUILD)/marquee $(BUILD)/test_marquee $(SO)
	MQ_BIN=$(BUILD)/marquee $(BUILD)/test_marquee $(T)

asan:
	$(MAKE) BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
	  XCFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined" test

bench: $(BUILD)/marquee $(BENCH_SRC:bench/%.c=$(BUILD)/bench_%)
	@for s in bench/*.sh; do [ -f "$$s" ] && echo "== $$s" && BUILD=$(BUILD) bash "$$s"; done; true

clean:
	rm -rf build build-asan

# Installation. Man pages come from each command's --help (help2man); the bash completion
# (scripts/marquee.bash) reads the same --help at completion time, so neither goes stale.
PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
MANDIR  ?= $(PREFIX)/share/man
BASHDIR ?= $(PREFIX)/share/bash-completion/completions
I        = $(DESTDIR)# the staging root; empty: install in place

$(BUILD)/marquee.pc: scripts/marquee.pc.in Makefile
	sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|; s|@INCDIR@|$(INCDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|; s|@LIBS@|$(LDLIBS)|' $< > $@

$(BUILD)/man/marquee.1: $(BUILD)/marquee scripts/man.sh
	bash scripts/man.sh $(BUILD)/marquee $(VERSION) $(BUILD)/man

install: $(BUILD)/marquee $(BUILD)/libmarquee.a $(SO) $(BUILD)/marquee.pc $(BUILD)/man/marquee.1
	install -d $(I)$(PREFIX)/bin $(I)$(LIBDIR)/pkgconfig $(I)$(INCDIR)/marquee $(I)$(MANDIR)/man1 $(I)$(BASHDIR)
	install -m 755 $(BUILD)/marquee $(I)$(PREFIX)/bin/
	install -m 644 $(BUILD)/libmarquee.a $(I)$(LIBDIR)/
	install -m 755 $(BUILD)/libmarquee.so.$(VERSION) $(I)$(LIBDIR)/
	ln -sf libmarquee.so.$(VERSION) $(I)$(LIBDIR)/libmarquee.so.$(SOMAJOR)
	ln -sf libmarquee.so.$(SOMAJOR) $(I)$(LIBDIR)/libmarquee.so
	install -m 644 include/marquee.h $(I)$(INCDIR)/
	install -m 644 include/marquee/*.h $(I)$(INCDIR)/marquee/
	install -m 644 $(BUILD)/marquee.pc $(I)$(LIBDIR)/pkgconfig/
	install -m 644 $(BUILD)/man/*.1 $(I)$(MANDIR)/man1/
	install -m 644 scripts/marquee.bash $(I)$(BASHDIR)/marquee

uninstall:
	rm -f $(I)$(PREFIX)/bin/marquee $(I)$(LIBDIR)/libmarquee.* $(I)$(LIBDIR)/pkgconfig/marquee.pc
	rm -rf $(I)$(INCDIR)/marquee.h $(I)$(INCDIR)/marquee $(I)$(BASHDIR)/marquee
	rm -f $(I)$(MANDIR)/man1/marquee.1 $(I)$(MANDIR)/man1/marquee-*.1

.PHONY: all test asan bench clean install uninstall

# make fuzz: the libFuzzer targets fuzz/fuzz_*.c (clang), built with the library under
# ASan+UBSan into build-fuzz/ (not part of `make test`); how to run them: docs/fuzzing.md.
FUZZ_CC ?= clang
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=undefined -Wno-unknown-warning-option

fuzz:
	$(MAKE) BUILD=build-fuzz CC=$(FUZZ_CC) OPT="-O1 -g -fno-omit-frame-pointer" \
	  XCFLAGS="$(FUZZ_SAN) -fsanitize=fuzzer-no-link" fuzz-targets

fuzz-targets: $(patsubst fuzz/%.c,$(BUILD)/%,$(wildcard fuzz/fuzz_*.c))

$(BUILD)/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz_io.h $(BUILD)/libmarquee.a
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -o $@ $< $(BUILD)/libmarquee.a $(LDFLAGS) $(LDLIBS)

# make fuzz-smoke: every target for FUZZ_SECONDS (default 5) from its seed corpus, new finds in
# a scratch directory: seconds, for CI; prints each target's executions, fails on a crash.
FUZZ_SECONDS ?= 5
fuzz-smoke: fuzz
	@for t in $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c)); do \
	  d=$$(mktemp -d); \
	  build-fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=1024 \
	    -artifact_prefix=$$d/ $$d fuzz/corpus/$$t > $$d/log 2>&1; rc=$$?; \
	  echo "fuzz_$$t: $$(grep -E '^Done' $$d/log)"; \
	  [ $$rc = 0 ] || { tail -30 $$d/log; rm -rf $$d; exit 1; }; rm -rf $$d; \
	done

.PHONY: fuzz fuzz-targets fuzz-smoke
