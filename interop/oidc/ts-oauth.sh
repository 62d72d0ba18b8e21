#!/usr/bin/env bash
# Run the TypeScript SDK's OAuth sign-in (ts-oauth-client.mjs) against a Ferry server
# protected by the test identity provider.
# Usage: interop/oidc/ts-oauth.sh URL
# Installs the pinned SDK (interop/package-lock.json) on first use.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/install.sh" "$here/.." @modelcontextprotocol/sdk
exec node "$here/ts-oauth-client.mjs" "$@"
