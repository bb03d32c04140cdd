#!/usr/bin/env bash
# Install every Debian 12 package svcproxy needs to build, test and run the demo.
#
# Idempotent and fast on a prepared machine: when dpkg already reports every package as
# installed, apt is not touched at all (no network, no lock). Otherwise the package lists are
# refreshed only when they are missing or older than a day, then the missing packages are
# installed without recommends. Shared by `make deps`, `make demo` and `make check` (.ci/run).
set -euo pipefail

PACKAGES=(
	# build
	meson ninja-build pkg-config gcc clang libclang-rt-14-dev
	libnftnl-dev libmnl-dev libyaml-dev libmicrohttpd-dev libcurl4-openssl-dev
	libnetfilter-conntrack-dev libcap-dev libseccomp-dev
	# the bpf dataplane: clang -target bpf (above), skeletons, the loader
	bpftool libbpf-dev
	# unit tests, sanitizers, formatting
	libcmocka-dev clang-format
	# end-to-end tests and demo
	nftables iproute2 curl socat conntrack procps iputils-ping jq
	# benchmark (bench/): iptables-legacy-restore for the kube-proxy iptables layout
	iptables
	# test Kubernetes API server (tests/apiserver/) and the real clients that check it
	python3 python3-yaml openssl python3-kubernetes python3-h2
)

missing=()
for p in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
	[[ "$status" == ii* ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
	echo "install-deps: all ${#PACKAGES[@]} packages already installed"
	exit 0
fi

echo "install-deps: installing: ${missing[*]}"
SUDO=()
if ((EUID != 0)); then
	command -v sudo >/dev/null || { echo "install-deps: need root or sudo to run apt-get" >&2; exit 1; }
	SUDO=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive

# Refresh the lists only if there are none, or they are older than a day.
lists=/var/lib/apt/lists
if ! compgen -G "$lists/*_Packages*" >/dev/null ||
	[[ -n "$(find "$lists" -maxdepth 1 -name '*_InRelease' -mmin +1440 -print -quit)" ]]; then
	"${SUDO[@]}" apt-get update
fi

if ! "${SUDO[@]}" apt-get install -y --no-install-recommends "${missing[@]}"; then
	# Stale lists (a package version vanished from the mirror): refresh once and retry.
	"${SUDO[@]}" apt-get update
	"${SUDO[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
fi
