"""How much one host may hand back: caps on the objects and bytes read from a host's libvirt.

A hostile or broken hypervisor that lists 10^6 domains, or hands back megabytes of XML per
domain, must not exhaust the controller's memory or time. (libvirt's own RPC already refuses
more than 16384 names per list and 32 MiB per message; these caps are far below that, and
configurable per cluster in the inventory.) A host past a cap is not judged on a truncated
list -- that could PASS a host whose other guests were never seen: the whole list is refused
with one error naming the host, the count and the cap (fail closed), so every check needing
it says ERROR and the operator knows which inventory key to raise.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Optional

__all__ = ["HostCaps", "DEFAULT_CAPS", "CAP_KEYS", "caps_from"]


@dataclass(frozen=True)
class HostCaps:
    max_domains: int = 2000             # domains per host
    max_pools: int = 1000               # storage pools per host (and libvirt networks)
    max_disks: int = 512                # <disk> elements per domain
    max_xml_bytes: int = 8 << 20        # one domain/pool/network XML document
    max_host_xml_bytes: int = 512 << 20     # all the XML read from one host's libvirt

    def over(self, what: str, count: int, cap: int, key: str, host: str) -> Optional[str]:
        """The error when `count` passes `cap` (None when it does not)."""
        if count <= cap:
            return None
        return (f"{host} returned {count} {what}, more than the cap of {cap} ({key} in the inventory): "
                f"a hostile or broken host? none of them were judged; raise {key} if the host really has that many")


DEFAULT_CAPS = HostCaps()
CAP_KEYS = tuple(f.name for f in fields(HostCaps))


def caps_from(cluster, where: str = "inventory") -> HostCaps:
    """The cluster's caps (inventory keys of the same names), ValueError on a bad value."""
    kw = {}
    for key in CAP_KEYS:
        value = getattr(cluster, key, None) if not isinstance(cluster, dict) else cluster.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{where}: {key} must be a positive whole number, not {value!r}")
        kw[key] = value
    return HostCaps(**kw)
