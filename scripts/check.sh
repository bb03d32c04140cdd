#!/usr/bin/env bash
# `make check`: deps, build, format-check, unit, asan, fuzz, e2e, in that order. A failed build stops everything
# (nothing else can run); any other failed step is recorded and the remaining steps still run,
# so one CI run reports everything. The last line is the plain summary
#
#   N passed, N failed
#
# counting unit tests (meson's "Ok:" / "Fail:"+"Timeout:"+"Unexpected Pass:") and end-to-end
# tests (run.sh's summary line; ", N skipped" is appended when any were skipped). A step that
# fails without failing a counted test (deps, the ASan build or its tests, a crashed runner)
# adds one failure, so the exit status is non-zero exactly when "N failed" is not 0.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

BUILD=${BUILD:-build}
BUILD_ASAN=${BUILD_ASAN:-build-asan}
MAKE=${MAKE:-make}
failed_steps=()

step()
{
	echo "==== make $1"
	if ! "$MAKE" --no-print-directory BUILD="$BUILD" BUILD_ASAN="$BUILD_ASAN" "$1"; then
		failed_steps+=("$1")
		return 1
	fi
}

# meson_count FILE LABEL: the number after "LABEL:" in meson test's summary, 0 if absent.
meson_count()
{
	local n
	n=$(sed -n "s/^$2:[[:space:]]*\([0-9][0-9]*\).*/\1/p" "$1" 2>/dev/null | tail -n1)
	echo "${n:-0}"
}

rm -f "$BUILD/unit.out" "$BUILD/e2e.out"
step deps
if ! step build; then
	echo "check: build failed; nothing else can run"
	echo "0 passed, 1 failed"
	exit 1
fi
step format-check
step unit
step asan
step fuzz
step e2e

passed=0 failed=0 skipped=0 extra=0
unit_counted=0 e2e_counted=0
if [[ -f "$BUILD/unit.out" ]] && grep -q '^Ok:' "$BUILD/unit.out"; then
	passed=$((passed + $(meson_count "$BUILD/unit.out" Ok)))
	f=$(($(meson_count "$BUILD/unit.out" Fail) + $(meson_count "$BUILD/unit.out" Timeout) +
		$(meson_count "$BUILD/unit.out" 'Unexpected Pass')))
	failed=$((failed + f))
	skipped=$((skipped + $(meson_count "$BUILD/unit.out" Skipped)))
	unit_counted=$f
fi
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$BUILD/e2e.out" 2>/dev/null | tail -n1)
if [[ -n "$line" ]]; then
	read -r p _ f _ s _ <<<"${line//,/}"
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + ${s:-0}))
	e2e_counted=$f
fi
for s in "${failed_steps[@]}"; do
	case $s in
	unit) ((unit_counted > 0)) || extra=$((extra + 1)) ;;
	e2e) ((e2e_counted > 0)) || extra=$((extra + 1)) ;;
	*) extra=$((extra + 1)) ;;
	esac
done
failed=$((failed + extra))

if ((${#failed_steps[@]} > 0)); then
	echo "check: failed steps: ${failed_steps[*]}"
fi
summary="$passed passed, $failed failed"
((skipped > 0)) && summary+=", $skipped skipped"
echo "$summary"
((failed == 0))
