"""libvirt storage pool XML -> StoragePool. Pure."""

from __future__ import annotations

import posixpath

from preflight.facts.models import StoragePool
from preflight.facts.xmlsafe import parse_xml

__all__ = ["parse_pool_xml", "SHARED_POOL_TYPES", "LOCAL_POOL_TYPES", "BLOCK_POOL_TYPES", "NETWORK_POOL_TYPES"]

# Storage that every host reaches over the network by itself (the pool's source names a server).
SHARED_POOL_TYPES = frozenset({"netfs", "gluster", "rbd", "iscsi", "iscsi-direct", "sheepdog", "vstorage"})
# Local unless the pool's target path is on a shared mount.
LOCAL_POOL_TYPES = frozenset({"dir", "fs", "logical", "disk", "zfs"})
# Pools whose volumes are host block devices (a SAN LUN can still be shared: judged by identity).
BLOCK_POOL_TYPES = frozenset({"logical", "disk", "iscsi", "scsi", "mpath", "zfs"})
# Pools whose volumes QEMU opens over the network (libvirt: a network disk, always "safe").
NETWORK_POOL_TYPES = frozenset({"gluster", "rbd", "iscsi-direct", "sheepdog"})


def parse_pool_xml(xml: str, *, active: bool = True) -> StoragePool:
    root = parse_xml(xml, "storage pool XML")
    if root.tag != "pool":
        raise ValueError(f"storage pool XML has root <{root.tag}>, expected <pool>")
    name = (root.findtext("name") or "").strip()
    if not name:
        raise ValueError("storage pool XML has no <name>")
    src = root.find("source")
    hosts, devices, sdir, sname, adapter, fmt = (), (), None, None, None, None
    if src is not None:
        hosts = tuple(h.get("name") for h in src.findall("host") if h.get("name"))
        devices = tuple(d.get("path") for d in src.findall("device") if d.get("path"))
        d = src.find("dir")
        sdir = posixpath.normpath(d.get("path")) if d is not None and d.get("path") else None
        sname = (src.findtext("name") or "").strip() or None
        a = src.find("adapter")
        if a is not None:
            adapter = a.get("name") or a.get("wwpn") or a.get("parent") or a.get("type")
        f = src.find("format")
        fmt = f.get("type") if f is not None else None
    target = (root.findtext("target/path") or "").strip()
    return StoragePool(name=name, type=root.get("type") or "?", active=active,
                       target_path=("/" + posixpath.normpath(target).lstrip("/")) if target else None,
                       source_hosts=hosts, source_dir=sdir, source_name=sname, source_devices=devices,
                       source_adapter=adapter, source_format=fmt)
