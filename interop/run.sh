#!/usr/bin/env bash
# Run the TypeScript-SDK tasks interop client against a running Ferry server.
# Usage: interop/run.sh [URL [ARGS...]]      (default http://127.0.0.1:8765/mcp)
# FERRY_INTEROP_SCRIPT names another client script of this directory (default ts-tasks-client.mjs).
# Installs the pinned SDK (npm ci, from package-lock.json) on first use.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
url="${1:-http://127.0.0.1:8765/mcp}"

if [ ! -d "$here/node_modules/@modelcontextprotocol/sdk" ]; then
  echo "installing interop dependencies (npm ci --prefix interop)" >&2
  npm ci --prefix "$here" --no-audit --no-fund >&2
fi

exec node "$here/${FERRY_INTEROP_SCRIPT:-ts-tasks-client.mjs}" "$url" "${@:2}"
