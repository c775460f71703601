"""The per-domain disk inventory of a run: every disk of every running guest, what storage it
is on, what that storage is on the source and on each other hypervisor, and the storage verdict
for that disk on that destination.

Pure: built from parsed facts and the check results, no connections. The storage identity is
resolved with the same derived facts storage.shared judges by (preflight.derive.storage_location:
find_mount and describe for files, the lsblk/multipath LUN identity for block paths, the pool lookup for
volumes, the backing chain), so the inventory shows what the checks saw.

The verdict of a disk on a destination is the worst status of the storage-category results
(check ids ``storage.*`` and ``nfs.*``) about that domain on its source that name the disk (or
no disk, for a blocker or an undecided result about the whole guest) and that destination (or
none: domain-scope results such as storage.cache_mode hold for every destination):

  fail     some such result FAILed
  unknown  otherwise, one said ERROR, the destination was unreachable, or no destination-specific
           storage result names this disk at all (never a pass for lack of results)
  warn     otherwise, one WARNed
  pass     otherwise, one PASSed
  skip     every result was SKIP (e.g. an empty cdrom drive): nothing to share

Secrets: the inventory carries paths, server names, pool names and LUN identities only; facts
carry no auth values (Disk.auth_secret is a uuid/usage name and is not copied here either).
"""

from __future__ import annotations

from typing import Optional

from preflight.derive.storage_location import (backing_chain, describe, fact_missing, identity_of, resolve_volume,
                                               where_else)
from preflight.engine.runner import running_domains
from preflight.facts.mountinfo import SHARED_FS_TYPES, find_mount, split_source
from preflight.model import Result, Status

__all__ = ["STORAGE_PREFIXES", "DISK_VERDICTS", "build_disk_inventory", "disk_verdict"]

STORAGE_PREFIXES = ("storage.", "nfs.")
DISK_VERDICTS = ("pass", "warn", "fail", "unknown", "skip")
_TRANSPORTS = {"iscsi": "iSCSI", "fc": "FC", "sas": "SAS", "sata": "SATA", "nvme": "NVMe", "usb": "USB",
               "spi": "SCSI", "ata": "ATA", "virtio": "virtio"}


# --- identities ---------------------------------------------------------------------------------

def _ident(state: str, text: str, **extra) -> dict:
    out = {"state": state, "text": text}
    out.update({k: v for k, v in extra.items() if v is not None})
    return out


def _mount_dict(m) -> dict:
    server, export = split_source(m.source)
    d = {"fstype": m.fstype, "source": m.source, "mountpoint": m.mountpoint, "root": m.root,
         "readonly": m.readonly}
    if server:
        d.update(server=server, export=export)
    return d


def file_identity(host, path: str) -> dict:
    """The mount a file lives on, as storage.shared compares it (type, source, mount point)."""

    missing = fact_missing(host, "mounts")
    if missing:
        return _ident("unknown", f"mount table of {host.name} unknown: {missing}")
    m = find_mount(host.mounts, path)
    if m is None:
        return _ident("unknown", f"no mount found for {path} on {host.name}")
    text = describe(m) + (f" (subtree {m.root})" if m.root not in ("/", "") else "")
    return _ident("found", text, mount=_mount_dict(m))


def _lun_text(ident) -> str:
    return f"{ident[0].upper()} {ident[1]}"


def block_identity(host, path: str, expected: Optional[tuple] = None) -> dict:
    """The LUN behind a block path (multipath WWID, WWN or serial); `absent` when the path does
    not exist there (and, given the source's identity, where else the host sees that LUN)."""

    ident, kname, how, why = identity_of(host, path)
    if ident is not None:
        return _ident("found", f"{_lun_text(ident)} ({kname}, via {how})",
                      lun={"by": ident[0], "id": ident[1], "device": kname, "via": how})
    if kname is None and host.block is not None:
        text = why
        if expected is not None:
            elsewhere = where_else(host.block, expected)
            text += (f"; the same LUN is visible as {', '.join(sorted(elsewhere))}" if elsewhere
                     else f"; no device with {_lun_text(expected)}")
        return _ident("absent", text)
    return _ident("unknown", why)


def _lun_of(identity: dict) -> Optional[tuple]:
    lun = identity.get("lun")
    return (lun["by"], lun["id"]) if lun else None


def _pool_text(pool) -> str:
    parts = []
    if pool.source_hosts:
        parts.append(",".join(pool.source_hosts) + (f":{pool.source_dir}" if pool.source_dir else ""))
    elif pool.source_dir:
        parts.append(pool.source_dir)
    if pool.source_name:
        parts.append(pool.source_name)
    if pool.source_devices:
        parts.append(", ".join(pool.source_devices))
    if pool.source_adapter:
        parts.append(f"adapter {pool.source_adapter}")
    if not parts and pool.target_path:
        parts.append(pool.target_path)
    return f"{pool.type} pool {pool.name}" + (f" ({'; '.join(parts)})" if parts else "") + \
        ("" if pool.active else " [inactive]")


def _pool_dict(pool) -> dict:
    return {"name": pool.name, "type": pool.type, "active": pool.active, "source": _pool_text(pool),
            "target_path": pool.target_path}


def volume_identity(disk, host, expected_lun: Optional[tuple] = None) -> dict:
    """The pool (type and source) a volume disk resolves through on `host`, and what its path is on."""

    missing = fact_missing(host, "pools") or fact_missing(host, f"pool:{disk.pool}")
    if missing:
        return _ident("unknown", f"storage pools of {host.name} unknown: {missing}")
    pool = host.pools.get(disk.pool)
    if pool is None:
        return _ident("absent", f"no storage pool named {disk.pool} on {host.name}")
    _, path, why = resolve_volume(disk, host)
    text = _pool_text(pool)
    extra = {"pool": _pool_dict(pool)}
    if path is None:
        return _ident("found", f"{text}; volume path unknown: {why}", **extra)
    extra["path"] = path
    if path.startswith("/dev/"):
        under = block_identity(host, path, expected_lun)
        extra["lun"] = under.get("lun")
    elif path.startswith("/"):
        under = file_identity(host, path)
        extra["mount"] = under.get("mount")
    else:
        return _ident("found", f"{text}; volume {path}", **extra)
    return _ident("found", f"{text}; volume {path} on {under['text']}", **extra)


def _servers(disk) -> list:
    return [h.socket or (f"{h.name}:{h.port}" if h.port else h.name) for h in disk.hosts]


def network_identity(disk) -> dict:
    """A network disk: the server(s) and image name in the domain XML, which travels with the guest."""
    servers = _servers(disk)
    text = f"{disk.protocol} {', '.join(servers) or '(no server)'} {disk.name or ''}".strip()
    return _ident("found", text, server=servers, name=disk.name, protocol=disk.protocol)


# --- kinds ----------------------------------------------------------------------------------------

def _file_kind(identity: dict, noun: str = "file") -> str:

    m = identity.get("mount")
    if not m:
        return f"{noun} (mount unknown)"
    if m["fstype"] in SHARED_FS_TYPES:
        return f"{noun} on {m['fstype']} {m['source']}"
    return f"local {noun} on {m['fstype']}"


def _block_kind(host, identity: dict) -> str:
    lun = identity.get("lun")
    if not lun or host.block is None:
        return "block device"
    block = host.block
    multipath = lun["by"] == "wwid" and any(m.dm == lun["device"] for m in (block.multipath or {}).values())
    tran = None
    kname = lun["device"]
    seen = set()
    while kname and kname not in seen and tran is None:      # partition -> disk
        seen.add(kname)
        dev = block.devices.get(kname)
        tran = dev.tran if dev else None
        kname = dev.parent if dev else None
    if tran is None and multipath:                           # dm -> one of its paths
        mp = next(m for m in block.multipath.values() if m.dm == lun["device"])
        tran = next((block.devices[p].tran for p in mp.paths if p in block.devices and block.devices[p].tran), None)
    label = _TRANSPORTS.get((tran or "").lower(), tran)
    return "block " + " ".join(p for p in (("multipath" if multipath else None), label, "LUN") if p)


# --- verdicts -------------------------------------------------------------------------------------

def disk_verdict(results, domain: str, source: str, destination: str, disk: str) -> dict:
    """{verdict, reason, results} for one disk of `domain` (running on `source`) on `destination`.

    `results` may be all results of the run; only storage-category ones about this domain on its
    source count. Results that name no disk count only when they are not PASS/SKIP (a PASS about
    "no NFS disk" says nothing about this disk)."""
    relevant, specific = [], False
    for r in results:
        if not r.check.startswith(STORAGE_PREFIXES) or r.domain != domain:
            continue
        if (r.source or r.host) != source:
            continue
        if r.destination is not None and r.destination != destination:
            continue
        if r.disk is not None and r.disk != disk:
            continue
        if r.disk is None and r.status in (Status.PASS, Status.SKIP):
            continue
        relevant.append(r)
        specific = specific or (r.destination == destination and r.disk == disk)
    listed = [{"check": r.check, "status": r.status.value} for r in relevant]

    def pick(status):
        # the disk- and destination-specific result first, storage.shared's before the others
        order = sorted(relevant, key=lambda r: (r.disk is None, r.destination is None, r.check != "storage.shared"))
        return next(r for r in order if r.status is status)

    statuses = {r.status for r in relevant}
    if Status.FAIL in statuses:
        return _verdict("fail", pick(Status.FAIL), listed)
    if Status.ERROR in statuses:
        return _verdict("unknown", pick(Status.ERROR), listed)
    if not specific:
        return {"verdict": "unknown", "results": listed,
                "reason": f"no storage check judged disk {disk} against {destination}"}
    for status, verdict in ((Status.WARN, "warn"), (Status.PASS, "pass"), (Status.SKIP, "skip")):
        if status in statuses:
            return _verdict(verdict, pick(status), listed)
    raise AssertionError("unreachable")  # pragma: no cover


def _verdict(verdict: str, result: Result, listed: list) -> dict:
    return {"verdict": verdict, "reason": f"{result.check}: {result.message}", "results": listed}


# --- the inventory --------------------------------------------------------------------------------

def _element(disk, host) -> tuple:
    """(entry without destinations, identity function(host) for destinations)."""

    entry = {"target": disk.target, "device": disk.device, "type": disk.type, "source": disk.label,
             "format": disk.format, "cache": disk.cache, "readonly": disk.readonly,
             "shareable": disk.shareable}
    if disk.empty:
        entry.update(source="(no medium)", kind=f"empty {disk.device} drive",
                     identity=_ident("found", "no medium: nothing to share"))
        return entry, lambda h: _ident("found", "no medium: nothing to share"), None
    if disk.type in ("file", "dir"):
        def there(h):
            return file_identity(h, disk.path) if disk.path else _ident("unknown", "no source path")
        ident = there(host)
        entry.update(kind=_file_kind(ident, "directory" if disk.type == "dir" else "file"), identity=ident)
        return entry, there, (disk.path if disk.type == "file" else None)
    if disk.type == "block":
        ident = block_identity(host, disk.path) if disk.path else _ident("unknown", "no source path")
        entry.update(kind=_block_kind(host, ident), identity=ident)
        lun = _lun_of(ident)

        def there(h):
            return block_identity(h, disk.path, lun) if disk.path else _ident("unknown", "no source path")
        return entry, there, None
    if disk.type == "network":
        ident = network_identity(disk)
        servers = ", ".join(_servers(disk)) or "no server"
        entry.update(kind=f"network {disk.protocol} ({servers})", identity=ident)
        from preflight.facts.qemu_img import URL_PROTOCOLS, image_url

        image = disk.label               # the name storage.shared looks the chain up by (qemu-img by URL)
        if disk.protocol in URL_PROTOCOLS and disk.hosts and not disk.has_auth:
            image = image_url(disk.protocol, disk.hosts[0].name, disk.name)
        same = lambda h: _ident("found", "same server and image as on the source (QEMU opens it over "  # noqa: E731
                                "the network)", server=ident.get("server"), name=disk.name, protocol=disk.protocol)
        return entry, same, image
    if disk.type == "volume":
        ident = volume_identity(disk, host)
        pool = host.pools.get(disk.pool)
        kind = f"pool volume ({pool.type} pool {pool.name})" if pool else f"pool volume (pool {disk.pool} unknown)"
        if ident.get("lun") and pool is not None:
            kind += ", " + _block_kind(host, ident)
        elif ident.get("mount"):
            kind += ", " + _file_kind(ident)
        entry.update(kind=kind, identity=ident)
        _, path, _ = resolve_volume(disk, host) if pool else (None, None, None)
        lun = _lun_of(ident)
        return entry, (lambda h: volume_identity(disk, h, lun)), path
    if disk.type == "nvme":
        entry.update(kind="NVMe controller (host-local)", identity=_ident("found", disk.label))
        return entry, (lambda h: _ident("unknown", "a host-local NVMe device cannot be identified across hosts")), None
    entry.update(kind=f"{disk.type} disk", identity=_ident("unknown", f"preflight cannot resolve a {disk.type} disk"))
    return entry, (lambda h: _ident("unknown", f"preflight cannot resolve a {disk.type} disk")), None


def _backing(disk, image, src, others) -> tuple:
    """([backing file entries], note) for the chain under `image` (as storage.shared reads it)."""

    if image is None:
        return [], None
    files, how = backing_chain(disk, image, src)
    if files is None:
        return [], how
    out = []
    for depth, f in enumerate(files, 1):
        if f.startswith("/"):
            item = {"path": f, "depth": depth, "identity": file_identity(src, f),
                    "destinations": {h.name: (file_identity(h, f) if h.reachable
                                              else _ident("unknown", f"{h.name} could not be reached"))
                                     for h in others}}
        else:
            net = _ident("found", f"{f} (opened by QEMU over the network)")
            item = {"path": f, "depth": depth, "identity": net, "destinations": {h.name: net for h in others}}
        out.append(item)
    return out, (how if files else None)


def _extra_elements(dom, host) -> list:
    """NVRAM file and TPM state: storage.shared judges them under the labels 'nvram' and 'tpm'."""
    out = []
    if dom.nvram:
        ident = file_identity(host, dom.nvram)
        out.append(({"target": "nvram", "device": "nvram", "type": "file", "source": dom.nvram,
                     "format": None, "cache": None, "readonly": False, "shareable": False,
                     "kind": "UEFI NVRAM " + _file_kind(ident), "identity": ident},
                    lambda h: file_identity(h, dom.nvram)))
    for tpm in dom.tpms[:1]:
        if tpm.backend == "emulator" and tpm.state_path:
            ident = file_identity(host, tpm.state_path)
            entry = {"target": "tpm", "device": "tpm", "type": "dir", "source": tpm.state_path,
                     "kind": "TPM state (swtpm), " + _file_kind(ident, "directory"), "identity": ident}
            fn = (lambda path: lambda h: file_identity(h, path))(tpm.state_path)
        else:
            entry = {"target": "tpm", "device": "tpm", "type": tpm.backend, "source": f"TPM {tpm.backend}",
                     "kind": f"TPM {tpm.backend}", "identity": _ident("unknown", f"TPM backend {tpm.backend}")}
            fn = (lambda backend: lambda h: _ident("unknown", f"TPM backend {backend}"))(tpm.backend)
        entry.update(format=None, cache=None, readonly=False, shareable=False)
        out.append((entry, fn))
    return out


def build_disk_inventory(facts, results) -> list:
    """[{domain, host, error, disks: [...]}] for every running domain on every reachable host,
    hosts in inventory order, domains by name (see the module docstring for each disk's fields)."""
    hypervisors = facts.hypervisors
    by_domain: dict = {}
    for r in results:
        if r.domain is not None and r.check.startswith(STORAGE_PREFIXES):
            by_domain.setdefault((r.domain, r.source or r.host), []).append(r)
    out = []
    for src in hypervisors:
        if not src.reachable:
            continue
        others = [h for h in hypervisors if h.name != src.name]
        for dom in sorted(running_domains(src), key=lambda d: d.name):
            mine = by_domain.get((dom.name, src.name), [])
            item = {"domain": dom.name, "host": src.name, "error": dom.error, "disks": []}
            if dom.error:
                out.append(item)
                continue
            elements = []
            for disk in dom.disks:
                entry, there, image = _element(disk, src)
                entry["backing"], entry["backing_note"] = _backing(disk, image, src, others)
                elements.append((entry, there))
            for entry, there in _extra_elements(dom, src):
                entry["backing"], entry["backing_note"] = [], None
                elements.append((entry, there))
            for entry, there in elements:
                entry["destinations"] = [_destination(entry["target"], there, dom.name, src, dst, mine)
                                         for dst in others]
                item["disks"].append(entry)
            out.append(item)
    return out


def _destination(target: str, there, domain: str, src, dst, results) -> dict:
    if not dst.reachable:
        return {"host": dst.name, "identity": _ident("unknown", f"{dst.name} could not be reached"),
                "verdict": "unknown", "results": [],
                "reason": f"destination {dst.name} could not be checked: {dst.error or 'unreachable'}"}
    verdict = disk_verdict(results, domain, src.name, dst.name, target)
    return {"host": dst.name, "identity": there(dst), **verdict}
