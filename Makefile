# Marquee: one library (build/libmarquee.a), one command (build/marquee), one test runner.
#   make            build the library and the command
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

MODULES  = core data models eval serve stats xp abr rank
LIB_SRC  = $(foreach m,$(MODULES),$(wildcard src/$(m)/*.c))
CLI_SRC  = $(wildcard src/cli/*.c)
TEST_SRC = $(wildcard tests/*.c tests/*/*.c)
BENCH_SRC= $(wildcard bench/*.c)
LIB_OBJ  = $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  = $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ = $(TEST_SRC:%.c=$(BUILD)/%.o)
HDRS     = $(wildcard include/*.h include/marquee/*.h src/*/*.h tests/*.h tests/*/*.h bench/*.h)

all: $(BUILD)/marquee

$(BUILD)/%.o: %.c $(HDRS) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/libmarquee.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/marquee: $(CLI_OBJ) $(BUILD)/libmarquee.a
	$(CC) $(ALL_CFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libmarquee.a $(LDFLAGS) $(LDLIBS)

$(BUILD)/test_marquee: $(TEST_OBJ) $(BUILD)/libmarquee.a
	$(CC) $(ALL_CFLAGS) -o $@ $(TEST_OBJ) $(BUILD)/libmarquee.a $(LDFLAGS) $(LDLIBS)

$(BUILD)/bench_%: bench/%.c $(BUILD)/libmarquee.a
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libmarquee.a $(LDFLAGS) $(LDLIBS)

# The suite runs the command too (reference checks drive build/marquee), so build both.
test: $(BUILD)/marquee $(BUILD)/test_marquee
	MQ_BIN=$(BUILD)/marquee $(BUILD)/test_marquee $(T)

asan:
	$(MAKE) BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
	  XCFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined" test

bench: $(BUILD)/marquee $(BENCH_SRC:bench/%.c=$(BUILD)/bench_%)
	@for s in bench/*.sh; do [ -f "$$s" ] && echo "== $$s" && BUILD=$(BUILD) bash "$$s"; done; true

clean:
	rm -rf build build-asan

.PHONY: all test asan bench clean

# make fuzz: the libFuzzer targets fuzz/fuzz_*.c (clang), built with the library under
# ASan+UBSan into build-fuzz/ (not part of `make test`); how to run them: docs/fuzzing.md.
FUZZ_CC ?= clang
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=undefined -Wno-unknown-warning-option

fuzz:
	$(MAKE) BUILD=build-fuzz CC=$(FUZZ_CC) OPT="-O1 -g -fno-omit-frame-pointer" \
	  XCFLAGS="$(FUZZ_SAN) -fsanitize=fuzzer-no-link" fuzz-targets

fuzz-targets: $(patsubst fuzz/%.c,$(BUILD)/%,$(wildcard fuzz/fuzz_*.c))

$(BUILD)/fuzz_%: fuzz/fuzz_%.c $(BUILD)/libmarquee.a
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -o $@ $< $(BUILD)/libmarquee.a $(LDFLAGS) $(LDLIBS)

.PHONY: fuzz fuzz-targets
