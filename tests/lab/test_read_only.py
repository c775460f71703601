"""Read-only proven (issue 7): a digest of each lab host's state before and after a default run
of `preflight check` is equal.

The digest, per host, through the host's own sshd: /etc (content), the libvirt config, state
and cache directories (names, types, owners and modes: running guests write their images),
the domain list and every domain's XML, listening TCP/UDP sockets, the names of the processes in
the host's network namespace less the transient ones (the sessions of this test and of preflight), the nftables and iptables rulesets
(counters left out) and the NFS exports. With --write-test only the documented
`.preflight-write-test-*` files appear in the shared image directories and all are gone after.

Left out: libvirtd's QEMU capabilities cache (/var/cache/libvirt/qemu/capabilities). libvirtd
itself fills it the first time anyone asks for the host capabilities (virConnectGetCapabilities,
`virsh capabilities`): it probes every emulator it lists (the lab run added qemu-system-i386's).
A cache of libvirtd's, not state preflight writes.
"""

from __future__ import annotations

import difflib
import json
import os
import subprocess
import sys
import threading
import time

import pytest

from tests.lab import lab as L

pytestmark = pytest.mark.lab

DIGEST = r"""
set +e
echo '## etc'; find /etc -xdev -type l -printf '%p -> %l\n' 2>/dev/null | LC_ALL=C sort
find /etc -xdev -type f -exec sha256sum {} + 2>/dev/null | LC_ALL=C sort -k2
for d in /etc/libvirt /var/lib/libvirt /var/cache/libvirt /run/libvirt; do
  echo "## $d"; find "$d" -xdev -path /var/cache/libvirt/qemu/capabilities -prune -o -printf '%p %y %u:%g %m\n' \
    2>/dev/null | LC_ALL=C sort
done
echo '## domains'; for d in $(virsh -q list --all --name 2>/dev/null | LC_ALL=C sort); do
  echo "# $d"; virsh dumpxml "$d" 2>&1; done
echo '## listening'; ss -Hltun 2>/dev/null | awk '{print $1, $5}' | LC_ALL=C sort -u
echo '## processes'; me=$(readlink /proc/self/ns/net)    # this host's: the machine's PID space is shared
for p in /proc/[0-9]*; do [ "$(readlink "$p/ns/net" 2>/dev/null)" = "$me" ] && cat "$p/comm" 2>/dev/null; done |
  grep -v -x -e sshd -e sh -e bash -e ps -e sort -e grep -e awk -e sed -e find -e sha256sum -e cut -e virsh \
  -e ss -e cat -e timeout -e sleep -e python3 -e socat -e readlink | LC_ALL=C sort -u
echo '## nft'; nft list ruleset 2>&1 | sed 's/counter packets [0-9]* bytes [0-9]*/counter/'
echo '## iptables'; iptables-save 2>/dev/null | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//'
echo '## exports'; exportfs -v 2>/dev/null; cat /etc/exports 2>/dev/null
exit 0
"""


def digest(host: str) -> str:
    return L.ssh(host, DIGEST, timeout=120).stdout


def test_a_default_run_changes_nothing_on_any_host(lab, tmp_path):
    hosts = list(L.HYPERVISORS) + ["nas"]
    before = {h: digest(h) for h in hosts}
    proc = subprocess.run([sys.executable, "-m", "preflight", "check", "--cluster", "lab", "--inventory",
                           lab.inventory, "--json", str(tmp_path / "r.json"), "-q"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode in (0, 1, 3), proc.stderr
    for h in hosts:
        after = digest(h)
        assert after == before[h], f"{h} changed:\n" + "\n".join(
            difflib.unified_diff(before[h].splitlines(), after.splitlines(), "before", "after", lineterm="", n=1))


def _brick_names() -> set:
    """Every name under the lab's gluster bricks (where the shared image directories live)."""
    out = set()
    for brick in (L.LAB_DIR / "nas" / "bricks").iterdir():
        for dirpath, dirnames, filenames in os.walk(brick):
            dirnames[:] = [d for d in dirnames if d != ".glusterfs"]      # gluster's own gfid links
            out.update(os.path.join(dirpath, n) for n in dirnames + filenames)
    return out


def test_write_test_makes_only_its_documented_file_and_removes_it(lab, tmp_path):
    """--write-test (INTRUSIVE, opt-in): during the run only `.preflight-write-test-*` files
    appear in the shared image directories, each is gone afterwards, and every host's digest is
    unchanged."""
    from preflight.facts.write_test import TEST_FILE_PREFIX
    hosts = list(L.HYPERVISORS) + ["nas"]
    before = {h: digest(h) for h in hosts}
    names_before = _brick_names()
    seen: set = set()
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            try:
                seen.update(_brick_names() - names_before)
            except OSError:
                pass
            time.sleep(0.005)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    rec = tmp_path / "rec.json"
    try:
        proc = subprocess.run([sys.executable, "-m", "preflight", "check", "--cluster", "lab", "--inventory",
                               lab.inventory, "--write-test", "--record", str(rec), "--json",
                               str(tmp_path / "r.json"), "-q"], capture_output=True, text=True, timeout=600)
    finally:
        stop.set()
        watcher.join(5)
    assert proc.returncode in (0, 1, 3), proc.stderr
    strays = {n for n in seen if not os.path.basename(n).startswith(TEST_FILE_PREFIX)}
    assert not strays, f"--write-test created undocumented files: {sorted(strays)}"
    assert _brick_names() == names_before, "a file --write-test created is still there"
    record = json.loads(rec.read_text())
    tested = {h: e.get("write_test") or {} for h, e in record["hosts"].items()}
    outs = [r.get("out") or "" for dirs in tested.values() for r in dirs.values()]
    assert outs and all("created" in o and "removed" in o and "error" not in o for o in outs), tested
    for h in hosts:
        after = digest(h)
        assert after == before[h], f"{h} changed:\n" + "\n".join(
            difflib.unified_diff(before[h].splitlines(), after.splitlines(), "before", "after", lineterm="", n=1))
    print(f"{len(outs)} directories write-tested, {len(seen)} test files seen appear and go")
