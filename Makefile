# Thin wrapper over the real build (Meson + Ninja) and test scripts; the README's two
# commands are `make demo` and `make check`. .ci/run calls `make check`.
#
#   make deps          install missing Debian packages (scripts/install-deps.sh)
#   make build         configure build/ (-Dwerror=true) if needed, compile
#   make unit          unit tests (meson test --suite unit)
#   make asan          unit tests again in build-asan/ with ASan + UBSan
#   make e2e           end-to-end tests in network namespaces (root); E2E_TESTS="t_x t_y"
#   make demo          deps + build + scripts/demo.sh
#   make check         deps, build, format-check, unit, asan, fuzz, e2e; last line
#                      "N passed, N failed"
#   make fuzz          every libFuzzer target, FUZZ_SECONDS each (default 15)
#   make fuzz-long     every libFuzzer target for an hour each
#   make format        clang-format -i over src/ and tests/
#   make format-check  fail if clang-format would change anything
#   make bench         benchmark of issues 3 and 11, nft and bpf (root; bench/README.md);
#                      BENCH_ARGS=--quick, BENCH_ARGS="--dataplane bpf"
#   make bench-api     the API source's rows of issue 8 (root; bench/api.py); BENCH_ARGS=--quick

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c

BUILD ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
E2E_TESTS ?=
BENCH_ARGS ?=
FORMAT_FILES = $(shell find src tests -name '*.[ch]' -not -path '*/build*' | sort)

.PHONY: all deps build unit asan e2e demo check format format-check fuzz fuzz-long clean bench \
	bench-api

all: build

deps:
	scripts/install-deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) -Dwerror=true -Dbpf=enabled

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)

# The output is kept in $(BUILD)/unit.out for check's summary.
unit: build
	meson test -C $(BUILD) --suite unit --print-errorlogs 2>&1 | tee $(BUILD)/unit.out

$(BUILD_ASAN)/build.ninja:
	meson setup $(BUILD_ASAN) -Db_sanitize=address,undefined -Db_lundef=false

asan: $(BUILD_ASAN)/build.ninja
	ninja -C $(BUILD_ASAN)
	ASAN_OPTIONS=abort_on_error=1:halt_on_error=1:detect_leaks=1 \
	UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1 \
	meson test -C $(BUILD_ASAN) --suite unit --print-errorlogs 2>&1 | tee $(BUILD_ASAN)/unit.out

# The output is kept in $(BUILD)/e2e.out for check's summary.
e2e: build
	BUILD_DIR=$(abspath $(BUILD)) tests/e2e/run.sh $(E2E_TESTS) 2>&1 | tee $(BUILD)/e2e.out

demo: deps build
	BUILD_DIR=$(abspath $(BUILD)) scripts/demo.sh

check:
	BUILD=$(BUILD) BUILD_ASAN=$(BUILD_ASAN) scripts/check.sh

format:
	clang-format -i $(FORMAT_FILES)

format-check:
	clang-format --dry-run --Werror $(FORMAT_FILES)

# A bounded libFuzzer run of every fuzz target (clang + ASan/UBSan), seeded from the corpus:
# FUZZ_SECONDS each (scripts/fuzz.sh); fuzz-long runs each for an hour.
FUZZ_SECONDS ?= 15
fuzz:
	test -f $(BUILD_FUZZ)/build.ninja || CC=clang meson setup $(BUILD_FUZZ) -Dfuzz=true
	ninja -C $(BUILD_FUZZ)
	scripts/fuzz.sh $(BUILD_FUZZ) $(FUZZ_SECONDS)

fuzz-long:
	$(MAKE) fuzz FUZZ_SECONDS=3600

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)

# Prints the figure table; CSV and logs in bench/out/. BENCH_ARGS=--quick for a smoke run.
bench: build
	bench/run.py --svcproxy $(abspath $(BUILD))/svcproxy \
		--connrate $(abspath $(BUILD))/bench/connrate $(BENCH_ARGS)

bench-api: build
	bench/api.py --svcproxy $(abspath $(BUILD))/svcproxy $(BENCH_ARGS)
