#!/usr/bin/env bash
# Everything the tests need on a fresh Debian 12 machine (as root), then the whole suite,
# the lab of real libvirt/KVM hosts included. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    bash tests/lab/install-deps.sh
fi
bash scripts/setup.sh --full
exec .venv/bin/python -m pytest -ra "$@"
