"""The parts of libvirt's host capabilities (virConnectGetCapabilities) that host compatibility
needs beyond the CPU (preflight.facts.capabilities has that): the security models libvirt runs
with, the migration URI transports, the guests (emulator, machine types, domain types per arch)
and the host's page sizes. NUMA cells are in preflight.facts.numa (parse_caps_topology).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from preflight.facts.xmlsafe import parse_xml, text_of


@dataclass(frozen=True)
class SecModel:
    model: str  # selinux, apparmor, dac, none
    doi: Optional[str] = None
    baselabels: dict = field(default_factory=dict)  # virt type -> label


@dataclass(frozen=True)
class Machine:
    name: str
    canonical: Optional[str] = None  # set on aliases: <machine canonical='pc-q35-7.2'>q35</machine>
    max_cpus: Optional[int] = None
    deprecated: bool = False


@dataclass(frozen=True)
class GuestDomain:
    """<domain type='kvm'> inside a <guest><arch>: its own emulator/machines when it names any."""

    type: str
    emulator: Optional[str] = None
    machines: tuple = ()


@dataclass(frozen=True)
class GuestArch:
    os_type: str  # hvm, xen, exe
    arch: str
    emulator: Optional[str] = None
    machines: tuple = ()  # tuple[Machine]
    domains: tuple = ()  # tuple[GuestDomain]

    def machines_for(self, domain_type: str) -> Optional[tuple]:
        """Machine types this arch offers for `domain_type`; None if it does not offer that type."""
        for d in self.domains:
            if d.type == domain_type:
                return d.machines or self.machines
        return None

    def emulator_for(self, domain_type: str) -> Optional[str]:
        for d in self.domains:
            if d.type == domain_type:
                return d.emulator or self.emulator
        return None


@dataclass(frozen=True)
class HostCaps:
    uuid: Optional[str]
    arch: Optional[str]
    cpu_vendor: Optional[str]
    cpu_model: Optional[str]
    secmodels: tuple = ()  # tuple[SecModel], in libvirt's order (the first is primary)
    uri_transports: tuple = ()
    live_migration: bool = False  # <migration_features><live/>
    page_sizes_kib: tuple = ()  # <cpu><pages size> (KiB)
    guests: tuple = ()  # tuple[GuestArch]

    @property
    def security_driver(self) -> Optional[str]:
        """libvirt's primary security driver: the first <secmodel> (dac is always stacked last)."""
        return self.secmodels[0].model if self.secmodels else None

    def guest(self, arch: str, os_type: str = "hvm") -> Optional[GuestArch]:
        for g in self.guests:
            if g.arch == arch and g.os_type == os_type:
                return g
        return None


def _int(value) -> Optional[int]:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _machines(elem) -> tuple:
    return tuple(
        Machine(
            name=(m.text or "").strip(),
            canonical=m.get("canonical"),
            max_cpus=_int(m.get("maxCpus")),
            deprecated=m.get("deprecated") == "yes",
        )
        for m in elem.findall("machine")
        if (m.text or "").strip()
    )


def _page_kib(elem) -> Optional[int]:
    size, unit = _int(elem.get("size")), (elem.get("unit") or "KiB")
    if size is None:
        return None
    factor = {"KiB": 1, "k": 1, "K": 1, "MiB": 1024, "M": 1024, "GiB": 1024 * 1024, "G": 1024 * 1024}.get(
        unit
    )
    return size * factor if factor else None


def parse_hostcaps(xml: str) -> HostCaps:
    root = parse_xml(xml, "capabilities XML")
    if root.tag != "capabilities":
        raise ValueError(f"capabilities XML has root <{root.tag}>, expected <capabilities>")
    host = root.find("host")
    if host is None:
        raise ValueError("capabilities XML has no <host> element")
    cpu = host.find("cpu")
    secmodels = tuple(
        SecModel(
            model=text_of(s, "model") or "?",
            doi=text_of(s, "doi"),
            baselabels={b.get("type"): (b.text or "").strip() for b in s.findall("baselabel")},
        )
        for s in host.findall("secmodel")
    )
    guests = []
    for g in root.findall("guest"):
        arch = g.find("arch")
        if arch is None or not arch.get("name"):
            continue
        guests.append(
            GuestArch(
                os_type=text_of(g, "os_type") or "?",
                arch=arch.get("name"),
                emulator=text_of(arch, "emulator"),
                machines=_machines(arch),
                domains=tuple(
                    GuestDomain(type=d.get("type"), emulator=text_of(d, "emulator"), machines=_machines(d))
                    for d in arch.findall("domain")
                    if d.get("type")
                ),
            )
        )
    pages = tuple(
        p for p in (_page_kib(e) for e in (cpu.findall("pages") if cpu is not None else ())) if p is not None
    )
    return HostCaps(
        uuid=text_of(host, "uuid"),
        arch=text_of(cpu, "arch"),
        cpu_vendor=text_of(cpu, "vendor"),
        cpu_model=text_of(cpu, "model"),
        secmodels=secmodels,
        uri_transports=tuple(
            (t.text or "").strip() for t in host.findall("migration_features/uri_transports/uri_transport")
        ),
        live_migration=host.find("migration_features/live") is not None,
        page_sizes_kib=pages,
        guests=tuple(guests),
    )
