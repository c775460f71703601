"""/proc/self/mountinfo parsing and the mount lookup the storage checks rely on.

Format (proc(5)): ``ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER``.
The optional fields (shared:N, master:N, propagate_from:N, unbindable) run up to a lone ``-``.
The kernel escapes space, tab, newline and backslash in paths as octal (``\\040`` ...).
"""

from __future__ import annotations

import posixpath
import re
from typing import Iterable, Optional

from preflight.facts.models import Mount

# File system types libvirt treats as shared (src/util/virfile.c, virFileIsSharedFS): by
# superblock magic NFS, GFS2, OCFS2, AFS, SMB/CIFS, Ceph, GPFS, ACFS, BeeGFS; FUSE only for
# glusterfs and quobyte. Named here as they appear in mountinfo's fstype column.
SHARED_FS_TYPES = frozenset({"nfs", "nfs4", "gfs2", "ocfs2", "afs", "smbfs", "smb3", "cifs", "ceph",
                             "gpfs", "acfs", "beegfs", "fuse.glusterfs", "fuse.quobyte"})
# Coherent cluster file systems (virFileIsClusterFS): safe with any cache mode.
CLUSTER_FS_TYPES = frozenset({"gfs2", "ocfs2"})

_OCTAL = re.compile(r"\\([0-7]{3})")


class MountinfoError(ValueError):
    pass


def unescape(field: str) -> str:
    """Undo the kernel's octal escapes: ``/srv/vm\\040store`` -> ``/srv/vm store``."""
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo_line(line: str) -> Mount:
    fields = line.split(" ")
    try:
        sep = fields.index("-", 6)
    except ValueError:
        raise MountinfoError(f"no ' - ' separator in mountinfo line: {line!r}") from None
    if sep < 6:
        raise MountinfoError(f"too few fields before the separator: {line!r}")
    rest = " ".join(fields[sep + 1:]).split(" ", 2)
    if len(rest) < 2:
        raise MountinfoError(f"no file system type/source after the separator: {line!r}")
    fstype, source = rest[0], rest[1]
    super_options = rest[2] if len(rest) > 2 else ""
    try:
        mount_id, parent_id = int(fields[0]), int(fields[1])
    except ValueError:
        raise MountinfoError(f"mount ids are not numbers: {line!r}") from None
    return Mount(
        mount_id=mount_id, parent_id=parent_id, major_minor=fields[2],
        root=unescape(fields[3]), mountpoint=unescape(fields[4]),
        options=tuple(o for o in fields[5].split(",") if o),
        fstype=fstype, source=unescape(source),
        super_options=tuple(o for o in super_options.split(",") if o),
    )


def parse_mountinfo(text: str) -> tuple:
    """All mounts, in file order (later lines are mounted on top of earlier ones).

    Strict on purpose: a malformed line (e.g. a truncated capture) raises MountinfoError,
    because the one line we cannot read may be the share a disk lives on.
    """
    if text is None or not text.strip():
        raise MountinfoError("mountinfo is empty")
    return tuple(parse_mountinfo_line(line) for line in text.splitlines() if line.strip())


def _within(path: str, mountpoint: str) -> bool:
    if mountpoint == "/":
        return path.startswith("/")
    return path == mountpoint or path.startswith(mountpoint.rstrip("/") + "/")


def _longest_prefix(mounts, path: str) -> Optional[Mount]:
    best = None
    for mount in mounts:
        if _within(path, mount.mountpoint):
            if best is None or len(mount.mountpoint) >= len(best.mountpoint):
                best = mount
    return best


def _tree(mounts):
    """(root, children by parent id) of a table that is one complete tree, else None."""
    ids = {m.mount_id for m in mounts}
    roots = [m for m in mounts if m.mountpoint == "/" and m.parent_id not in ids]
    orphans = [m for m in mounts if m.parent_id not in ids and m.mountpoint != "/"]
    if len(roots) != 1 or orphans:
        return None
    children: dict = {}
    for index, mount in enumerate(mounts):
        children.setdefault(mount.parent_id, []).append((index, mount))
    return roots[0], children


def _walk_tree(mounts, path: str, tree=False) -> Optional[Mount]:
    """Resolve `path` as the kernel does: from the root mount, step into the child mount met
    first along the path (shortest mount point), and to the top of a stack at the same point.
    None when the table is not one complete tree (then the caller falls back)."""
    tree = _tree(mounts) if tree is False else tree
    if tree is None:
        return None
    root, children = tree
    current, seen = root, set()
    while current.mount_id not in seen:
        seen.add(current.mount_id)
        candidates = [(len(m.mountpoint), index, m) for index, m in children.get(current.mount_id, ())
                      if _within(path, m.mountpoint) and len(m.mountpoint) >= len(current.mountpoint)]
        if not candidates:
            return current
        shortest = min(length for length, _, _ in candidates)
        current = max((c for c in candidates if c[0] == shortest), key=lambda c: c[1])[2]
    return None   # a cycle: not a real table


def find_mount(mounts: Iterable[Mount], path: str) -> Optional[Mount]:
    """The mount a path lives on.

    Walks the mount tree (parent ids) so that a mount hidden by a later mount on one of its
    parent directories is not reported; when several mounts are stacked on one mount point,
    the top (last) one wins. If the table is not one complete tree (an excerpt, a chroot),
    falls back to the longest mount point that is a path-component prefix, last entry
    winning on ties. Symlinks cannot be resolved from a recorded table: the path is only
    normalised (``//``, ``.``, ``..``).
    """
    if not path or not path.startswith("/"):
        return None
    norm = "/" + posixpath.normpath(path).lstrip("/")
    if not isinstance(mounts, tuple):
        mounts = tuple(mounts)
        return _walk_tree(mounts, norm) or _longest_prefix(mounts, norm)
    # A host's table (a tuple) is asked about the same few paths for every guest and destination:
    # its tree is built once and every answer kept, while that very tuple is alive.
    entry = _CACHE.get(id(mounts))
    if entry is None or entry[0] is not mounts:
        if len(_CACHE) >= 4096:
            _CACHE.clear()
        entry = _CACHE[id(mounts)] = (mounts, _tree(mounts), {})
    answers = entry[2]
    if norm not in answers:
        answers[norm] = _walk_tree(mounts, norm, entry[1]) or _longest_prefix(mounts, norm)
    return answers[norm]


# id(table) -> (the table itself, its tree, {path: mount}); the table is held, so its id stays its own
_CACHE: dict = {}


def split_source(source: str):
    """('server', '/export') for 'nas:/vol0', '//srv/share', 'mon1,mon2:/'; (None, source) otherwise."""
    if source.startswith("//"):
        server, _, share = source[2:].partition("/")
        return server.lower(), "/" + share.rstrip("/")
    if ":/" in source and not source.startswith("/"):
        server, _, export = source.rpartition(":/")
        return server.lower(), "/" + export.rstrip("/")
    return None, source.rstrip("/") or source


def nfs_mount_servers(mountinfo_text, with_addresses: bool = False) -> set:
    """NFS server names in a raw /proc/self/mountinfo (and, with_addresses, the `addr=` each
    mount resolved to). An unparsable table names no server: its parse error is reported by
    the host's own facts, not here."""
    try:
        mounts = parse_mountinfo(mountinfo_text) if mountinfo_text else ()
    except ValueError:
        return set()
    servers = set()
    for m in mounts:
        if m.fstype not in ("nfs", "nfs4"):
            continue
        server, _ = split_source(m.source)
        if server:
            servers.add(server.strip("[]"))
        if with_addresses:
            servers.update(opt[5:].lower() for opt in m.super_options if opt.startswith("addr="))
    return servers
