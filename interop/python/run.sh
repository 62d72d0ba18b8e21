#!/usr/bin/env bash
# Run a script of interop/python in a virtualenv holding one pinned Python peer:
#   interop/python/run.sh check_client.py URL [FERRY_BINARY]   the official SDK's client against a Ferry server
#   interop/python/run.sh peer_server.py stdio | http PORT     a server on the official SDK, for Ferry's client tests
#   interop/python/run.sh --env fastmcp4 check_fastmcp_client.py URL [--refused]   FastMCP 4's client against Ferry
#   interop/python/run.sh --env fastmcp3 | fastmcp4 fastmcp_server.py PORT         a FastMCP server with tasks
# Without --env: the official SDK (PyPI `mcp`, requirements.txt, venv target/interop-python-venv).
# With --env NAME: requirements-NAME.txt (then requirements-NAME-nodeps.txt, installed without
# dependency resolution, when it exists), venv target/interop-python-NAME-venv. FastMCP 3 and 4 need
# different versions of the same packages, hence one venv each. Made on first use; nothing is
# installed globally.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
env_name=""
if [ "${1:-}" = "--env" ]; then
  env_name="$2"
  shift 2
fi
if [ -n "$env_name" ]; then
  reqs="$here/requirements-$env_name.txt"
  nodeps="$here/requirements-$env_name-nodeps.txt"
  venv="$here/../../target/interop-python-$env_name-venv"
  probe="import fastmcp"
else
  reqs="$here/requirements.txt"
  nodeps=""
  venv="${FERRY_PY_VENV:-$here/../../target/interop-python-venv}"
  probe="import mcp"
fi
[ -f "$reqs" ] || { echo "no $reqs" >&2; exit 2; }
script="$1"
shift

# One installer at a time: tests may start several of these at once. The venv is
# complete once its stamp (a copy of the requirements) matches.
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
stamp="$venv/.ferry-requirements"
[ -n "$nodeps" ] && [ ! -f "$nodeps" ] && nodeps=""
want="$(cat "$reqs" ${nodeps:+"$nodeps"})"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "$probe" 2>/dev/null \
  || { [ -n "$env_name" ] && [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; }; then
  echo "installing $(basename "$reqs") into $venv" >&2
  if [ -n "$env_name" ]; then rm -rf "$venv"; fi
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$reqs" >&2
  if [ -n "$nodeps" ]; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$nodeps" >&2
  fi
  printf '%s' "$want" > "$stamp"
fi
flock -u 9

exec "$venv/bin/python" "$here/$script" "$@"
