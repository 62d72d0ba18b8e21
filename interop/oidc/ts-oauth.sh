#!/usr/bin/env bash
# Run the TypeScript SDK's OAuth sign-in (ts-oauth-client.mjs) against a Ferry server
# protected by the test identity provider.
# Usage: interop/oidc/ts-oauth.sh URL
# Installs the pinned SDK (npm ci --prefix interop, from its package-lock.json) on first use.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
(
  flock 9
  if [ ! -d "$here/../node_modules/@modelcontextprotocol/sdk" ]; then
    echo "installing interop dependencies (npm ci --prefix interop)" >&2
    npm ci --prefix "$here/.." --no-audit --no-fund >&2
  fi
) 9>"$here/.install.lock"

exec node "$here/ts-oauth-client.mjs" "$@"
