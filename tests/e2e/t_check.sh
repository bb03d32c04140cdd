#!/usr/bin/env bash
# `svcproxy check` and the command-line contract (SPEC §4): check exits 0 on good manifests
# (YAML and JSON), 2 with a message naming file, object and field on bad ones, and touches
# nothing in the kernel; every command has --help (exit 0); a bad option is exit 2.
# e2e-api: n/a - svcproxy check reads files only
. "$(dirname "$0")/lib.sh"
harness_init
new_ns "$NODE"

simple_service good 10.96.0.40 80 8080 TCP 10.244.1.11 >"$WORK/good.yaml"
cat >"$WORK/good.json" <<'JSON'
{"apiVersion": "v1", "kind": "Service",
 "metadata": {"name": "jsonsvc", "namespace": "default"},
 "spec": {"clusterIP": "10.96.0.41", "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]}}
JSON
{
	simple_service fine 10.96.0.42 80 8080 TCP 10.244.1.11
	echo "---"
	simple_service bad 10.96.0.43 70000 8080 TCP 10.244.1.11
} >"$WORK/bad.yaml"

out=$(in_ns node "$SVCPROXY" check --manifests "$WORK/good.yaml" 2>&1)
assert_eq 0 "$?" "check good.yaml exit status (output: $out)"
out=$(in_ns node "$SVCPROXY" check --manifests "$WORK/good.json" 2>&1)
assert_eq 0 "$?" "check good.json exit status (output: $out)"

err=$(in_ns node "$SVCPROXY" check --manifests "$WORK/bad.yaml" 2>&1 >/dev/null)
assert_eq 2 "$?" "check bad.yaml exit status"
log "check bad.yaml: $err"
assert_contains "$err" "bad.yaml" "check message names the file"
assert_contains "$err" "default/bad" "check message names the object"
assert_contains "$err" "spec.ports[0].port" "check message names the field"
assert_contains "$err" "70000" "check message names the value"
assert_not_contains "$err" "default/fine" "check message blames only the bad object"

# A directory holding one bad file among good ones is bad as a whole.
mkdir "$WORK/dir" && cp "$WORK/good.yaml" "$WORK/bad.yaml" "$WORK/dir/"
err=$(in_ns node "$SVCPROXY" check --manifests "$WORK/dir" 2>&1 >/dev/null)
assert_eq 2 "$?" "check DIR with a bad file exit status"
assert_contains "$err" "bad.yaml" "check DIR message names the file"

out=$(in_ns node nft list tables 2>&1)
assert_not_contains "$out" "svcproxy" "nft tables after check (check touches nothing)"

for cmd in run sync check show cleanup; do
	out=$("$SVCPROXY" "$cmd" --help 2>&1)
	assert_eq 0 "$?" "svcproxy $cmd --help exit status"
	[[ -n "$out" ]] || fail "svcproxy $cmd --help printed nothing"
done
"$SVCPROXY" run --no-such-option >/dev/null 2>&1
assert_eq 2 "$?" "svcproxy run --no-such-option exit status"
"$SVCPROXY" no-such-command >/dev/null 2>&1
assert_eq 2 "$?" "svcproxy no-such-command exit status"
pass "check and CLI contract"
