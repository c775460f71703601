"""libvirt and QEMU versions of a host, from the outputs that state them.

- libvirt's own numbers: virConnectGetLibVersion / virConnectGetVersion encode
  major * 1_000_000 + minor * 1_000 + micro (QEMU 7.2.22 -> 7002022);
- `virsh version` (and `virsh version --daemon`);
- `qemu-system-x86_64 --version` ("QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering
from typing import Optional


@total_ordering
@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    micro: int = 0

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.micro}"

    def __lt__(self, other: Version) -> bool:
        return (self.major, self.minor, self.micro) < (other.major, other.minor, other.micro)

    @property
    def number(self) -> int:
        return self.major * 1_000_000 + self.minor * 1_000 + self.micro


@dataclass(frozen=True)
class HostSoftware:
    """What `virsh version` says (or the API numbers): each field None when not stated."""

    libvirt: Optional[Version] = None  # the library the daemon/virsh uses
    daemon: Optional[Version] = None  # `--daemon`: the running libvirtd
    hypervisor: Optional[str] = None  # QEMU
    hypervisor_version: Optional[Version] = None
    package: Optional[str] = None  # distribution package string, if stated


_DOTTED = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")


def from_number(number) -> Version:
    """libvirt's encoding: 9000000 -> 9.0.0, 7002022 -> 7.2.22."""
    if isinstance(number, bool) or not isinstance(number, int) or number < 0:
        raise ValueError(f"not a libvirt version number: {number!r}")
    return Version(number // 1_000_000, number // 1_000 % 1_000, number % 1_000)


def parse_dotted(text: str) -> Version:
    match = _DOTTED.search(text or "")
    if not match:
        raise ValueError(f"no version number in {text!r}")
    return Version(int(match.group(1)), int(match.group(2)), int(match.group(3) or 0))


_VIRSH = {
    "Using library": "libvirt",
    "Running against daemon": "daemon",
}


def parse_virsh_version(text: str) -> HostSoftware:
    """`virsh version [--daemon]`:

    Compiled against library: libvirt 9.0.0
    Using library: libvirt 9.0.0
    Using API: QEMU 9.0.0
    Running hypervisor: QEMU 7.2.22
    Running against daemon: 9.0.0
    """
    found: dict = {}
    for line in (text or "").splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key in _VIRSH and _DOTTED.search(value):
            found[_VIRSH[key]] = parse_dotted(value)
        elif key == "Running hypervisor":
            name, _, ver = value.rpartition(" ")
            if _DOTTED.fullmatch(ver):
                found["hypervisor"] = name or None
                found["hypervisor_version"] = parse_dotted(ver)
    if not found:
        raise ValueError("no version line in the `virsh version` output")
    return HostSoftware(**found)


_QEMU = re.compile(r"^QEMU emulator version (\d+\.\d+(?:\.\d+)?)(?:\s*\((.*)\))?\s*$")


def parse_qemu_version(text: str) -> HostSoftware:
    """`qemu-system-ARCH --version`: its first line names the version and the package."""
    first = next((ln.strip() for ln in (text or "").splitlines() if ln.strip()), "")
    match = _QEMU.match(first)
    if not match:
        raise ValueError(f"not a QEMU --version output: {first[:80]!r}")
    return HostSoftware(
        hypervisor="QEMU",
        hypervisor_version=parse_dotted(match.group(1)),
        package=(match.group(2) or "").strip() or None,
    )
