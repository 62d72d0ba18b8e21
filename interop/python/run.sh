#!/usr/bin/env bash
# Run a script of interop/python on the official Python SDK (PyPI `mcp`, pinned in requirements.txt):
#   interop/python/run.sh check_client.py URL [FERRY_BINARY]   the SDK's client against a Ferry server
#   interop/python/run.sh peer_server.py stdio | http PORT     a server on the SDK, for Ferry's client tests
# The SDK goes into a virtualenv under target/ (made on first use; nothing is installed globally).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${FERRY_PY_VENV:-$here/../../target/interop-python-venv}"
script="$1"
shift

# One installer at a time: tests may start several of these at once.
exec 9>"$venv.lock" 2>/dev/null || { mkdir -p "$(dirname "$venv")"; exec 9>"$venv.lock"; }
flock 9
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import mcp" 2>/dev/null; then
  echo "installing the Python SDK into $venv (pip install -r interop/python/requirements.txt)" >&2
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt" >&2
fi
flock -u 9

exec "$venv/bin/python" "$here/$script" "$@"
