"""Helpers of the storage checks (not a check module: discovery skips _names).

Every helper returns a Finding for one storage element (a disk, a backing file, the NVRAM
file, the TPM state) of a guest judged against one destination; none of them can PASS an
element it could not resolve.
"""

from __future__ import annotations

import posixpath
import re

from preflight.derive.storage_location import (backing_chain, describe, fact_missing, identity_of, resolve_volume,
                                               where_else)
from preflight.engine.registry import failed, passed, skipped, undecided, warned
from preflight.facts.mountinfo import SHARED_FS_TYPES, find_mount, split_source
from preflight.facts.storage_pool import BLOCK_POOL_TYPES, NETWORK_POOL_TYPES, SHARED_POOL_TYPES

from ._common import is_loopback, where


# --- files ------------------------------------------------------------------------------

def _relative(path: str, m) -> str:
    """Where `path` lies inside the exported tree of mount `m` (its root + the part below the mount point)."""
    rel = posixpath.relpath(posixpath.normpath(path), m.mountpoint)
    return posixpath.normpath(posixpath.join(m.root, rel))


def path_verdict(path, ctx, what: str, label: str, *, readonly: bool = False, local_status=failed,
                 dst_path=None):
    """A file the destination QEMU must open at the same path (or at `dst_path`, where libvirt
    resolves it elsewhere there, e.g. a pool with another target path): on the same share."""
    src_m = find_mount(ctx.source.mounts, path)
    dst_m = find_mount(ctx.destination.mounts, dst_path or path)
    ev = dict(disk=label, source=where(ctx.source, "/proc/self/mountinfo") + "; "
              + where(ctx.destination, "/proc/self/mountinfo"))
    if src_m is None or dst_m is None:
        return undecided(f"{what}: no mount found for {path}", observed=path, **ev)
    if src_m.fstype not in SHARED_FS_TYPES:
        tail = (f"; a read-only image migrates only if an identical copy sits at the same path on "
                f"{ctx.destination.name}, which preflight cannot verify" if readonly
                else ", which libvirt does not treat as shared")
        remedy = (f"Move {path} ({label} of {ctx.domain.name}) onto storage that {ctx.source.name} and "
                  f"{ctx.destination.name} mount identically, or move it once with `virsh migrate "
                  f"--copy-storage-all` (needs a pool for {posixpath.dirname(path)} on {ctx.destination.name})")
        return local_status(f"{what}: {path} is on local storage ({describe(src_m)} on {ctx.source.name}){tail}",
                            observed=describe(src_m), expected="a shared file system (NFS, GlusterFS, CephFS, ...)",
                            details={"remediation": remedy}, **ev)
    ev.update(observed=f"{ctx.destination.name}: {describe(dst_m)}", expected=describe(src_m))
    moved = dst_path is not None and dst_path != path
    if (not moved and dst_m.mountpoint != src_m.mountpoint) or dst_m.fstype not in SHARED_FS_TYPES:
        return failed(f"{what}: {src_m.source} is not mounted at {src_m.mountpoint} on "
                      f"{ctx.destination.name}; {dst_path or path} there is on {describe(dst_m)}",
                      details={"remediation": f"On {ctx.destination.name} mount {src_m.source} ({src_m.fstype}) "
                                              f"at {src_m.mountpoint} as on {ctx.source.name}, persistently "
                                              f"(/etc/fstab or a mount unit)"}, **ev)
    (s_srv, s_exp), (d_srv, d_exp) = split_source(src_m.source), split_source(dst_m.source)
    same_place = (_relative(path, src_m) == _relative(dst_path, dst_m)) if moved else src_m.root == dst_m.root
    if dst_m.fstype != src_m.fstype or s_exp != d_exp or not same_place:
        return failed(f"{what}: {src_m.mountpoint} holds a different share on "
                      f"{ctx.destination.name}: the guest would run on other bytes", **ev)
    if s_srv != d_srv:
        return undecided(f"{what}: {s_exp} comes from {s_srv} on {ctx.source.name} but from "
                         f"{d_srv} on {ctx.destination.name}; cannot prove it is the same server", **ev)
    if not readonly and dst_m.readonly:
        return failed(f"{what} is writable but {dst_m.mountpoint} is mounted read-only on "
                      f"{ctx.destination.name}: the incoming QEMU cannot open it read-write", **ev)
    if not readonly and src_m.readonly:
        # What the destination will open decides. A source mount remounted read-only under a
        # running guest leaves its already-open read-write file usable, and the real migration
        # succeeds; it is worth a warning (the guest's writes may be failing now), not a blocker.
        return warned(f"{what} is writable but {src_m.mountpoint} is mounted read-only on "
                      f"{ctx.source.name} (the running guest keeps the file it opened; "
                      f"{ctx.destination.name}'s mount is read-write)", **ev)
    return passed(f"{what}: {path} is on the same shared {src_m.fstype} on both hosts", **ev)


_URL_NAME = re.compile(r"[a-z][a-z0-9+]*://[^\s]+\Z")


def chain_findings(disk, image: str, ctx) -> list:
    """One finding per backing file of `image` (judged like the disk itself)."""
    files, how = backing_chain(disk, image, ctx.source)
    if files is None:
        return [undecided(f"disk {disk.target}: {how}", observed=image, disk=disk.target,
                          expected="the image's backing chain")]
    out = []
    for depth, backing in enumerate(files, 1):
        what = f"disk {disk.target}: backing file {backing} (depth {depth} under {image})"
        if backing.startswith("/"):
            out.append(path_verdict(backing, ctx, what, disk.target, readonly=True))
        elif not _URL_NAME.match(backing):
            out.append(undecided(f"{what}: the image names a backing file that is neither a local path "
                                 "nor a URL", observed=backing, disk=disk.target, source=how,
                                 expected="an absolute path or a network URL"))
        else:
            out.append(passed(f"{what} is opened by QEMU over the network", observed=backing,
                              disk=disk.target, source=how))
    return out


# --- network disks --------------------------------------------------------------------------

def network_verdict(disk, ctx):
    hosts = [h.socket or h.name for h in disk.hosts]
    ev = dict(observed=disk.label, source=where(ctx.source, "domain XML <disk><source><host>"))
    if any(h.transport == "unix" or is_loopback(h.name) for h in disk.hosts):
        return failed(f"disk {disk.target}: {disk.protocol} server {', '.join(hosts)} is the source "
                      f"host itself (loopback/unix socket); on {ctx.destination.name} it names another "
                      "machine or nothing", expected="a server address valid from every host", disk=disk.target, **ev)
    if not hosts and disk.protocol not in ("rbd",):
        return undecided(f"disk {disk.target}: {disk.protocol} disk names no server", disk=disk.target, **ev)
    return passed(f"disk {disk.target}: network disk {disk.label}, opened by QEMU itself on the "
                  "destination (whether the destination reaches the server: storage.portal_reachable)",
                  disk=disk.target, **ev)


# --- block devices ------------------------------------------------------------------------


_BY_PATH_ISCSI = re.compile(r"^ip-(?P<portal>.+?)-iscsi-(?P<iqn>.+)-lun-(?P<lun>\d+)$")


def _san_hint(host, path) -> str:
    """For an iSCSI by-path name: whether `host` is logged in to that target at all."""
    m = _BY_PATH_ISCSI.match(posixpath.basename(path)) if path.startswith("/dev/disk/by-path/") else None
    if not m or host.block is None or host.block.iscsi is None:
        return ""
    logged = [s for s in host.block.iscsi if s.target == m.group("iqn") and s.state == "LOGGED_IN"]
    return "" if logged else f"; {host.name} has no logged-in iSCSI session to {m.group('iqn')}"


def _san_details(host) -> dict:
    block = host.block
    if block is None:
        return {}
    details = {}
    if block.iscsi is not None:
        details["iscsi_sessions"] = [f"{s.target} via {s.portal} ({s.state})" for s in block.iscsi]
    if block.fc_ports:
        details["fc_ports"] = dict(block.fc_ports)
    return details


def block_verdict(path, ctx, what: str, label: str):
    """The same LUN at the same path on both hosts (WWID / WWN / serial from lsblk + multipath)."""
    src_id, src_k, how, why = identity_of(ctx.source, path)
    ev = dict(disk=label, source=where(ctx.source, "lsblk, /dev/disk/by-*, multipath -ll") + "; "
              + where(ctx.destination, "lsblk, /dev/disk/by-*, multipath -ll"))
    if src_id is None:
        return undecided(f"{what}: cannot identify the LUN behind {path}: {why}", observed=path, **ev)
    expected = f"{src_id[0]} {src_id[1]}"
    dst_id, dst_k, _, dwhy = identity_of(ctx.destination, path)
    if dst_id is None and dst_k is None and ctx.destination.block is not None:
        elsewhere = where_else(ctx.destination.block, src_id)
        hint = (f"; the LUN is visible there as {', '.join(sorted(elsewhere))}, but not under this path"
                if elsewhere else f"; no device with {expected} on {ctx.destination.name}")
        return failed(f"{what}: {dwhy}{hint}{_san_hint(ctx.destination, path)}",
                      observed=f"{ctx.destination.name}: {path} absent", expected=expected,
                      details=_san_details(ctx.destination), **ev)
    if dst_id is None:
        return undecided(f"{what}: cannot identify {path} on {ctx.destination.name}: {dwhy}",
                         expected=expected, **ev)
    ev.update(observed=f"{ctx.destination.name}: {dst_id[0]} {dst_id[1]} ({dst_k})", expected=expected)
    if dst_id != src_id:
        return failed(f"{what}: {path} is a different device on {ctx.destination.name} "
                      f"({dst_id[0]} {dst_id[1]}) than on {ctx.source.name} ({expected})", **ev)
    if how == "kernel device name":
        return warned(f"{what}: {path} is the same LUN on both hosts today ({expected}), but kernel "
                      "names like /dev/sdX change with discovery order and reboots", **ev)
    return passed(f"{what}: {path} is the same LUN ({expected}) on both hosts", **ev)


# --- pool volumes -----------------------------------------------------------------------------


def volume_findings(disk, ctx) -> list:
    label, src_where = disk.target, where(ctx.source, "virStoragePoolGetXMLDesc, virStorageVolGetPath")
    pool, path, why = resolve_volume(disk, ctx.source)
    if path is None:
        return [undecided(f"disk {label}: cannot resolve {disk.label}: {why}", observed=disk.label,
                          disk=label, source=src_where)]
    what = f"disk {label} ({pool.type} pool {pool.name}, volume {disk.volume} = {path})"
    dmiss = fact_missing(ctx.destination, "pools")
    if dmiss:
        return [undecided(f"{what}: storage pools of {ctx.destination.name} unknown: {dmiss}", disk=label)]
    dpool = ctx.destination.pools.get(pool.name)
    ev = dict(disk=label, source=src_where + "; " + where(ctx.destination, "virStoragePoolGetXMLDesc"),
              expected=f"pool {pool.name}: {pool.source_identity}")
    if dpool is None or not dpool.active:
        state = "is not defined" if dpool is None else "is defined but not active"
        return [failed(f"{what}: pool {pool.name} {state} on {ctx.destination.name}; libvirt looks the "
                       "volume up by pool name there", observed=f"{ctx.destination.name}: no active pool {pool.name}", **ev)]
    if dpool.source_identity != pool.source_identity:
        same_but_server = (dpool.source_identity[0], *dpool.source_identity[2:]) == \
            (pool.source_identity[0], *pool.source_identity[2:])
        verdict = undecided if same_but_server else failed
        tail = ("names its server differently: cannot prove it is the same server" if same_but_server
                else "is other storage")
        return [verdict(f"{what}: pool {pool.name} on {ctx.destination.name} {tail}",
                        observed=f"{ctx.destination.name}: {dpool.source_identity}", **ev)]
    if pool.type in NETWORK_POOL_TYPES:
        return [passed(f"{what}: the same {pool.type} pool on both hosts, opened by QEMU over the network",
                       observed=f"{ctx.destination.name}: {dpool.source_identity}", **ev)]
    if pool.type == "netfs":                  # an active netfs pool has mounted that same export itself
        return [passed(f"{what}: the same netfs pool (same server and export) on both hosts",
                       observed=f"{ctx.destination.name}: {dpool.source_identity}", **ev),
                *chain_findings(disk, path, ctx)]
    if path.startswith("/dev/"):
        if pool.type in BLOCK_POOL_TYPES - SHARED_POOL_TYPES - {"scsi", "mpath"}:
            return [failed(f"{what}: a {pool.type} pool is host-local block storage", observed=path, disk=label,
                           source=src_where, expected="a pool on shared storage (netfs, iscsi, rbd, gluster, ...)")]
        return [block_verdict(path, ctx, what, label)]
    dst_path = None
    if pool.target_path and dpool.target_path and pool.target_path != dpool.target_path and \
            path.startswith(pool.target_path.rstrip("/") + "/"):
        dst_path = dpool.target_path.rstrip("/") + path[len(pool.target_path.rstrip("/")):]
    return [path_verdict(path, ctx, what, label, readonly=disk.readonly, dst_path=dst_path),
            *chain_findings(disk, path, ctx)]


# --- NVRAM and TPM state --------------------------------------------------------------------

def nvram_verdict(dom, ctx):
    what = f"UEFI NVRAM {dom.nvram}"
    return path_verdict(dom.nvram, ctx, what, "nvram", local_status=lambda msg, **kw: warned(
        msg.replace(", which libvirt does not treat as shared", "") + "; libvirt does not copy NVRAM: the "
        "destination uses its own file at that path (made from the template if missing), so UEFI "
        "variables written after the migration diverge between hosts", **kw))


def tpm_verdict(tpm, ctx):
    if tpm.backend == "passthrough":
        return failed("TPM passthrough: QEMU blocks migration of a guest using the host's TPM",
                      observed="<tpm><backend type='passthrough'>", disk="tpm",
                      source=where(ctx.source, "domain XML <tpm>"), expected="an emulated TPM (swtpm)")
    if tpm.backend != "emulator":
        return undecided(f"TPM backend {tpm.backend}: preflight cannot judge it", disk="tpm")
    if not tpm.state_path:
        return undecided("TPM emulator: its swtpm state directory is unknown (no domain UUID)", disk="tpm")
    m = find_mount(ctx.source.mounts, tpm.state_path)
    if m is None:
        return undecided(f"TPM state {tpm.state_path}: no mount found", disk="tpm")
    ev = dict(disk="tpm", observed=describe(m), source=where(ctx.source, "/proc/self/mountinfo"))
    if m.fstype in SHARED_FS_TYPES:
        return warned(f"TPM state {tpm.state_path} is on shared storage ({describe(m)}): source and "
                      "destination swtpm then use the same files; this needs libvirt and swtpm support for "
                      "TPM state on shared storage, otherwise keep it local", **ev)
    return passed(f"TPM state {tpm.state_path} is local ({describe(m)}); QEMU carries the swtpm state "
                  "in the migration stream", **ev)


# --- cache mode (libvirt qemuMigrationSrcIsSafe) ------------------------------------------


def copied(disk, flags) -> bool:
    """Whether a planned --copy-storage-* copies this disk: libvirt's default set (qemuMigrationAnyCopyDisk,
    no --migrate-disks) is every disk that is not <shareable/>, not read-only and has a source."""
    return flags is not None and flags.copy_storage and not (disk.shareable or disk.readonly or disk.empty)


def skipped_disk(disk, why: str):
    return skipped(f"disk {disk.target}: {why}", disk=disk.target)
