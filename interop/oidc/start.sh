#!/usr/bin/env bash
# Start the test identity provider (provider.mjs) on a free port of 127.0.0.1, or PORT.
# Usage: interop/oidc/start.sh [PORT]
# Installs the pinned oidc-provider (package-lock.json here) on first use.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/install.sh" "$here" oidc-provider
exec node "$here/provider.mjs" "$@"
