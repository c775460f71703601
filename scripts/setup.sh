#!/usr/bin/env bash
# Create ./.venv with preflight installed (editable). Used by demo.sh and test.sh.
#   scripts/setup.sh            preflight only (replay/demo; no libvirt C library needed)
#   scripts/setup.sh --full     + libvirt-python and the test tools (needs libvirt-dev, see test.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! "$PY" -c 'import venv, ensurepip' 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
    else
        echo "setup: $PY has no venv/ensurepip; install python3-venv" >&2; exit 2
    fi
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
if [ "${1:-}" = "--full" ]; then
    .venv/bin/python -m pip install -q -e '.[libvirt,test]'
else
    .venv/bin/python -m pip install -q -e .
fi
