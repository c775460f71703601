"""storage.mount_options: the shared mounts guests' file disks live on are safe and persistent."""

from __future__ import annotations

import posixpath

from preflight.engine.registry import check, failed, passed, skipped, undecided, warned
from preflight.facts.mountinfo import SHARED_FS_TYPES, find_mount
from preflight.model import Scope, Severity, Status, worst_status

from ._common import unparsed, where

NFS_OPTS = ("vers", "proto", "hard", "soft", "softerr", "timeo", "retrans", "addr", "sec")


def nfs_options(m) -> str:
    opts = [o for o in m.super_options if o.split("=")[0] in NFS_OPTS]
    return ",".join(opts) or "(no NFS options recorded)"


def _soft(m):
    if m.fstype in ("nfs", "nfs4") and ({"soft", "softerr"} & set(m.super_options + m.options)):
        return (Status.WARN, f"soft NFS mount ({nfs_options(m)}): after timeo x retrans the client "
                "returns I/O errors to QEMU, which the guest sees as disk errors (possible data corruption)")
    return None


def _persistent(host, m):
    """Will the mount come back after a reboot? (status, why) or None when it will."""
    point = posixpath.normpath(m.mountpoint)
    entry = next((e for e in reversed(host.fstab) if e.mountpoint == point), None)
    if entry is not None:
        if entry.noauto and not entry.automount:
            return (Status.WARN, f"/etc/fstab line {entry.line} has noauto: not mounted at boot")
        return None
    autofs = [a for a in host.mounts if a.fstype == "autofs"
              and (a.mountpoint == point or point.startswith(a.mountpoint.rstrip("/") + "/"))]
    if autofs:
        return None
    if any(path == point for _, _, path in host.mount_units):
        return None
    if "mount_units" in host.fact_errors:
        return (Status.ERROR, f"not in /etc/fstab and the systemd mount units are unknown "
                f"({host.fact_errors['mount_units']})")
    return (Status.WARN, "not in /etc/fstab, no autofs map or systemd mount/automount unit: it "
            "will not survive the host's reboot")


def _judge(disk, host):
    m = find_mount(host.mounts, disk.path)
    if m is None or m.fstype not in SHARED_FS_TYPES:
        return None
    problems = [p for p in (_soft(m), _persistent(host, m)) if p]
    return m, problems


@check(
    id="storage.mount_options", title="Shared mounts holding guest disks are hard-mounted and persistent",
    category="storage", severity=Severity.MEDIUM, scope=Scope.MIGRATION,
    requires=("domains", "mounts", "fstab"),
    verifies="Per file disk on a shared file system, on the source and on the destination: an NFS "
             "mount is not `soft`/`softerr` (its vers, proto, hard/soft, timeo, retrans, addr, sec are "
             "the evidence); the mount is in /etc/fstab (not noauto), under an autofs mount, or has a "
             "systemd .mount/.automount unit file. Read-only mounts are storage.shared's concern.",
    rationale="With a soft NFS mount a server hiccup longer than timeo x retrans turns into I/O errors "
              "inside the guest (and possible file system corruption) instead of a pause. A share mounted "
              "by hand disappears at the next reboot of that host, and guests migrated there then fail "
              "to start or to migrate back.",
    remediation="Mount shared storage `hard` (the default; drop `soft`), e.g. /etc/fstab: `nas:/vol0 "
                "/srv/vmstore nfs4 hard,vers=4.2,proto=tcp,_netdev 0 0` on every hypervisor, or use a "
                "systemd .mount/.automount unit or an autofs map; then `mount -a` (or remount).",
    references=("https://man7.org/linux/man-pages/man5/nfs.5.html",
                "https://man7.org/linux/man-pages/man5/fstab.5.html",
                "https://www.freedesktop.org/software/systemd/man/systemd.mount.html"),
)
def mount_options(ctx):
    problem = unparsed(ctx.domain, ctx.source)
    if problem:
        return problem
    findings = []
    for disk in ctx.domain.disks:
        if disk.empty or disk.type not in ("file", "dir") or not disk.path:
            continue
        judged = [(h, _judge(disk, h)) for h in (ctx.source, ctx.destination)]
        judged = [(h, j) for h, j in judged if j is not None]
        if not judged:
            continue
        ev = dict(disk=disk.target, source="; ".join(where(h, "/proc/self/mountinfo, /etc/fstab, systemd "
                                                           "units") for h, _ in judged),
                  observed="; ".join(f"{h.name}: {m.fstype} {m.source} at {m.mountpoint} "
                                     f"({nfs_options(m) if m.fstype.startswith('nfs') else ','.join(m.options)})"
                                     for h, (m, _) in judged),
                  expected="hard mount, listed in /etc/fstab or a systemd/autofs unit")
        problems = [(s, f"{h.name}: {why}") for h, (_, ps) in judged for s, why in ps]
        if not problems:
            findings.append(passed(f"disk {disk.target}: {disk.path} is on hard, persistent shared mounts", **ev))
            continue
        worst = worst_status(s for s, _ in problems)
        make = {Status.WARN: warned, Status.ERROR: undecided, Status.FAIL: failed}[worst]
        findings.append(make(f"disk {disk.target}: " + "; ".join(w for _, w in problems), **ev))
    return findings or [skipped("no file disk of this guest is on a shared file system")]
