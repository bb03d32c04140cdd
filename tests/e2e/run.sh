#!/usr/bin/env bash
# Runs the end-to-end tests one at a time: every tests/e2e/t_*.sh, then the ClusterIP tests of
# BPF_TESTS again with --dataplane bpf ("t_x[bpf]", E2E_DATAPLANE=bpf, see lib.sh; BPF_API_TESTS
# also with the API source, "t_x[bpf,api]"); or those
# named on the command line (t_x, t_x.sh or a path; t_x:bpf for its bpf run). Each test is standalone: exit 0 pass, 77 skip, anything
# else (or the per-test timeout) fail. Prints "PASS t_x" / "SKIP t_x: why" / "FAIL t_x" with the
# tail of the failing test's output, then the summary line "N passed, N failed[, N skipped]".
# Exits 1 if any test failed.
#
# Each test runs twice: with manifest files ("t_x"), then with the same objects served by the
# test Kubernetes API server ("t_x[api]", E2E_SOURCE=api: lib.sh's "the source" section). A test
# marked "# e2e-api: n/a - why" is listed as "N/A t_x[api]: why" instead of its second run;
# one that sets E2E_SOURCE=api itself (t_api_*) runs once.
#
# Environment: BUILD_DIR (default ./build), E2E_TIMEOUT seconds per test (default 180),
# E2E_LOG_DIR (default $BUILD_DIR/e2e-logs; one <test>.log, <test>[api].log each),
# E2E_SOURCES (default "manifests api"; "manifests" or "api" runs one pass).
set -uo pipefail

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT_DIR=$(cd "$E2E_DIR/../.." && pwd)
export BUILD_DIR=${BUILD_DIR:-$ROOT_DIR/build}
LOG_DIR=${E2E_LOG_DIR:-$BUILD_DIR/e2e-logs}
TIMEOUT=${E2E_TIMEOUT:-180}
mkdir -p "$LOG_DIR"

# The tests that run a second time with the bpf dataplane (issue 11): the same scripts, only
# the harness differs. ClusterIP tests, then external entry points: their clients outside the
# node are served by the table kept beside the socket programs, those on it by the programs.
BPF_TESTS=(t_clusterip t_spread t_named_port t_udp t_no_endpoints t_affinity t_terminating
	t_itp_local t_dualstack t_restart_drift t_hairpin
	t_np_tcp_udp t_etp_local t_etp_cluster t_ext_ip t_ext_lb_source_ranges t_np_addresses
	t_np_loopback t_affinity_nodeport)
# and of those, the ones that run with bpf against the test API server too ("t_x[bpf,api]"): the
# deployed combination, one svcproxy per node watching the cluster with the socket programs.
BPF_API_TESTS=(t_clusterip t_dualstack t_restart_drift t_np_tcp_udp)

tests=() bpf_tests=()
if (($# == 0)); then
	tests=("$E2E_DIR"/t_*.sh)
	for t in "${BPF_TESTS[@]}"; do bpf_tests+=("$E2E_DIR/$t.sh"); done
else
	for a in "$@"; do
		dp=""
		[[ "$a" == *:bpf ]] && dp=bpf && a=${a%:bpf}
		a=$(basename "${a%.sh}")
		[[ -f "$E2E_DIR/$a.sh" ]] || { echo "run.sh: no such test: $a" >&2; exit 2; }
		if [[ -n "$dp" ]]; then
			bpf_tests+=("$E2E_DIR/$a.sh")
		else
			tests+=("$E2E_DIR/$a.sh")
		fi
	done
fi

SOURCES=${E2E_SOURCES:-manifests api}
passed=0 failed=0 skipped=0
not_applicable=()

# run_one TEST NAME SOURCE [DATAPLANE]: one run, its verdict printed and counted.
run_one()
{
	local t=$1 name=$2 log="$LOG_DIR/$2.log" start rc secs why
	start=$(date +%s%N)
	E2E_SOURCE=$3 E2E_DATAPLANE=${4:-nft} timeout -k 10 "$TIMEOUT" bash "$t" >"$log" 2>&1 </dev/null
	rc=$?
	secs=$(awk -v ns=$(($(date +%s%N) - start)) 'BEGIN { printf "%.1f", ns / 1e9 }')
	case $rc in
	0)
		passed=$((passed + 1))
		echo "PASS $name (${secs}s)"
		;;
	77)
		skipped=$((skipped + 1))
		why=$(grep -m1 '^SKIP:' "$log" | sed 's/^SKIP: //')
		echo "SKIP $name: ${why:-no reason given}"
		;;
	*)
		failed=$((failed + 1))
		((rc == 124)) && echo "FAIL $name (timed out after ${TIMEOUT}s)" ||
			echo "FAIL $name (exit $rc, ${secs}s)"
		echo "---- last 40 lines of $log"
		tail -n 40 "$log" | sed 's/^/    /'
		echo "----"
		;;
	esac
}

for t in "${tests[@]}"; do
	name=$(basename "$t" .sh)
	if grep -q '^E2E_SOURCE=api$' "$t"; then # an API test (t_api_*): one run
		run_one "$t" "$name" api
		continue
	fi
	for src in $SOURCES; do
		if [[ "$src" != api ]]; then
			run_one "$t" "$name" "$src"
			continue
		fi
		why=$(grep -m1 '^# e2e-api: n/a' "$t" | sed 's/^# e2e-api: n\/a *-* *//')
		if grep -q '^# e2e-api: n/a' "$t"; then
			echo "N/A $name[api]: ${why:-not applicable}"
			not_applicable+=("$name")
			continue
		fi
		run_one "$t" "$name[api]" api
	done
done

for t in "${bpf_tests[@]}"; do
	name=$(basename "$t" .sh)
	for src in $SOURCES; do
		if [[ "$src" != api ]]; then
			run_one "$t" "$name[bpf]" "$src" bpf
		elif [[ " ${BPF_API_TESTS[*]} " == *" $name "* ]]; then
			run_one "$t" "$name[bpf,api]" api bpf
		fi
	done
done

((${#not_applicable[@]} > 0)) && [[ " $SOURCES " == *" api "* ]] &&
	echo "${#not_applicable[@]} not applicable in API mode: ${not_applicable[*]}"
summary="$passed passed, $failed failed"
((skipped > 0)) && summary+=", $skipped skipped"
echo "$summary"
((failed == 0))
