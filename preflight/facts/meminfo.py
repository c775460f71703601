"""/proc/meminfo (and a NUMA node's /sys/devices/system/node/nodeN/meminfo, whose lines carry a
"Node N " prefix) as kB values."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional


class MeminfoError(ValueError):
    pass


@dataclass(frozen=True)
class MemInfo:
    values: dict = field(default_factory=dict)  # key -> kB (or a count for HugePages_*)
    node: Optional[int] = None

    def get(self, key: str) -> Optional[int]:
        return self.values.get(key)

    @property
    def total_kib(self) -> Optional[int]:
        return self.get("MemTotal")

    @property
    def available_kib(self) -> Optional[int]:
        """MemAvailable (kernel >= 3.14): what can be allocated without swapping. A node's meminfo
        has no MemAvailable: MemFree is the closest there."""
        return self.get("MemAvailable") if "MemAvailable" in self.values else None

    @property
    def free_kib(self) -> Optional[int]:
        return self.get("MemFree")

    @property
    def hugepage_size_kib(self) -> Optional[int]:
        return self.get("Hugepagesize")


_LINE = re.compile(r"^(?:Node\s+(\d+)\s+)?([A-Za-z0-9_()]+):\s+(\d+)(?:\s+kB)?\s*$")


def parse_meminfo(text: str) -> MemInfo:
    values, node = {}, None
    for raw in (text or "").splitlines():
        if not raw.strip():
            continue
        m = _LINE.match(raw.strip())
        if not m:
            raise MeminfoError(f"not a meminfo line: {raw.strip()[:60]!r}")
        if m.group(1) is not None:
            node = int(m.group(1))
        values[m.group(2)] = int(m.group(3))
    if "MemTotal" not in values:
        raise MeminfoError("no MemTotal line: not a meminfo output")
    return MemInfo(values=values, node=node)
