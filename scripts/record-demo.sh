#!/usr/bin/env bash
# Re-record the built-in demo cluster from the lab of real libvirt/KVM hosts (root needed):
# bring the lab up, inject three real faults at once, record the raw facts preflight gathers,
# then revert. The demo then replays exactly what real hosts answered.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
FAULTS="bridge_missing firewall_reject invtsc"
$PY -m tests.lab.lab up
for f in $FAULTS; do $PY -m tests.lab.lab apply "$f"; done
set +e
$PY -m preflight check --cluster lab --inventory "${PREFLIGHT_LAB_DIR:-/tmp/preflight-lab}/inventory.toml" \
    --record preflight/demo/demo-facts.json --quiet
rc=$?
set -e
for f in $FAULTS; do $PY -m tests.lab.lab revert "$f"; done
[ "${PREFLIGHT_LAB_KEEP:-0}" = 1 ] || $PY -m tests.lab.lab down
echo "record-demo: preflight exited $rc; wrote preflight/demo/demo-facts.json (faults: $FAULTS)"
