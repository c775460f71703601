"""The static dry-run of planned migration flags, judged by real `virsh migrate` on the clean lab:
`check --migrate-flags copy-storage-all` must call a storage copy blocked exactly where libvirt refuses it
(a local image with no pool on the destination, an image on the shared Gluster mount) and not where it
completes (a QEMU-NFS network disk), and the flag refusals it quotes must be what virsh really says."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.lab import lab as L

pytestmark = pytest.mark.lab

# (domain, source, destination) of the clean lab, and the words libvirt/QEMU refuse a copy with
COPY_CASES = {
    ("vm-local", "hv1", "hv2"): "no storage pool with matching target path",
    ("vm-gluster", "hv1", "hv2"): "Block node is read-only",
    ("vm-nfs", "hv2", "hv1"): None,                  # completes (the network disk is copied onto itself)
}


def check(lab, tmp_path, name, *extra):
    out = tmp_path / f"{name}.json"
    proc = subprocess.run([sys.executable, "-m", "preflight", "check", "--cluster", "lab", "--inventory",
                           str(lab.inventory), "--json", str(out), "-q", *extra],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode in (0, 1, 3) and "Traceback" not in proc.stderr, proc.stderr
    from preflight.compact import expand_document

    return expand_document(json.loads(out.read_text()))


def virsh_migrate(dom, src, dst, flags) -> tuple:
    p = L.ssh(src, f"timeout -k 5 {L.MIGRATE_TIMEOUT} virsh migrate {flags} {dom} qemu+ssh://{dst}/system 2>&1",
              check=False, timeout=L.MIGRATE_TIMEOUT + 20)
    return p.returncode == 0, " ".join(p.stdout.split())


def test_copy_storage_verdicts_agree_with_real_storage_migrations(lab, tmp_path):
    doc = check(lab, tmp_path, "copy", "--migrate-flags", "copy-storage-all")
    assert doc["run"]["options"]["migrate_flags"] == ["--live", "--copy-storage-all"]
    verdicts = {(m["domain"], m["source"], m["destination"]): m for m in doc["migrations"]}
    results = [r for r in doc["results"] if r["check"] == "storage.copy_storage"]
    for (dom, src, dst), refusal in COPY_CASES.items():
        m = verdicts[(dom, src, dst)]
        mine = [r for r in results if (r["domain"], r["source"], r["destination"]) == (dom, src, dst)]
        ok, message = virsh_migrate(dom, src, dst, "--live --copy-storage-all")
        try:
            print(f"{dom} {src}->{dst}: real {'ok' if ok else message}; verdict {m['verdict']}", file=sys.stderr)
            if refusal is None:
                assert ok, message
                assert m["verdict"] in ("pass", "warn") and {r["status"] for r in mine} == {"warn"}, m
            else:
                assert not ok and refusal in message, message
                assert m["verdict"] == "fail" and "storage.copy_storage" in m["blockers"], m
                # the check names what libvirt/QEMU say
                assert any(refusal.split(":")[0].lower() in r["message"].lower() for r in mine), mine
            # storage.shared no longer refuses the local disk: libvirt skips disks QEMU copies
            shared = [r for r in doc["results"] if r["check"] == "storage.shared" and r["domain"] == dom
                      and r["destination"] == dst]
            assert shared and all(r["status"] == "pass" for r in shared), shared
        finally:
            if ok:
                L.move_home(dom, dst, src)
    assert L.where_running().get("vm-nfs") == "hv2"


@pytest.mark.parametrize("flags, words", [
    ("tunnelled", "cannot perform tunnelled migration without using peer2peer flag"),
    ("offline", "offline migration must be specified with the persistent flag set"),
])
def test_flag_refusals_are_what_virsh_says(lab, tmp_path, flags, words):
    doc = check(lab, tmp_path, flags, "--migrate-flags", flags, "--only", "domain.migrate_flags")
    mine = [r for r in doc["results"] if r["check"] == "domain.migrate_flags" and r["domain"] == "vm-qemu64"
            and r["destination"] == "hv1"]
    assert [r["status"] for r in mine] == ["fail"] and words in mine[0]["message"], mine
    option = "--live --tunnelled" if flags == "tunnelled" else "--offline"
    ok, message = virsh_migrate("vm-qemu64", "hv3", "hv1", option)
    assert not ok and words in message, message
    assert L.where_running().get("vm-qemu64") == "hv3"
