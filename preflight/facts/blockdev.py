"""Block-device inventory parsers: who is which LUN on a host. Pure functions.

Inputs (shell facts, see preflight.facts.raw): `lsblk -J -o NAME,KNAME,PATH,TYPE,SIZE,WWN,SERIAL,
VENDOR,MODEL,TRAN,HCTL`, `ls -l /dev/disk/by-id` and `/dev/disk/by-path` (symlink listings),
`multipath -ll`, `iscsiadm -m session -P 3`, the FC hosts' port_state lines.

`lun_identity()` turns a device into the identity that is the same on every host that sees
the LUN: the multipath WWID, else the SCSI WWN, else vendor+model+serial.
"""

from __future__ import annotations

import json
import posixpath
import re
from typing import Optional

from preflight.facts.models import BlockDevice, BlockFacts, IscsiSession, MultipathMap

__all__ = ["parse_lsblk", "parse_symlink_listing", "parse_multipath", "parse_iscsi_sessions",
           "parse_fc_ports", "normalize_wwid", "lun_identity", "resolve_block_path"]


def _clean(value) -> Optional[str]:
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def parse_lsblk(text: str) -> dict:
    """`lsblk -J ...` -> {kname: BlockDevice}, children flattened with `parent` set."""
    data = json.loads(text)
    if not isinstance(data, dict) or not isinstance(data.get("blockdevices"), list):
        raise ValueError("lsblk JSON has no 'blockdevices' list")
    out: dict = {}

    def walk(nodes, parent):
        for node in nodes:
            if not isinstance(node, dict) or not node.get("name"):
                raise ValueError(f"lsblk node without a name: {node!r}"[:200])
            kname = _clean(node.get("kname")) or node["name"]
            dev = BlockDevice(name=node["name"], kname=kname, path=_clean(node.get("path")),
                              type=_clean(node.get("type")), size=_clean(node.get("size")),
                              wwn=_clean(node.get("wwn")), serial=_clean(node.get("serial")),
                              vendor=_clean(node.get("vendor")), model=_clean(node.get("model")),
                              tran=_clean(node.get("tran")), hctl=_clean(node.get("hctl")), parent=parent,
                              maj_min=_clean(node.get("maj:min")), fstype=_clean(node.get("fstype")),
                              uuid=_clean(node.get("uuid")))
            out.setdefault(kname, dev)          # a multipath map appears under each of its paths
            walk(node.get("children") or (), kname)

    walk(data["blockdevices"], None)
    return out


_LINK = re.compile(r"^l\S*\s+.*?\s(?P<name>\S+) -> (?P<target>\S+)$")


def parse_symlink_listing(text: str) -> dict:
    """`ls -l /dev/disk/by-id` -> {link name: kernel name it points to}; 'total N' and
    non-link lines are ignored."""
    links = {}
    for line in text.splitlines():
        m = _LINK.match(line.rstrip())
        if m:
            links[m.group("name")] = posixpath.basename(m.group("target"))
    return links


_MAP_HEAD = re.compile(r"^(?P<name>\S+)(?: \((?P<wwid>[^)]*)\))? (?P<dm>dm-\d+) ?(?P<vp>.*)$")
_MAP_PATH = re.compile(r"^[\s|`\\_-]*(?:\d+:\d+:\d+:\d+)\s+(?P<dev>\S+)\s+\d+:\d+")


def parse_multipath(text: str) -> dict:
    """`multipath -ll` -> {name: MultipathMap}. Header lines look like
    'mpatha (3600...) dm-0 VENDOR,PRODUCT' or, without an alias, '3600... dm-6 DGC,VRAID'.
    Log lines ('Aug 30 05:09:18 | ...') are skipped."""
    maps: dict = {}
    current = None
    for line in text.splitlines():
        if not line.strip() or " | " in line[:40] and re.match(r"^\w{3} \d+ [\d:]+ \|", line):
            continue
        head = _MAP_HEAD.match(line)
        if head and not line.startswith((" ", "|", "`")):
            name = head.group("name")
            wwid = head.group("wwid") or name
            current = {"name": name, "wwid": wwid.strip(), "dm": head.group("dm"),
                       "vp": head.group("vp").strip() or None, "size": None, "paths": []}
            maps[name] = current
            continue
        if current is None:
            continue
        if line.startswith("size="):
            current["size"] = line.split()[0].partition("=")[2]
            continue
        path = _MAP_PATH.match(line)
        if path:
            current["paths"].append(path.group("dev"))
    return {n: MultipathMap(name=m["name"], wwid=m["wwid"], dm=m["dm"], vendor_product=m["vp"],
                            size=m["size"], paths=tuple(m["paths"])) for n, m in maps.items()}


def parse_iscsi_sessions(text: str) -> tuple:
    """`iscsiadm -m session -P 3` -> tuple[IscsiSession] (target, portal, state, (lun, disk))."""
    sessions = []
    cur = None
    lun = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("Target:"):
            if cur:
                sessions.append(cur)
            cur = {"target": line.split()[1], "portal": None, "state": None, "disks": []}
        elif cur is None:
            continue
        elif line.startswith("Current Portal:"):
            cur["portal"] = line.split(":", 1)[1].strip().rsplit(",", 1)[0]
        elif line.startswith("iSCSI Session State:"):
            cur["state"] = line.split(":", 1)[1].strip()
        elif re.match(r"^scsi\d+ Channel \d+ Id \d+ Lun: \d+", line):
            lun = int(line.rsplit(":", 1)[1])
        elif line.startswith("Attached scsi disk"):
            cur["disks"].append((lun, line.split()[3]))
    if cur:
        sessions.append(cur)
    return tuple(IscsiSession(target=s["target"], portal=s["portal"], state=s["state"],
                              disks=tuple(s["disks"])) for s in sessions)


def parse_fc_ports(text: str) -> dict:
    """Lines '/sys/class/fc_host/host5/port_state Online' -> {'host5': 'Online'}."""
    ports = {}
    for line in text.splitlines():
        path, _, state = line.strip().partition(" ")
        m = re.search(r"/fc_host/([^/]+)/port_state$", path)
        if m:
            ports[m.group(1)] = state.strip()
    return ports


def normalize_wwid(value: Optional[str]) -> Optional[str]:
    """One spelling for a LUN's NAA identifier: lsblk WWN '0x6001405...' and multipath WWID
    '36001405...' (the leading 3 is the SCSI designator type) both become '6001405...'.
    Other identifiers (T10 vendor ids like '1IET 00080001') are only case/space-normalised."""
    if not value:
        return None
    v = value.strip().lower()
    if v.startswith("0x"):
        v = v[2:]
    if re.fullmatch(r"3[0-9a-f]{16}|3[0-9a-f]{32}", v):
        v = v[1:]
    elif v.startswith(("wwn-0x", "naa.")):
        v = v.split("0x", 1)[-1] if v.startswith("wwn-") else v[4:]
    return " ".join(v.split())


def lun_identity(block: BlockFacts, kname: str) -> Optional[tuple]:
    """('wwid'|'wwn'|'serial', value) for a device, following partitions to their disk and a
    dm device to its multipath map. None when the host gives no identity for it."""
    seen = set()
    while kname and kname not in seen:
        seen.add(kname)
        for m in (block.multipath or {}).values():
            if m.dm == kname:
                return ("wwid", normalize_wwid(m.wwid))
        dev = block.devices.get(kname)
        if dev is None:
            return None
        if dev.type == "part" and dev.parent:
            kname = dev.parent
            continue
        if dev.wwn:
            return ("wwn", normalize_wwid(dev.wwn))
        if dev.serial:
            return ("serial", " ".join(p for p in (dev.vendor, dev.model, dev.serial) if p).lower())
        return None
    return None


def resolve_block_path(block: BlockFacts, path: str) -> tuple:
    """(kname or None, how) for a block path, using only the gathered listings (no readlink on
    the host): /dev/disk/by-id/X and /dev/disk/by-path/X via the symlink listings,
    /dev/mapper/NAME via multipath -ll (and lsblk names), /dev/NAME via lsblk."""
    norm = posixpath.normpath(path)
    head, name = posixpath.split(norm)
    if head == "/dev/disk/by-id":
        return block.by_id.get(name), "/dev/disk/by-id link"
    if head == "/dev/disk/by-path":
        return block.by_path.get(name), "/dev/disk/by-path link"
    if head == "/dev/mapper":
        m = (block.multipath or {}).get(name)
        if m is not None and m.dm:
            return m.dm, "multipath map"
        for dev in block.devices.values():
            if dev.name == name or dev.path == norm:
                return dev.kname, "device-mapper name (lsblk)"
        return None, "device-mapper name"
    if head == "/dev":
        for dev in block.devices.values():
            if dev.kname == name or dev.path == norm:
                return dev.kname, "kernel device name"
        return None, "kernel device name"
    return None, "unsupported block path"
