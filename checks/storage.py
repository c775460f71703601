"""storage.shared: every disk of a guest must be reachable, as the same bytes, from the destination."""

from __future__ import annotations

from preflight.engine.registry import check, failed, passed, skipped, undecided
from preflight.facts.mountinfo import find_mount, split_source
from preflight.model import Scope, Severity

from ._common import LIBVIRT_DOMAIN_XML, LIBVIRT_MIGRATION, is_loopback, unparsed, where

# File system types libvirt treats as shared (src/util/virfile.c, virFileIsSharedFS): by
# superblock magic NFS, GFS2, OCFS2, AFS, SMB/CIFS, Ceph, GPFS, ACFS, BeeGFS; FUSE only for
# glusterfs and quobyte. Named here as they appear in mountinfo's fstype column.
SHARED_FS_TYPES = frozenset({"nfs", "nfs4", "gfs2", "ocfs2", "afs", "smbfs", "smb3", "cifs", "ceph",
                             "gpfs", "acfs", "beegfs", "fuse.glusterfs", "fuse.quobyte"})


def _describe(m) -> str:
    return f"{m.fstype} {m.source} at {m.mountpoint}" + (" (ro)" if m.readonly else "")


def _network_disk(disk, ctx):
    hosts = [h.socket or h.name for h in disk.hosts]
    ev = dict(observed=disk.label, source=where(ctx.source, "domain XML <disk><source><host>"))
    if any(h.transport == "unix" or is_loopback(h.name) for h in disk.hosts):
        return failed(f"disk {disk.target}: {disk.protocol} server {', '.join(hosts)} is the source "
                      f"host itself (loopback/unix socket); on {ctx.destination.name} it names another "
                      "machine or nothing", expected="a server address valid from every host", disk=disk.target, **ev)
    if not hosts and disk.protocol not in ("rbd",):
        return undecided(f"disk {disk.target}: {disk.protocol} disk names no server", disk=disk.target, **ev)
    return passed(f"disk {disk.target}: network disk {disk.label}, opened by QEMU itself on the "
                  "destination (server reachability from the destination is not checked yet)",
                  disk=disk.target, **ev)


def _file_disk(disk, ctx):
    src_m = find_mount(ctx.source.mounts, disk.path)
    dst_m = find_mount(ctx.destination.mounts, disk.path)
    ev = dict(disk=disk.target, source=where(ctx.source, "/proc/self/mountinfo") + "; "
              + where(ctx.destination, "/proc/self/mountinfo"))
    if src_m is None or dst_m is None:
        return undecided(f"disk {disk.target}: no mount found for {disk.path}", observed=disk.path, **ev)
    if src_m.fstype not in SHARED_FS_TYPES:
        tail = (f"; a read-only image migrates only if an identical copy sits at the same path on "
                f"{ctx.destination.name}, which preflight cannot verify" if disk.readonly
                else ", which libvirt does not treat as shared")
        return failed(f"disk {disk.target}: {disk.path} is on local storage ({_describe(src_m)} on "
                      f"{ctx.source.name}){tail}",
                      observed=_describe(src_m), expected="a shared file system (NFS, GlusterFS, CephFS, ...)", **ev)
    ev.update(observed=f"{ctx.destination.name}: {_describe(dst_m)}", expected=_describe(src_m))
    if dst_m.mountpoint != src_m.mountpoint or dst_m.fstype not in SHARED_FS_TYPES:
        return failed(f"disk {disk.target}: {src_m.source} is not mounted at {src_m.mountpoint} on "
                      f"{ctx.destination.name}; {disk.path} there is on {_describe(dst_m)}", **ev)
    (s_srv, s_exp), (d_srv, d_exp) = split_source(src_m.source), split_source(dst_m.source)
    if dst_m.fstype != src_m.fstype or s_exp != d_exp or src_m.root != dst_m.root:
        return failed(f"disk {disk.target}: {src_m.mountpoint} holds a different share on "
                      f"{ctx.destination.name}: the guest would run on other bytes", **ev)
    if s_srv != d_srv:
        return undecided(f"disk {disk.target}: {s_exp} comes from {s_srv} on {ctx.source.name} but from "
                         f"{d_srv} on {ctx.destination.name}; cannot prove it is the same server", **ev)
    if not disk.readonly and (dst_m.readonly or src_m.readonly):
        return failed(f"disk {disk.target} is writable but {src_m.mountpoint} is mounted read-only", **ev)
    return passed(f"disk {disk.target}: {disk.path} is on the same shared {src_m.fstype} on both hosts", **ev)


@check(
    id="storage.shared", title="Every disk is on storage the destination sees as the same bytes",
    category="storage", severity=Severity.CRITICAL, scope=Scope.MIGRATION,
    requires=("domains", "mounts"),
    verifies="Per disk: a file-backed disk (also cdrom/floppy images) lives on a file system libvirt "
             "treats as shared, and the destination has the same share (same type, server, export) "
             "mounted at the same mount point, writable if the disk is; network disks do not point "
             "at the source host itself; block and pool-volume disks are reported as undecided.",
    rationale="Live migration copies memory, not disks: the destination QEMU opens every disk by the "
              "same path. Local storage makes libvirt refuse ('Migration without shared storage is "
              "unsafe'); a missing mount makes QEMU fail on the destination; a different share at the "
              "same path lets the migration 'succeed' onto the wrong bytes.",
    remediation="Put the disk image on shared storage mounted identically on every host (e.g. "
                "`mount -t nfs4 nas:/vol0 /srv/vmstore` via /etc/fstab on all hypervisors), or move "
                "the disk to a network disk (NFS/iSCSI/RBD) that names a server reachable from all hosts. "
                "For a one-off move of local disks use `virsh migrate --copy-storage-all`.",
    references=(LIBVIRT_MIGRATION, LIBVIRT_DOMAIN_XML + "#hard-drives-floppy-disks-cdroms",
                "https://gitlab.com/libvirt/libvirt/-/blob/master/src/util/virfile.c"),
)
def shared_storage(ctx):
    problem = unparsed(ctx.domain, ctx.source)
    if problem:
        return problem
    if not ctx.domain.disks:
        return passed("the domain has no disks", observed="no <disk> elements")
    findings = []
    for disk in ctx.domain.disks:
        if disk.empty:
            findings.append(skipped(f"{disk.device} {disk.target} is empty: nothing to share", disk=disk.target))
        elif disk.type == "network":
            findings.append(_network_disk(disk, ctx))
        elif disk.type in ("file", "dir"):
            findings.append(_file_disk(disk, ctx))
        elif disk.type == "nvme":
            findings.append(failed(f"disk {disk.target}: an NVMe disk is host-local (libvirt: unsafe)",
                                   observed=disk.label, disk=disk.target))
        else:
            findings.append(undecided(f"disk {disk.target}: {disk.type} disk {disk.label}: cannot yet prove the "
                                      "destination sees the same device", observed=disk.label, disk=disk.target))
    return findings
