#!/usr/bin/env bash
# Run the official Python SDK client (PyPI `mcp`, pinned in requirements.txt) against Ferry:
# over Streamable HTTP at URL and, given the `ferry` binary, over stdio; both protocol eras.
# Usage: interop/python/run.sh URL [FERRY_BINARY]
# The SDK goes into a virtualenv under target/ (made on first use; nothing is installed globally).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${FERRY_PY_VENV:-$here/../../target/interop-python-venv}"

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import mcp" 2>/dev/null; then
  echo "installing the Python SDK into $venv (pip install -r interop/python/requirements.txt)" >&2
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt" >&2
fi

exec "$venv/bin/python" "$here/check_client.py" "$@"
