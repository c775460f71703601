"""Where a disk lives on a host: the mount a file is on, the LUN behind a block path, the pool
volume behind a <disk type='volume'>, the backing chain of an image. Shared by storage.shared,
the storage checks around it and the disk inventory (preflight.engine.disks), so the inventory
shows what the checks saw.
"""

from __future__ import annotations

import posixpath

from preflight.derive.source import where
from preflight.facts.blockdev import lun_identity, resolve_block_path
from preflight.facts.qemu_img import CHAIN_FORMATS
from preflight.facts.storage_pool import NETWORK_POOL_TYPES


def describe(m) -> str:
    return f"{m.fstype} {m.source} at {m.mountpoint}" + (" (ro)" if m.readonly else "")


def fact_missing(host, key):
    """The reason `key` is missing on `host`, or None."""
    return host.fact_errors.get(key)


def backing_chain(disk, image: str, host) -> tuple:
    """(backing files, where from) of `image`, top's backing first, or (None, why unknown).

    The <backingStore> chain libvirt recorded in the live XML first (libvirt built it when it
    opened the images: nothing guest-controlled is probed); else qemu-img's answer (2nd exec,
    asked only then); a raw image (or no format: libvirt does not probe), a cdrom or a floppy has
    none: a chain "found" in one (an old recording's) would be forged by the guest."""
    if disk.backing is not None:
        return disk.backing, where(host, "live domain XML <backingStore>")
    if (disk.format or "raw") not in CHAIN_FORMATS or disk.device in ("cdrom", "floppy"):
        return (), None
    chain = host.disk_chains.get(image)
    if chain is not None:
        if chain.error:
            return None, f"qemu-img could not read the chain of {image} on {host.name}: {chain.error}"
        return tuple(posixpath.normpath(f) if f.startswith("/") else f for f in chain.backing_files), \
            where(host, f"qemu-img info --backing-chain {image}")
    why = fact_missing(host, "chains") or "qemu-img was not asked about it"
    return None, f"the backing chain of {disk.format} image {image} is unknown on {host.name} ({why})"


def identity_of(host, path):
    """(identity, kname, how, None) or (None, kname, how, why)."""
    block = host.block
    if block is None:
        return None, None, None, f"no block-device inventory on {host.name}: {fact_missing(host, 'block') or 'not gathered'}"
    kname, how = resolve_block_path(block, path)
    if kname is None:
        extra = "; ".join(f"{k}: {v}" for k, v in block.errors.items())
        return None, None, how, f"{path} does not exist on {host.name} (no {how} of that name)" + \
            (f" [incomplete listings: {extra}]" if extra else "")
    ident = lun_identity(block, kname)
    if ident is None:
        return None, kname, how, f"{path} ({kname}) on {host.name} reports no WWN, WWID or serial"
    return ident, kname, how, None


def where_else(block, identity) -> list:
    """Names under which a host sees a LUN (to tell "absent" from "under another name")."""
    names = [f"/dev/mapper/{m.name} ({m.dm})" for m in (block.multipath or {}).values()
             if m.dm and lun_identity(block, m.dm) == identity]
    dms = {m.dm for m in (block.multipath or {}).values()}
    names += [f"/dev/{k}" for k in block.devices if k not in dms and lun_identity(block, k) == identity]
    return names


def resolve_volume(disk, host) -> tuple:
    """(pool, path, None) or (None, None, why) for a <disk type='volume'> on `host`."""
    missing = fact_missing(host, "pools") or fact_missing(host, f"pool:{disk.pool}")
    if missing:
        return None, None, f"storage pools of {host.name} unknown: {missing}"
    pool = host.pools.get(disk.pool)
    if pool is None:
        return None, None, f"{host.name} has no storage pool named {disk.pool!r}"
    vol = host.volumes.get((disk.pool, disk.volume))
    if vol is None or vol.error or not vol.path:
        why = vol.error if vol is not None and vol.error else "its path was not gathered"
        return pool, None, f"volume {disk.volume!r} of pool {disk.pool!r} on {host.name}: {why}"
    return pool, vol.path, None


def actual_storage(disk, host) -> tuple:
    """libvirt's actual storage type of a disk: ('file'|'block'|'network'|'nvme'|..., path, why)."""
    if disk.type == "volume":
        pool, path, why = resolve_volume(disk, host)
        if path is None:
            return None, None, why
        if pool.type in NETWORK_POOL_TYPES:
            return "network", path, None
        return ("block" if path.startswith("/dev/") else "file"), path, None
    return disk.type, disk.path, None
