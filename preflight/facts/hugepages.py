"""Huge page pools from sysfs, gathered as `grep -H . FILES` so that each line names its file:

    /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages:0
    /sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages:512

Host-wide pools come from /sys/kernel/mm/hugepages, per NUMA node pools from
/sys/devices/system/node/nodeN/hugepages. Unreadable files ("grep: ...: Permission denied" on
stderr, demote on recent kernels) are simply absent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional


class HugepagesError(ValueError):
    pass


@dataclass(frozen=True)
class HugepagePool:
    size_kib: int
    node: Optional[int]  # None: the host-wide pool
    nr: Optional[int] = None  # nr_hugepages (persistent pool size)
    free: Optional[int] = None  # free_hugepages
    reserved: Optional[int] = None  # resv_hugepages: promised to mappings, not yet faulted in
    surplus: Optional[int] = None
    overcommit: Optional[int] = None  # nr_overcommit_hugepages

    @property
    def available(self) -> Optional[int]:
        """Pages a new mapping can still get: free minus those already reserved by others."""
        if self.free is None:
            return None
        return self.free - (self.reserved or 0)


_PATH = re.compile(
    r"^/sys/(?:kernel/mm|devices/system/node/node(\d+))/hugepages/hugepages-(\d+)kB/(\w+):(.*)$"
)
_FIELDS = {
    "nr_hugepages": "nr",
    "free_hugepages": "free",
    "resv_hugepages": "reserved",
    "surplus_hugepages": "surplus",
    "nr_overcommit_hugepages": "overcommit",
}


def parse_hugepages(text: str) -> tuple:
    """-> tuple[HugepagePool], host-wide pools first, then per node, by size."""
    pools: dict = {}
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line or line.startswith("grep:"):
            continue
        m = _PATH.match(line)
        if not m:
            raise HugepagesError(f"not a hugepages sysfs line: {line[:80]!r}")
        node, size, name, value = m.group(1), int(m.group(2)), m.group(3), m.group(4).strip()
        key = (None if node is None else int(node), size)
        entry = pools.setdefault(key, {})
        if name in _FIELDS:
            if not value.isdigit():
                raise HugepagesError(f"{name} of {size} kB pages is not a number: {value!r}")
            entry[_FIELDS[name]] = int(value)
    out = [HugepagePool(size_kib=size, node=node, **vals) for (node, size), vals in pools.items()]
    out.sort(key=lambda p: (p.node is not None, p.node or 0, p.size_kib))
    return tuple(out)


def pool(pools, size_kib: int, node: Optional[int] = None) -> Optional[HugepagePool]:
    for p in pools:
        if p.size_kib == size_kib and p.node == node:
            return p
    return None
