"""NUMA topology of a host: from sysfs (`grep -H . /sys/devices/system/node/node*/cpulist
/sys/devices/system/node/node*/distance /sys/devices/system/node/online`), from `numactl -H`, or
from libvirt's capabilities <topology><cells>. All three give the same model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from preflight.facts.guest_needs import parse_cpuset, to_kib
from preflight.facts.xmlsafe import parse_xml


class NumaError(ValueError):
    pass


@dataclass(frozen=True)
class NumaNode:
    id: int
    cpus: frozenset = frozenset()
    memory_kib: Optional[int] = None
    free_kib: Optional[int] = None
    distances: tuple = ()
    pages: dict = field(default_factory=dict)  # page size kB -> count (libvirt caps: total pages)


@dataclass(frozen=True)
class NumaTopology:
    nodes: tuple = ()
    source: str = ""

    @property
    def node_ids(self) -> frozenset:
        return frozenset(n.id for n in self.nodes)

    @property
    def cpus(self) -> frozenset:
        return frozenset().union(*(n.cpus for n in self.nodes)) if self.nodes else frozenset()

    def node(self, nid: int) -> Optional[NumaNode]:
        return next((n for n in self.nodes if n.id == nid), None)


_SYS = re.compile(r"^/sys/devices/system/node/(?:node(\d+)/)?(\w+):(.*)$")


def parse_sysfs_nodes(text: str) -> NumaTopology:
    nodes: dict = {}
    online = None
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line or line.startswith("grep:"):
            continue
        m = _SYS.match(line)
        if not m:
            raise NumaError(f"not a /sys/devices/system/node line: {line[:80]!r}")
        nid, name, value = m.group(1), m.group(2), m.group(3).strip()
        if nid is None:
            if name == "online":
                online = parse_cpuset(value)
            continue
        entry = nodes.setdefault(int(nid), {})
        if name == "cpulist":
            cpus = parse_cpuset(value) if value else frozenset()
            if cpus is None:
                raise NumaError(f"node{nid} cpulist {value!r} is not a CPU list")
            entry["cpus"] = cpus
        elif name == "distance":
            entry["distances"] = tuple(int(x) for x in value.split())
    if not nodes and online is None:
        raise NumaError("no NUMA node in the sysfs listing")
    ids = sorted(set(nodes) | set(online or ()))
    return NumaTopology(nodes=tuple(NumaNode(id=i, **nodes.get(i, {})) for i in ids), source="sysfs")


def parse_numactl_hardware(text: str) -> NumaTopology:
    """`numactl -H` / `numactl --hardware`."""
    cpus, size, free, dist = {}, {}, {}, {}
    lines = (text or "").splitlines()
    header = None
    for line in lines:
        if m := re.match(r"^node (\d+) cpus:\s*(.*)$", line):
            cpus[int(m.group(1))] = frozenset(int(x) for x in m.group(2).split())
        elif m := re.match(r"^node (\d+) size: (\d+) MB$", line):
            size[int(m.group(1))] = int(m.group(2)) * 1024
        elif m := re.match(r"^node (\d+) free: (\d+) MB$", line):
            free[int(m.group(1))] = int(m.group(2)) * 1024
        elif re.match(r"^node\s+distances:", line):
            header = []
        elif header is not None and re.match(r"^node\s+\d+(\s+\d+)*\s*$", line):
            header = [int(x) for x in line.split()[1:]]
        elif header is not None and (m := re.match(r"^\s*(\d+):\s+(.*)$", line)):
            dist[int(m.group(1))] = tuple(int(x) for x in m.group(2).split())
    if not cpus and not size:
        raise NumaError("not a `numactl -H` output (no 'node N cpus:' line)")
    ids = sorted(set(cpus) | set(size))
    return NumaTopology(
        nodes=tuple(
            NumaNode(
                id=i,
                cpus=cpus.get(i, frozenset()),
                memory_kib=size.get(i),
                free_kib=free.get(i),
                distances=dist.get(i, ()),
            )
            for i in ids
        ),
        source="numactl",
    )


def parse_caps_topology(xml: str) -> NumaTopology:
    """libvirt capabilities <host><topology><cells>."""
    root = parse_xml(xml, "capabilities XML")
    cells = root.findall("host/topology/cells/cell")
    if not cells:
        raise NumaError("capabilities XML has no <topology><cells>")
    nodes = []
    for c in cells:
        mem = c.find("memory")
        nodes.append(
            NumaNode(
                id=int(c.get("id")),
                cpus=frozenset(int(x.get("id")) for x in c.findall("cpus/cpu") if x.get("id") is not None),
                memory_kib=to_kib(mem.text, mem.get("unit")) if mem is not None else None,
                distances=tuple(
                    int(s.get("value")) for s in c.findall("distances/sibling") if s.get("value")
                ),
                pages={
                    to_kib(p.get("size"), p.get("unit")): int((p.text or "0").strip() or 0)
                    for p in c.findall("pages")
                },
            )
        )
    return NumaTopology(nodes=tuple(nodes), source="libvirt capabilities")
