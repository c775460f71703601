"""What QEMU's user may open, which cluster stack a file system needs and whether it runs, which
libvirt secret a disk references: derived facts of storage.cluster_fs, storage.qemu_write_access and
storage.disk_secrets.

Pure functions over typed facts; none of them can PASS what it could not resolve.
"""

from __future__ import annotations

import posixpath

from preflight.derive.storage_location import actual_storage, fact_missing
from preflight.facts.mountinfo import SHARED_FS_TYPES, find_mount

# File systems on which root's chown may be refused (root_squash, CIFS without unix extensions):
# libvirt's DAC driver then logs it and goes on, so the image keeps its current owner.
CHOWN_MAY_FAIL = ("nfs", "nfs4", "cifs", "smb3", "smbfs")


def writable_file_disks(dom, host, *, include_readonly: bool = False) -> list:
    """(disk, path or None, why) of every writable (or, with include_readonly, any), non-empty
    disk/lun/cdrom/floppy backed by a file on `host`."""
    out = []
    for disk in dom.disks:
        if disk.empty or disk.type not in ("file", "volume"):
            continue
        if not include_readonly and (disk.readonly or disk.device not in ("disk", "lun")):
            continue
        kind, path, why = actual_storage(disk, host)
        if kind is None:
            out.append((disk, None, why))
        elif kind == "file" and path:
            out.append((disk, path, None))
    return out


# --- file-system identity ------------------------------------------------------------------

def fs_identity(host, m) -> tuple:
    """(uuid, device, None) of the file system behind mount `m` on `host`, or (None, device, why):
    the device by mountinfo's major:minor in lsblk (else by the mount source), its UUID from lsblk
    (udev) or from `blkid -o export` (libblkid probe)."""
    block, ids = host.block, host.fs_ids or {}
    dev = None
    if block is not None:
        dev = next((d for d in block.devices.values() if d.maj_min and d.maj_min == m.major_minor), None) or \
            next((d for d in block.devices.values() if m.source in (d.path, f"/dev/{d.kname}")), None)
    names = [n for n in ((dev.path or f"/dev/{dev.kname}") if dev else None, m.source) if n]
    uuid = (dev.uuid.lower() if dev is not None and dev.uuid else None) or \
        next((ids[n][1] for n in names if n in ids and ids[n][1]), None)
    if uuid:
        return uuid, names[0], None
    gaps = [f"{k}: {fact_missing(host, k)}" for k in ("block", "blkid") if fact_missing(host, k)]
    return None, names[0] if names else None, (
        f"no file-system UUID for {' / '.join(names) or m.source} ({m.major_minor}) on {host.name} in lsblk or "
        "blkid" + (f" ({'; '.join(gaps)})" if gaps else ""))


# --- cluster stack ---------------------------------------------------------------------------

_UNIT_OF = {"dlm_controld": "dlm", "corosync": "corosync"}


def daemon_state(stack, name: str) -> tuple:
    """('running'|'stopped'|'unknown', how): /proc scan first, then systemd's unit state."""
    if stack.proc_readable:
        if name in stack.processes:
            return "running", f"process {name} seen in /proc"
        return "stopped", f"no process {name} in /proc"
    unit = _UNIT_OF.get(name)
    state = stack.units.get(unit) if unit else None
    if state == "active":
        return "running", f"systemctl is-active {unit}: active"
    if state in ("inactive", "failed", "dead"):
        return "stopped", f"systemctl is-active {unit}: {state}"
    return "unknown", (f"/proc hides other processes and systemctl says {state!r} for {unit}" if stack.units
                       else "/proc hides other processes and there is no systemctl")


def stack_needs(fstype: str, stack) -> tuple:
    """(daemons needed, o2cb needed, why unknown or None) for a cluster fs on a host."""
    if fstype == "gfs2":
        return ("dlm_controld", "corosync"), False, None
    if stack.ocfs2_stack is None:
        return (), False, "/sys/fs/ocfs2/cluster_stack is absent (ocfs2 stack glue not loaded?)"
    if stack.ocfs2_stack == "o2cb":
        return (), True, None
    return ("dlm_controld", "corosync"), False, None        # pcmk / cman: the userspace stack


# --- POSIX permissions -------------------------------------------------------------------------

def may(st, cred, bit: int) -> bool:
    """Whether `cred` gets `bit` (4 r, 2 w, 1 x) on `st` by owner/group/other bits. A root QEMU
    keeps CAP_DAC_OVERRIDE only with clear_emulator_capabilities = 0 (libvirt drops all
    capabilities of the emulator by default), so it is judged like any uid otherwise."""
    if cred.uid == 0 and cred.keeps_caps:
        return bit != 1 or st.kind != "regular file" or bool(st.mode & 0o111)
    if st.uid == cred.uid:
        return bool(st.mode & (bit << 6))
    if st.gid in cred.groups:
        return bool(st.mode & (bit << 3))
    return bool(st.mode & bit)


def fmt_stat(st) -> str:
    return f"{st.path} {st.uid}:{st.gid} {st.mode:04o}"


def directory_chain(path: str, src, dst, dst_mount) -> tuple:
    """Stats of every directory QEMU on `dst` must search to reach `path`: those at or above the
    destination's mount point from the destination's own stat, those below from the source's
    (the same shared directories). -> (list of FileStat, None) or (None, why)."""
    out, d = [], posixpath.dirname(posixpath.normpath(path))
    comps = []
    while True:
        comps.append(d)
        if d == "/":
            break
        d = posixpath.dirname(d)
    mp = dst_mount.mountpoint
    for c in comps:
        inside = c != mp and (c + "/").startswith(mp.rstrip("/") + "/")
        st = (src.file_stats.get(c) if inside else dst.file_stats.get(c) or
              (src.file_stats.get(c) if c == mp else None))
        if st is None:
            host = src if inside else dst
            why = fact_missing(host, "image_access") or "it was not stat'ed"
            return None, f"no stat of {c} on {host.name}: {why}"
        out.append(st)
    return out, None


def on_shared(path, src, dst) -> tuple:
    """(source mount, destination mount, None) when `path` is on the same shared mount point on
    both hosts, else (.., .., why it is not this check's business)."""
    sm, dm = find_mount(src.mounts, path), find_mount(dst.mounts, path)
    if sm is None or sm.fstype not in SHARED_FS_TYPES:
        return sm, dm, "local storage (storage.shared)"
    if dm is None or dm.mountpoint != sm.mountpoint or dm.fstype not in SHARED_FS_TYPES:
        return sm, dm, f"{sm.mountpoint} is not the same share on {dst.name} (storage.shared)"
    return sm, dm, None


# --- secrets ---------------------------------------------------------------------------------------

def find_secret(disk, secrets) -> list:
    """Destination secrets matching the disk's <auth><secret> reference (uuid or usage + type)."""
    ref = (disk.auth_secret or "").strip()
    by = disk.auth_secret_by
    hits = []
    for s in secrets:
        if by in (None, "uuid") and s.uuid and s.uuid.lower() == ref.lower():
            hits.append(s)
        elif by in (None, "usage") and s.usage_id == ref and (
                not disk.auth_secret_type or not s.usage_type or s.usage_type == disk.auth_secret_type):
            hits.append(s)
    return hits
