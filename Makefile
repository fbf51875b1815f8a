# tripki — GNU make.  `make` builds, `make check` tests (installing what is
# missing first), `make sanitize` tests under ASan+UBSan, `make valgrind`
# under valgrind, `make demo` runs the three parties, `make bench` measures.

BUILD   ?= build
CC      ?= cc
PKG_CONFIG ?= pkg-config

WARN    = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wformat=2 \
          -Wno-format-nonliteral
CFLAGS  ?= -O2 -g
CPPFLAGS_ALL = -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
          -Iinclude -Isrc/core $(shell $(PKG_CONFIG) --cflags libcrypto)
ALL_CFLAGS = $(CPPFLAGS_ALL) $(WARN) $(CFLAGS) $(EXTRA_CFLAGS) $(FUZZ_DEFS)
LIBS_CORE = $(shell $(PKG_CONFIG) --libs libcrypto)
LIBS_APP  = $(shell $(PKG_CONFIG) --libs libuv sqlite3 2>/dev/null) $(LIBS_CORE) -lpthread -lm
LIBS_TEST = $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)

CORE_SRC = $(wildcard src/core/*.c)
STORE_SRC = $(wildcard src/store/*.c)
APP_SRC  = $(wildcard src/net/*.c src/cli/*.c)
CORE_OBJ = $(CORE_SRC:%.c=$(BUILD)/%.o)
STORE_OBJ = $(STORE_SRC:%.c=$(BUILD)/%.o)
APP_OBJ  = $(APP_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC = $(wildcard tests/unit/test_*.c)
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TESTLIB_OBJ = $(patsubst %.c,$(BUILD)/%.o,$(wildcard tests/unit/support/*.c))

LIB = $(BUILD)/libtripki.a
# The CA store (SQLite) is a library of its own: the core never needs it.
STORELIB = $(if $(STORE_SRC),$(BUILD)/libtripki-store.a)
BIN = $(if $(APP_SRC),$(BUILD)/tripki)

.PHONY: all check unit e2e fuzz fuzz-replay fuzz-seeds sanitize valgrind demo bench bench-deps deps vectors clean

all: $(LIB) $(STORELIB) $(BIN)

$(BUILD)/%.o: %.c $(wildcard include/tripki/*.h src/*/*.h tests/unit/support/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Isrc -Itests/unit/support -c $< -o $@

$(LIB): $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libtripki-store.a: $(STORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/tripki: $(APP_OBJ) $(STORELIB) $(LIB)
	$(CC) $(ALL_CFLAGS) -o $@ $(APP_OBJ) $(STORELIB) $(LIB) $(LIBS_APP) $(EXTRA_LDFLAGS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(TESTLIB_OBJ) $(STORELIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(TESTLIB_OBJ) $(STORELIB) $(LIB) $(LIBS_TEST) $(LIBS_APP) $(EXTRA_LDFLAGS)

deps:
	@sh scripts/deps.sh

bench-deps:
	@sh scripts/deps.sh bench

# Unit tests first (the core), then the real binaries on loopback.
check: deps
	@$(MAKE) --no-print-directory all $(UNIT_BIN)
	@$(MAKE) --no-print-directory unit fuzz-replay e2e

unit: $(UNIT_BIN)
	@sh scripts/run-unit.sh $(UNIT_BIN)

e2e: all
	@if [ -x tests/e2e/run.sh ]; then TRIPKI=$(abspath $(BUILD)/tripki) tests/e2e/run.sh; fi

sanitize: deps
	@$(MAKE) --no-print-directory BUILD=build/san CC=clang \
	    CFLAGS="-O1 -g -fno-omit-frame-pointer" \
	    EXTRA_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all" \
	    EXTRA_LDFLAGS="-fsanitize=address,undefined" unit fuzz-replay e2e

valgrind: deps
	@$(MAKE) --no-print-directory BUILD=build/vg all
	@$(MAKE) --no-print-directory BUILD=build/vg $(patsubst $(BUILD)/%,build/vg/%,$(UNIT_BIN))
	@VALGRIND="valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99" \
	    sh scripts/run-unit.sh $(patsubst $(BUILD)/%,build/vg/%,$(UNIT_BIN))

demo: all
	$(BUILD)/tripki demo

bench: bench-deps all $(BUILD)/bench/core
	@sh bench/run.sh $(BUILD)

$(BUILD)/bench/core: bench/core.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB) $(LIBS_CORE)

# The TLS 1.3 baseline: a minimal OpenSSL server and its load generator.
bench: $(BUILD)/bench/tls-bench
$(BUILD)/bench/tls-bench: bench/tls.c src/cli/latency.c src/cli/latency.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Isrc -o $@ bench/tls.c src/cli/latency.c $(shell $(PKG_CONFIG) --libs libssl libuv) $(LIBS_CORE) -lpthread -lm

vectors: $(BUILD)/vectors-gen
	$(BUILD)/vectors-gen tests/vectors

$(BUILD)/vectors-gen: tests/vectors/gen.c $(LIB)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB) $(LIBS_CORE)

# Fuzzing.  Every target is built twice: with the real AEAD, and with
# TRIPKI_FUZZ_PLAINTEXT (sealed bodies read as plaintext).  `make fuzz`
# runs each under libFuzzer for FUZZ_SECONDS; `make fuzz-replay` (part of
# check) replays the committed corpora and crashes without libFuzzer.
FUZZ_TARGETS = $(basename $(notdir $(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_SECONDS ?= 60
FUZZ_MAIN ?= tests/fuzz/standalone.c

$(BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_MAIN) $(LIB) tests/fuzz/fuzz.h tests/fuzz/fixed.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ tests/fuzz/$*.c $(FUZZ_MAIN) $(LIB) $(LIBS_CORE) $(EXTRA_LDFLAGS)

$(BUILD)/fuzz-seeds: tests/fuzz/seeds.c $(LIB)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB) $(LIBS_CORE)

fuzz-replay:
	@$(MAKE) -s --no-print-directory BUILD=$(BUILD)/replay $(FUZZ_TARGETS:%=$(BUILD)/replay/fuzz/%)
	@$(MAKE) -s --no-print-directory BUILD=$(BUILD)/replay-plain FUZZ_DEFS=-DTRIPKI_FUZZ_PLAINTEXT $(FUZZ_TARGETS:%=$(BUILD)/replay-plain/fuzz/%)
	@sh scripts/fuzz.sh replay $(BUILD) $(FUZZ_TARGETS)

fuzz: deps
	@$(MAKE) -s --no-print-directory BUILD=build/libfuzzer CC=clang CFLAGS="-O1 -g" \
	    EXTRA_CFLAGS="-fsanitize=fuzzer-no-link,address,undefined" \
	    EXTRA_LDFLAGS="-fsanitize=fuzzer,address,undefined" FUZZ_MAIN= \
	    $(FUZZ_TARGETS:%=build/libfuzzer/fuzz/%)
	@$(MAKE) -s --no-print-directory BUILD=build/libfuzzer-plain CC=clang CFLAGS="-O1 -g" \
	    EXTRA_CFLAGS="-fsanitize=fuzzer-no-link,address,undefined" \
	    EXTRA_LDFLAGS="-fsanitize=fuzzer,address,undefined" FUZZ_MAIN= \
	    FUZZ_DEFS=-DTRIPKI_FUZZ_PLAINTEXT $(FUZZ_TARGETS:%=build/libfuzzer-plain/fuzz/%)
	@sh scripts/fuzz.sh run $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# Regenerates the seed corpora from a real in-memory run, plus the frames
# and certificates of the known-answer vectors.
fuzz-seeds: $(BUILD)/fuzz-seeds
	$(BUILD)/fuzz-seeds tests/fuzz/corpus
	@for f in tests/vectors/frames/*.bin; do \
	    b=$$(basename $$f .bin); t=fuzz_$${b%%-*}; \
	    [ $$b = error ] || cp $$f tests/fuzz/corpus/$$t/vec-$$b; \
	    cp $$f tests/fuzz/corpus/fuzz_frame/vec-$$b; done
	cp tests/vectors/frames/error.bin tests/fuzz/corpus/fuzz_error/vec-error
	cp tests/vectors/ca.cert.pem tests/vectors/server.cert.pem tests/fuzz/corpus/fuzz_cert/
	cp tests/vectors/keys/server.key.pem tests/fuzz/corpus/fuzz_keyfile/

clean:
	rm -rf build

# ---- Timing oracle (docs/SECURITY.md) ----
# `make oracle` times, in memory, the server's refusal of M5 frames whose
# RSA-OAEP block fails against frames whose AEAD tag fails, and compares
# them (Welch's t-test, Kolmogorov-Smirnov).  ORACLE_SAMPLES per class.
ORACLE_SAMPLES ?= 20000

.PHONY: oracle
oracle: $(BUILD)/oracle
	$(BUILD)/oracle -n $(ORACLE_SAMPLES)

$(BUILD)/oracle: tests/oracle/oracle.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB) $(LIBS_CORE) -lm $(EXTRA_LDFLAGS)
