#!/usr/bin/env bash
# Runs every libFuzzer target built in BUILD_FUZZ for SECONDS each (make fuzz, make fuzz-long).
#
#   scripts/fuzz.sh BUILD_FUZZ SECONDS
#
# A target is tests/fuzz/fuzz_<name>.c; its checked-in seeds are tests/fuzz/corpus/<name>/ and
# its dictionary, if any, tests/fuzz/<name>.dict. New inputs libFuzzer finds go to
# BUILD_FUZZ/corpus-<name>/ (not checked in). Exits 1 when any target crashed, leaked or hit
# undefined behaviour; the reproducer is left where libFuzzer says (crash-*, leak-*).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
build=$1 seconds=$2
status=0

for src in tests/fuzz/fuzz_*.c; do
	name=$(basename "$src" .c)
	name=${name#fuzz_}
	bin=$build/tests/fuzz/fuzz_$name
	[[ -x $bin ]] || { echo "fuzz: $bin not built" >&2; status=1; continue; }
	args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048)
	[[ -f tests/fuzz/$name.dict ]] && args+=(-dict="tests/fuzz/$name.dict")
	mkdir -p "$build/corpus-$name" "tests/fuzz/corpus/$name"
	echo "fuzz: $name for ${seconds}s"
	if ! "$bin" "${args[@]}" "$build/corpus-$name" "tests/fuzz/corpus/$name" >"$build/fuzz-$name.log" 2>&1; then
		echo "fuzz: $name FAILED (log: $build/fuzz-$name.log)"
		tail -n 30 "$build/fuzz-$name.log"
		status=1
	else
		tail -n 2 "$build/fuzz-$name.log"
	fi
done
exit $status
