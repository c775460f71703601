"""Name resolution as the host's own resolver answers it: `getent ahosts NAME` (glibc's
getaddrinfo, the call libvirt makes, through nsswitch: /etc/hosts, DNS, ...)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Resolution:
    name: str
    addresses: tuple = ()  # in getaddrinfo's order, de-duplicated
    canonical: Optional[str] = None  # the name on the first STREAM line (AI_CANONNAME)
    found: bool = True  # getent exits 2 when the name does not resolve

    @property
    def loopback(self) -> tuple:
        return tuple(a for a in self.addresses if ipaddress.ip_address(a).is_loopback)

    @property
    def non_loopback(self) -> tuple:
        return tuple(a for a in self.addresses if not ipaddress.ip_address(a).is_loopback)


def parse_getent_ahosts(name: str, text: str, rc: int = 0) -> Resolution:
    """`getent ahosts NAME` lines: 'ADDRESS  STREAM|DGRAM|RAW  [canonical name]'. rc 2: not found."""
    addrs, canonical = [], None
    for raw in (text or "").splitlines():
        parts = raw.split()
        if not parts:
            continue
        try:
            addr = str(ipaddress.ip_address(parts[0]))
        except ValueError as exc:
            raise ValueError(f"not a getent ahosts line: {raw.strip()[:60]!r}") from exc
        if addr not in addrs:
            addrs.append(addr)
        if canonical is None and len(parts) >= 3 and parts[1] == "STREAM":
            canonical = parts[2]
    if rc == 2 or (rc == 0 and not addrs and not text.strip()):
        return Resolution(name=name, found=False)
    if rc not in (0, 2):
        raise ValueError(f"getent ahosts {name} failed (exit {rc})")
    return Resolution(name=name, addresses=tuple(addrs), canonical=canonical)
