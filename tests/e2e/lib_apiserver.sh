# shellcheck shell=bash
# Helpers to run the test Kubernetes API server (tests/apiserver/README.md) from an e2e test.
# Source after lib.sh and harness_init (uses WORK, BG_PIDS, fail, log).
#
#   start_apiserver NS HOST:PORT [apiserver.py options...]
#       starts it inside network namespace NS (created by the test) with --dir $APISERVER_DIR
#       ($WORK/apiserver) and waits until it answers; the cleanup trap stops it.
#   apictl COMMAND...      apiserver-ctl on that server (objects, faults; README.md)
#   KUBECONFIG_TOKEN / KUBECONFIG_CERT: its kubeconfigs (token; client certificate)
#   start_h2front NS HOST:PORT
#       starts tests/apiserver/h2front.py (HTTP/2 only, forwarding to that server) in NS, logging
#       to $H2FRONT_LOG; KUBECONFIG_H2 is the token kubeconfig pointing at it; the trap stops it.

APISERVER_PY=${APISERVER_PY:-$ROOT_DIR/tests/apiserver/apiserver.py}
APISERVER_CTL=${APISERVER_CTL:-$ROOT_DIR/tests/apiserver/apiserver-ctl}
APISERVER_DIR=""
APISERVER_PID=""
KUBECONFIG_TOKEN=""
KUBECONFIG_CERT=""
H2FRONT_PY=${H2FRONT_PY:-$ROOT_DIR/tests/apiserver/h2front.py}
H2FRONT_PID=""
H2FRONT_LOG=""
KUBECONFIG_H2=""

# kubectl and the Python client honour proxy variables; the server is local.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

start_apiserver() # NS HOST:PORT [options...]
{
	local ns=$1 listen=$2
	shift 2
	[[ -x /usr/bin/python3 ]] || skip "/usr/bin/python3 not installed"
	command -v openssl >/dev/null || skip "openssl not installed"
	APISERVER_DIR="$WORK/apiserver"
	mkdir -p "$APISERVER_DIR"
	ip netns exec "$ns" /usr/bin/python3 "$APISERVER_PY" --dir "$APISERVER_DIR" \
		--listen "$listen" "$@" >"$WORK/apiserver.log" 2>&1 &
	APISERVER_PID=$!
	BG_PIDS+=("$APISERVER_PID")
	apictl wait-ready --timeout 30 >/dev/null ||
		fail "test API server did not start: $(tail -n 20 "$WORK/apiserver.log")"
	KUBECONFIG_TOKEN="$APISERVER_DIR/kubeconfig"
	KUBECONFIG_CERT="$APISERVER_DIR/kubeconfig-cert"
	log "test API server $(cat "$APISERVER_DIR/url") (pid $APISERVER_PID, state $APISERVER_DIR)"
}

apictl() { /usr/bin/python3 "$APISERVER_CTL" --dir "$APISERVER_DIR" "$@"; }

start_h2front() # NS HOST:PORT
{
	[[ -n "$APISERVER_DIR" ]] || fail "start_h2front: start_apiserver first"
	/usr/bin/python3 -c 'import h2' 2>/dev/null || skip "python3-h2 not installed"
	H2FRONT_LOG="$WORK/h2front.log"
	rm -f "$APISERVER_DIR/h2front-url"
	ip netns exec "$1" /usr/bin/python3 "$H2FRONT_PY" --dir "$APISERVER_DIR" --listen "$2" \
		>>"$H2FRONT_LOG" 2>&1 &
	H2FRONT_PID=$!
	BG_PIDS+=("$H2FRONT_PID")
	wait_for 10 test -s "$APISERVER_DIR/h2front-url" ||
		fail "h2front did not start: $(tail -n 20 "$H2FRONT_LOG")"
	KUBECONFIG_H2="$APISERVER_DIR/kubeconfig-h2"
	log "HTTP/2 front $(cat "$APISERVER_DIR/h2front-url") (pid $H2FRONT_PID)"
}
