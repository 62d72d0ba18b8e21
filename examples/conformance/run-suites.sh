#!/usr/bin/env bash
# Run the official MCP conformance suites against the Ferry fixture server.
#
#   examples/conformance/run-suites.sh [core|tasks|all]   (default: all)
#
# Needs Node >= 22 first on PATH (both packages import `globSync` from "fs") and the packages
# installed in $CONF_0116 / $CONF_ALPHA (see INTEROP.md). Results: $OUT/<suite>/.../checks.json.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
which="${1:-all}"
port="${PORT:-8766}"
url="http://127.0.0.1:$port/mcp"
CONF_0116="${CONF_0116:-/tmp/ferry-peers/conf-0.1.16}"
CONF_ALPHA="${CONF_ALPHA:-/tmp/ferry-peers/conf-0.2.0-alpha.12}"
OUT="${OUT:-$root/target/conformance}"

node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [ "$node_major" -lt 22 ]; then
    echo "conformance: Node >= 22 is required (found ${node_major}); see INTEROP.md" >&2
    exit 2
fi

(cd "$root" && cargo build -q -p conformance-server) || exit 2
"$root/target/debug/conformance-server" --addr "127.0.0.1:$port" 2>"$OUT.server.log" &
server=$!
trap 'kill $server 2>/dev/null' EXIT
for _ in $(seq 50); do
    curl -s -o /dev/null "$url" -X POST -H 'content-type: application/json' -d '{}' && break
    sleep 0.1
done

status=0
if [ "$which" = core ] || [ "$which" = all ]; then
    echo "== @modelcontextprotocol/conformance 0.1.16 (all server scenarios)"
    (cd "$CONF_0116" && npx conformance server --url "$url" --suite all -o "$OUT/0.1.16") | sed -n '/=== SUMMARY ===/,$p'
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
fi
if [ "$which" = tasks ] || [ "$which" = all ]; then
    echo "== @modelcontextprotocol/conformance 0.2.0-alpha.12 (tasks-* scenarios, 2026-07-28 wire)"
    for s in tasks-lifecycle tasks-capability-negotiation tasks-wire-fields tasks-request-state-removal \
        tasks-mrtr-input tasks-request-headers tasks-dispatch-and-envelope tasks-status-notifications \
        tasks-required-task-error tasks-mrtr-composition; do
        line="$(cd "$CONF_ALPHA" && npx conformance server --url "$url" --scenario "$s" -o "$OUT/alpha" 2>&1 | grep -E '^(Passed|SKIPPED)' | tail -1)"
        rc="${PIPESTATUS[0]}"
        echo "$s: ${line:-no summary}"
        [ "$rc" -eq 0 ] || status=1
    done
fi
exit $status
