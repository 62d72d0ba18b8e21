#!/usr/bin/env bash
# Install pinned npm packages once: `npm ci --prefix PREFIX` (from its package-lock.json)
# unless PREFIX/node_modules/PACKAGE is there. Locked, so that tests starting at once
# install only once.
# Usage: interop/oidc/install.sh PREFIX PACKAGE
set -euo pipefail

prefix="$1"
package="$2"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
(
  flock 9
  if [ ! -d "$prefix/node_modules/$package" ]; then
    echo "installing $package (npm ci --prefix $prefix)" >&2
    npm ci --prefix "$prefix" --no-audit --no-fund >&2
  fi
) 9>"$here/.install.lock"
