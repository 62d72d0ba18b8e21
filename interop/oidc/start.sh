#!/usr/bin/env bash
# Start the test identity provider (provider.mjs) on a free port of 127.0.0.1, or PORT.
# Usage: interop/oidc/start.sh [PORT]
# Installs the pinned oidc-provider (npm ci, from package-lock.json) on first use; the
# install is locked so that tests starting providers at once install only once.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
(
  flock 9
  if [ ! -d "$here/node_modules/oidc-provider" ]; then
    echo "installing the test identity provider (npm ci --prefix interop/oidc)" >&2
    npm ci --prefix "$here" --no-audit --no-fund >&2
  fi
) 9>"$here/.install.lock"

exec node "$here/provider.mjs" "$@"
