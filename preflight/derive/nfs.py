"""Which NFS export a disk uses, how its host is seen by the server (client addresses and names),
and what `showmount -e` run from a host says: the derived facts of the NFS checks."""

from __future__ import annotations

import ipaddress
import posixpath
from dataclasses import dataclass
from typing import Optional

from preflight.facts.mountinfo import find_mount, split_source

NFS_FS_TYPES = ("nfs", "nfs4")
# QEMU's own NFS client (block/nfs.c, libnfs) speaks NFSv3 only.
QEMU_NFS_VERSION = "3"


@dataclass(frozen=True)
class NfsUse:
    """How one host reaches one disk over NFS."""

    server: str                       # as the mount source / disk <host name> says
    path: str                         # the path the client asks the server for
    version: Optional[str]            # "3", "4.2", ... (None = unknown)
    via: str                          # "mount nas:/vol0 at /srv/vmstore" or "QEMU's NFS client"
    server_addr: Optional[str] = None  # mount option addr=
    client_addr: Optional[str] = None  # mount option clientaddr= (NFSv4)


def _opt(mount, key):
    for o in mount.super_options + mount.options:
        if o.startswith(key + "="):
            return o.split("=", 1)[1]
    return None


def nfs_use(disk, host) -> Optional[NfsUse]:
    """The NFS use of `disk` on `host`, or None when the disk is not on NFS there."""
    if disk.type == "network" and disk.protocol == "nfs" and disk.hosts:
        return NfsUse(server=disk.hosts[0].name, path="/" + (disk.name or "").lstrip("/"),
                      version=QEMU_NFS_VERSION, via="QEMU's own NFS client (NFSv3)")
    if disk.type in ("file", "dir") and disk.path:
        m = find_mount(host.mounts, disk.path)
        if m is None or m.fstype not in NFS_FS_TYPES:
            return None
        server, export = split_source(m.source)
        rel = posixpath.relpath(posixpath.normpath(disk.path), m.mountpoint)
        path = posixpath.normpath(posixpath.join(export, m.root.lstrip("/"), "" if rel == "." else rel))
        version = _opt(m, "vers") or ("4" if m.fstype == "nfs4" else None)
        return NfsUse(server=(server or "?").strip("[]"), path=path, version=version,
                      via=f"{m.fstype} mount {m.source} at {m.mountpoint}",
                      server_addr=_opt(m, "addr"), client_addr=_opt(m, "clientaddr"))
    return None


def storage_host_ids(sh) -> set:
    ids = {sh.name.lower()}
    for n in (sh.hostname, sh.fqdn, sh.address):
        if n:
            ids.add(n.lower())
            if not parse_ip(n):
                ids.add(n.lower().split(".")[0])
    ids.update(a.split("/")[0] for a in sh.addresses)
    return ids


def parse_ip(text):
    try:
        return ipaddress.ip_address(str(text).strip("[]"))
    except ValueError:
        return None


def client_addresses(host, sh, use: NfsUse) -> tuple:
    """(addresses, how they were chosen): clientaddr= when the mount says it, else the host's
    addresses on a subnet of the server, else all its non-loopback addresses (routing unknown)."""
    if use.client_addr and parse_ip(use.client_addr):
        return (use.client_addr,), "clientaddr= of the mount"
    servers = [ip for ip in (parse_ip(a.split("/")[0]) for a in sh.addresses) if ip]
    if use.server_addr and parse_ip(use.server_addr):
        servers.append(parse_ip(use.server_addr))
    mine, near = [], []
    for iface in host.interfaces.values():
        for a in iface.addresses:
            try:
                net = ipaddress.ip_interface(a)
            except ValueError:
                continue
            if net.ip.is_loopback or net.ip.is_link_local:
                continue
            mine.append(str(net.ip))
            if any(s.version == net.version and s in net.network for s in servers):
                near.append(str(net.ip))
    if near:
        return tuple(near), f"{host.name}'s address on {sh.name}'s subnet"
    return tuple(mine), f"all of {host.name}'s addresses (none shares a subnet with {sh.name}: routing unknown)"


def client_names(host) -> tuple:
    return tuple(dict.fromkeys(n for n in (host.name, host.hostname, host.fqdn, host.libvirt_hostname) if n))


# --- the destination's own view: `showmount -e SERVER` run FROM it (pair phase) -------------

def _covers(listed: str, path: str) -> bool:
    from preflight.facts.exports import _within
    return _within("/" + path.strip("/"), "/" + listed.strip("/"))


def showmount_view(host, use: NfsUse, export_path: Optional[str] = None) -> tuple:
    """(kind, text, listed exports) of `showmount -e` of use.server as run from `host`.

    kind: "listed" (an export covering the path is in the list), "missing" (the server answered
    and no listed export covers the path: decisive), "absent" (tool not installed), "unknown"
    (not gathered, no answer, or not decisive). `export_path`: the server-side export's real
    path when the server's export table is known, else use.path. "missing" is decisive for
    NFSv3 uses only (QEMU's own NFS client, vers=3 mounts): the MOUNT protocol is NFSv3's."""
    cmd = f"`showmount -e {use.server}` from {host.name}"
    views = getattr(host, "nfs_showmount", None)
    if views is None:
        return "unknown", f"{cmd}: not gathered (pair phase not run, or a recording made before it existed)", ()
    view = views.get(use.server.lower())
    if view is None:
        return "unknown", f"{cmd}: not run (server not in this host's listing)", ()
    if view.status == "absent":
        return "absent", f"{cmd}: showmount is not installed (nfs-common)", ()
    if view.status != "listed":
        return "unknown", f"{cmd}: no export list ({view.status}: {view.detail or '?'})", ()
    listed = view.exports
    shown = ", ".join(p + (f" ({','.join(g)})" if g else "") for p, g in listed) or "an empty list"
    path = export_path or use.path
    hit = next(((p, g) for p, g in listed if _covers(p, path)), None)
    if hit is not None:
        return "listed", f"{cmd} lists {hit[0]} ({','.join(hit[1]) or 'no client list'})", listed
    v3 = bool(use.version) and use.version.startswith("3")
    if not v3:
        return "unknown", (f"{cmd} lists {shown}; none covers {path}, but that is not decisive for "
                           f"NFSv{use.version or '?'}: the MOUNT protocol serves NFSv3 clients (an NFSv4 "
                           "client asks by pseudo path, and a server may leave v4-only exports out)"), listed
    return "missing", f"{cmd} answered with {shown}: nothing covering {path}", listed


def groups_admit(groups: tuple, host) -> Optional[str]:
    """How showmount's client list admits `host` ("" = it does not, None = cannot tell)."""
    from preflight.facts.exports import spec_matches
    if not groups or any(g.strip("()").lower() in ("everyone", "*") for g in groups):
        return "listed for everyone"
    names = client_names(host)
    addrs = [a.split("/")[0] for i in host.interfaces.values() for a in i.addresses
             if not a.startswith(("127.", "::1", "fe80"))]
    undecided_seen = False
    for g in groups:
        if spec_matches(g, names, None):
            return f"client list entry {g} names {host.name}"
        hits = [spec_matches(g, (), a) for a in addrs]
        if addrs and all(hits):
            return f"client list entry {g} covers every address of {host.name}"
        if any(h is None for h in hits) or any(hits):
            undecided_seen = True
    return None if undecided_seen else ""
