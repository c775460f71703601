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


class Created:
    """inotify (IN_CREATE, IN_MOVED_TO) on every brick directory: the names created in them, however
    briefly they live (a poll misses a file created and removed within milliseconds)."""

    def __init__(self, dirs):
        import ctypes
        import ctypes.util
        self.libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK)
        assert self.fd >= 0, "inotify_init1 failed"
        self.wd = {}
        for d in dirs:
            wd = self.libc.inotify_add_watch(self.fd, os.fsencode(d), 0x100 | 0x80)   # IN_CREATE | IN_MOVED_TO
            if wd >= 0:
                self.wd[wd] = d
        self.names: list = []

    def drain(self):
        import struct
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return
            i = 0
            while i + 16 <= len(data):
                wd, _mask, _cookie, size = struct.unpack_from("iIII", data, i)
                name = data[i + 16:i + 16 + size].rstrip(b"\0").decode(errors="replace")
                self.names.append(os.path.join(self.wd.get(wd, "?"), name))
                i += 16 + size

    def close(self):
        os.close(self.fd)


def _brick_dirs() -> list:
    out = []
    for brick in (L.LAB_DIR / "nas" / "bricks").iterdir():
        for dirpath, dirnames, _ in os.walk(brick):
            dirnames[:] = [d for d in dirnames if d != ".glusterfs"]
            out.append(dirpath)
    return out


def test_write_test_makes_only_its_documented_file_and_removes_it(lab, tmp_path):
    """--write-test (INTRUSIVE, opt-in): during the run only `.preflight-write-test-*` files
    appear in the shared image directories, each is gone afterwards, and every host's digest is
    unchanged."""
    from preflight.facts.write_test import TEST_FILE_PREFIX
    hosts = list(L.HYPERVISORS) + ["nas"]
    before = {h: digest(h) for h in hosts}
    names_before = _brick_names()
    created = Created(_brick_dirs())
    rec = tmp_path / "rec.json"
    try:
        proc = subprocess.Popen([sys.executable, "-m", "preflight", "check", "--cluster", "lab", "--inventory",
                                 lab.inventory, "--write-test", "--record", str(rec), "--json",
                                 str(tmp_path / "r.json"), "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        deadline = time.monotonic() + 600
        while proc.poll() is None and time.monotonic() < deadline:
            created.drain()
            time.sleep(0.05)
        _, stderr = proc.communicate(timeout=30)
        created.drain()
    finally:
        created.close()
    assert proc.returncode in (0, 1, 3), stderr
    seen = set(created.names)
    assert seen, "inotify saw no write-test file created: did --write-test run?"
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
