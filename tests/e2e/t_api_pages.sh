#!/usr/bin/env bash
# The API source lists in pages (issue 8): 2,000 Services are read in pages of 500 (limit and
# continue, seen in the server's request log), all programmed, and the first sync waits for the
# last page.
E2E_SOURCE=api
. "$(dirname "$0")/lib.sh"
harness_init
setup_cluster 1
N=2000

# N Services 10.96.<i/250>.<i%250+1>, port 80, one v1 List (JSON)
python3 - "$N" >"$MANIFESTS/many.json" <<'EOF'
import json, sys
n = int(sys.argv[1])
items = [{"apiVersion": "v1", "kind": "Service",
          "metadata": {"name": f"s{i}", "namespace": "default"},
          "spec": {"clusterIP": f"10.96.{10 + i // 250}.{i % 250 + 1}",
                   "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]}}
         for i in range(n)]
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
EOF
source_args "$NODE" 127.0.0.1:6443 # starts the API server, loads $MANIFESTS
apictl requests --clear >/dev/null
start_svcproxy

pages=$(apictl requests | jq -r '[.[] | select(.method == "GET" and (.path | startswith("/api/v1/services?")))] | .[].path')
log "service list requests: $(tr '\n' ' ' <<<"$pages")"
assert_eq 4 "$(grep -c 'limit=500' <<<"$pages")" "pages of 500 Services"
assert_eq 3 "$(grep -c 'continue=' <<<"$pages")" "pages asked with a continue token"
assert_contains "$(cat "$SP_LOG")" "listed $N services in 4 pages" "svcproxy log"
n=$(in_ns node "$SVCPROXY" show services | grep -c '^default/s')
assert_eq "$N" "$n" "Services programmed by the first sync"
pass "$N Services listed in pages of 500, all in the first sync"
