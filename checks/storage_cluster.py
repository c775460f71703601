"""storage.cluster_fs: a disk on GFS2/OCFS2 is on the same file system (UUID) on the destination, whose
cluster stack runs."""

from __future__ import annotations

from preflight.derive.access import daemon_state, fs_identity, stack_needs, writable_file_disks
from preflight.derive.storage_location import describe, fact_missing
from preflight.engine.registry import check, failed, passed, skipped, undecided, warned
from preflight.facts.mountinfo import CLUSTER_FS_TYPES, find_mount
from preflight.model import Scope, Severity

from ._common import LIBVIRT_MIGRATION, unparsed, where

GFS2_DOC = "https://docs.kernel.org/filesystems/gfs2.html"
OCFS2_DOC = "https://docs.kernel.org/filesystems/ocfs2.html"
RHEL_GFS2 = ("https://docs.redhat.com/en/documentation/red_hat_enterprise_linux/9/html/"
             "configuring_gfs2_file_systems/index")


def _stack_verdict(fstype, dst, ev):
    stack = dst.cluster_stack
    if stack is None:
        return undecided(f"the cluster stack of {dst.name} is unknown: {fact_missing(dst, 'cluster_stack')}", **ev)
    daemons, o2cb, why = stack_needs(fstype, stack)
    if why:
        return warned(f"cannot tell which OCFS2 cluster stack {dst.name} uses: {why}", **ev)
    seen = [(d, *daemon_state(stack, d)) for d in daemons]
    ev = dict(ev, observed=f"{dst.name}: " + "; ".join(how for _, _, how in seen)
              + (f"; o2cb clusters online: {', '.join(stack.o2cb_clusters) or 'none'}" if o2cb else ""),
              expected=("the o2cb cluster online" if o2cb else ", ".join(daemons) + " running"))
    stopped = [d for d, state, _ in seen if state == "stopped"]
    if stopped or (o2cb and not stack.o2cb_clusters):
        what = ", ".join(stopped) or "the o2cb cluster (none online under /sys/kernel/config/cluster)"
        return failed(f"{fstype} needs its cluster stack on {dst.name}, but {what} is not running", **ev)
    if any(state == "unknown" for _, state, _ in seen):
        return warned(f"cannot tell whether the {fstype} cluster stack runs on {dst.name}", **ev)
    return passed(f"the {fstype} cluster stack runs on {dst.name}", **ev)


def _disk_verdicts(disk, path, ctx) -> list:
    src, dst = ctx.source, ctx.destination
    sm = find_mount(src.mounts, path)
    if sm is None or sm.fstype not in CLUSTER_FS_TYPES:
        return []
    ev = dict(disk=disk.target, source=where(src, "mountinfo, lsblk") + "; "
              + where(dst, "mountinfo, lsblk, /proc, systemctl is-active, /sys/fs/ocfs2"))
    dm = find_mount(dst.mounts, path)
    if dm is None:
        return [undecided(f"disk {disk.target}: no mount found for {path} on {dst.name}", **ev)]
    if dm.fstype != sm.fstype or dm.mountpoint != sm.mountpoint:
        return [failed(f"disk {disk.target}: {path} is on {describe(sm)} on {src.name} but on {describe(dm)} "
                       f"on {dst.name}", observed=describe(dm), expected=describe(sm), **ev)]
    s_uuid, s_dev, why = fs_identity(src, sm)
    d_uuid, d_dev, dwhy = fs_identity(dst, dm) if s_uuid else (None, None, None)
    if s_uuid is None or d_uuid is None:
        return [undecided(f"disk {disk.target}: cannot prove {sm.mountpoint} is the same {sm.fstype}: {why or dwhy}",
                          **ev), _stack_verdict(sm.fstype, dst, ev)]
    ev_id = dict(ev, observed=f"{dst.name}: UUID {d_uuid} ({d_dev})", expected=f"UUID {s_uuid} ({src.name}: {s_dev})")
    if s_uuid != d_uuid:
        head = failed(f"disk {disk.target}: {sm.mountpoint} is another {sm.fstype} file system on {dst.name} "
                      f"(UUID {d_uuid}, {src.name} has {s_uuid}): the guest would run on other bytes", **ev_id)
    else:
        head = passed(f"disk {disk.target}: {sm.mountpoint} is the same {sm.fstype} (UUID {s_uuid}) on both hosts",
                      **ev_id)
    return [head, _stack_verdict(sm.fstype, dst, ev)]


@check(
    id="storage.cluster_fs", title="Disks on GFS2/OCFS2 are on the same cluster file system, its stack running",
    category="storage", severity=Severity.CRITICAL, scope=Scope.MIGRATION, requires=("domains", "mounts"),
    verifies="Per file disk image (file disks, file-backed pool volumes) on a GFS2 or OCFS2 mount of the source: the destination mounts a file "
             "system of the same type at the same mount point with the same file-system UUID (lsblk FSTYPE/UUID "
             "of the device behind the mount's major:minor), and the cluster stack it needs runs there: "
             "dlm_controld and corosync for GFS2 and for OCFS2 on the userspace stack (pcmk), an online o2cb "
             "cluster for OCFS2 on o2cb (/sys/fs/ocfs2/cluster_stack). Running is read from /proc (no pgrep "
             "needed), else from `systemctl is-active`; when neither can tell, WARN. Other file systems: SKIP.",
    rationale="libvirt trusts GFS2/OCFS2 as shared and cache-coherent, so it migrates with any cache mode; "
              "that is only true if the destination has the very same file system mounted (two LUNs with the "
              "same mount point are two disks) and its lock manager is up: without DLM/corosync or o2cb the "
              "mount hangs or is withdrawn, and the incoming guest's I/O blocks.",
    remediation="Mount the same shared LUN (same file-system UUID: `blkid -s UUID -o value DEVICE`) at the same "
                "mount point on every hypervisor, and run the cluster stack there: `systemctl enable --now "
                "corosync dlm` (pcs cluster start; GFS2, OCFS2 on pcmk) or `systemctl enable --now o2cb` with the "
                "node listed in /etc/ocfs2/cluster.conf (OCFS2 on o2cb).",
    references=(GFS2_DOC, OCFS2_DOC, RHEL_GFS2, LIBVIRT_MIGRATION),
)
def cluster_fs(ctx):
    problem = unparsed(ctx.domain, ctx.source)
    if problem:
        return problem
    found = []
    for disk, path, why in writable_file_disks(ctx.domain, ctx.source, include_readonly=True):
        if path is None:
            found.append(undecided(f"disk {disk.target}: cannot resolve it: {why}", disk=disk.target))
        else:
            found.extend(_disk_verdicts(disk, path, ctx))
    return found or skipped(f"no disk of {ctx.domain.name} is on GFS2 or OCFS2")
