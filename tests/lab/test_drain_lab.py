"""The drain plan on the clean lab, executed: `preflight plan --drain hv1` must place every VM it places
on a destination its own `virsh migrate` command really moves it to (run as printed, inside the lab where
the inventory's host names and ssh configuration are the ssh client's own), and refuse the VM a real
migration refuses, naming the check. The guests are moved back the same way afterwards."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time

import pytest

from tests.lab import lab as L

pytestmark = pytest.mark.lab

DRAINED = "hv1"      # vm-gluster (shared Gluster disk) and vm-local (local disk) in the clean lab


def defined(host: str) -> set:
    return set(L.ssh(host, "virsh -q list --all --name").stdout.split())


def persistent(host: str, dom: str) -> bool:
    return "Persistent:     yes" in L.ssh(host, f"virsh -q dominfo {shlex.quote(dom)}").stdout


def test_drain_plan_commands_really_move_the_placed_vms(lab, tmp_path):
    out = tmp_path / "plan.json"
    proc = subprocess.run([sys.executable, "-m", "preflight", "plan", "--drain", DRAINED, "--cluster", "lab",
                           "--inventory", str(lab.inventory), "--json", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, proc.stderr
    doc = json.loads(out.read_text())
    placed = {m["domain"]: m for m in doc["moves"]}
    refused = {r["domain"]: r for r in doc["refused"]}
    running = set(L.running_guests(DRAINED))
    assert set(placed) | set(refused) == running, (placed, refused, running)
    # the local-disk guest can go nowhere, and the plan says which check blocks it
    assert "vm-local" in refused and "storage.shared" in refused["vm-local"]["blocking_checks"]
    assert "vm-gluster" in placed, proc.stdout
    # the refusal is real: libvirt refuses the migration
    ok, message = L.migrate("vm-local", DRAINED, next(d["destination"] for d in refused["vm-local"]["destinations"]))
    assert not ok and "shared storage" in message.lower(), message
    moved = []
    try:
        for move in sorted(doc["moves"], key=lambda m: m["order"]):
            dom, dst = move["domain"], move["destination"]
            assert shlex.split(move["command"]) == move["argv"]
            started = time.monotonic()
            # the command as printed, run by the shell of a lab host (its ssh client config knows hv1-hv3)
            p = L.ssh(DRAINED, move["command"] + " 2>&1", check=False, timeout=L.MIGRATE_TIMEOUT + 20)
            print(f"{dom} -> {dst}: rc {p.returncode} in {time.monotonic() - started:.1f} s", file=sys.stderr)
            assert p.returncode == 0, f"{move['command']}: {p.stdout}"
            moved.append((dom, dst))
            assert L.where_running().get(dom) == dst
            assert persistent(dst, dom) and dom not in defined(DRAINED)    # --persistent --undefinesource
    finally:
        for dom, dst in moved:        # back the same way, so the lab keeps its definitions
            back = move_back_command(doc, dom, dst)
            L.ssh(dst, back + " 2>&1", timeout=L.MIGRATE_TIMEOUT + 20)
    assert L.where_running().get("vm-gluster") == DRAINED and persistent(DRAINED, "vm-gluster")


def move_back_command(doc: dict, dom: str, dst: str) -> str:
    """The plan's own command with source and destination swapped."""
    argv = next(m["argv"] for m in doc["moves"] if m["domain"] == dom)
    src_uri, dst_uri = argv[2], argv[-1]
    back = list(argv)
    back[2], back[-1] = dst_uri, src_uri
    return shlex.join(back)
