#!/usr/bin/env bash
# Start the TypeScript-SDK server with tasks (a foreign MCP server for Ferry's client tests).
# Usage: interop/serve-ts.sh [PORT]   (0 = any free port; it prints "listening on URL" to stderr)
# Installs the pinned SDK (npm ci, from package-lock.json) on first use.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ ! -d "$here/node_modules/@modelcontextprotocol/sdk" ]; then
  echo "installing interop dependencies (npm ci --prefix interop)" >&2
  npm ci --prefix "$here" --no-audit --no-fund >&2
fi
exec node "$here/ts-tasks-server.mjs" "${1:-0}"
