#!/usr/bin/env bash
# sockcost.sh - what svcproxy's socket programs (--dataplane bpf) cost one connect, in ns, for
# one or more svcproxy binaries side by side (bench/README.md, "The socket programs' own cost").
#
#   sudo bench/sockcost.sh [-n SERVICES] [-r REPS] [SVCPROXY...]     (default: build/svcproxy)
#
# In a network namespace of its own (a veth pair routes the pod and Service ranges; a connected
# UDP socket sends nothing), with SERVICES UDP Services x 10 endpoints (bench/gen-manifests),
# each binary in turn runs `svcproxy run --dataplane bpf` with its programs attached to a cgroup
# of ours, and build/bench/sockcost times socket() + connect() + close() from that cgroup and from
# a plain one, alternating every 100 ms: to the ClusterIPs (translated) and to the pod addresses
# (left alone). A line per binary and rep, then the medians: the ns a connect costs more in the
# programs' cgroup. Everything it makes (namespace, cgroups, bpffs) is removed on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=10000 REPS=3
while getopts "n:r:" o; do
	case $o in
	n) N=$OPTARG ;;
	r) REPS=$OPTARG ;;
	*) sed -n '2,13p' "$0" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
BINS=("$@")
((${#BINS[@]})) || BINS=("$ROOT/build/svcproxy")
SOCKCOST=$ROOT/build/bench/sockcost
[[ $EUID == 0 ]] || { echo "sockcost.sh: needs root (namespaces, cgroups, bpf)" >&2; exit 1; }
[[ -x $SOCKCOST ]] || { echo "sockcost.sh: $SOCKCOST not built (make build)" >&2; exit 1; }

MNT=$(awk '$0 ~ / - cgroup2 / {print $5; exit}' /proc/self/mountinfo)
OWN=$(sed -n 's/^0:://p' /proc/self/cgroup)
[[ -n $MNT && -n $OWN ]] || { echo "sockcost.sh: no cgroup v2 mount" >&2; exit 1; }
P=spc$$ NS=spc$$ WORK=$(mktemp -d /tmp/spc$$.XXXX)
CG_PROG=$MNT$OWN/$P-prog CG_PLAIN=$MNT$OWN/$P-plain PIN=$WORK/fs/pin
CG_PROG=${CG_PROG//\/\//\/} CG_PLAIN=${CG_PLAIN//\/\//\/}
SP_PID=""

cleanup() {
	if [[ -n $SP_PID ]]; then kill -KILL "$SP_PID" 2>/dev/null; wait "$SP_PID" 2>/dev/null; fi
	mountpoint -q "$WORK/fs" && umount "$WORK/fs"
	for c in "$CG_PROG" "$CG_PLAIN"; do
		[[ -d $c ]] || continue
		while read -r p; do echo "$p" >"$MNT$OWN/cgroup.procs"; done <"$c/cgroup.procs"
		rmdir "$c"
	done
	ip netns del "$NS" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT

"$ROOT/bench/gen-manifests" -n "$N" -e 10 -o "$WORK/m" --protocol UDP
ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" link add v0 type veth peer name v1
ip -n "$NS" link set v0 up
ip -n "$NS" link set v1 up
ip -n "$NS" route add 10.244.0.0/14 dev v0
ip -n "$NS" route add 10.96.0.0/12 dev v0
mkdir -p "$CG_PROG" "$CG_PLAIN" "$WORK/fs"

# cost TARGET: ns/op in the programs' cgroup minus in the plain one
cost() {
	local out
	out=$(nsenter --net="/run/netns/$NS" "$SOCKCOST" -r 30 -m 100 "$1" "$CG_PROG" "$CG_PLAIN")
	awk 'NR == 1 {p = $2} NR == 2 {printf "%.0f %.0f\n", p - $2, $2}' <<<"$out"
}

results=()
for ((r = 1; r <= REPS; r++)); do
	for b in "${BINS[@]}"; do
		nsenter --net="/run/netns/$NS" "$b" run --manifests "$WORK/m" --dataplane bpf \
			--cgroup-root "$CG_PROG" --bpf-pin-path "$PIN" --healthz-bind-address "" \
			--metrics-bind-address "" --hostname-override node >"$WORK/sp.log" 2>&1 &
		SP_PID=$!
		for _ in $(seq 300); do grep -q "initial sync" "$WORK/sp.log" && break; sleep 0.1; done
		grep -q "initial sync" "$WORK/sp.log" || {
			echo "sockcost.sh: $b did not sync:" >&2
			tail -5 "$WORK/sp.log" >&2
			exit 1
		}
		read -r svc plain < <(cost "10.96.4.0/$N:80")
		read -r pod _ < <(cost "10.244.0.1/$((N * 10)):8080")
		echo "$b rep $r: connect to a Service +$svc ns, to a pod +$pod ns (plain cgroup: $plain ns per socket+connect+close)"
		results+=("$b $svc $pod")
		kill "$SP_PID"
		wait "$SP_PID" 2>/dev/null || true
		SP_PID=""
		nsenter --net="/run/netns/$NS" "$b" cleanup --bpf-pin-path "$PIN" >/dev/null 2>&1 || true
	done
done
printf '%s\n' "${results[@]}" | python3 -c '
import statistics, sys
rows = {}
for line in sys.stdin:
    b, s, p = line.split()
    rows.setdefault(b, []).append((int(s), int(p)))
for b, v in rows.items():
    print(f"median of {len(v)}: {b}: connect to a Service +{statistics.median(x[0] for x in v):.0f} ns, "
          f"to a pod +{statistics.median(x[1] for x in v):.0f} ns")'
