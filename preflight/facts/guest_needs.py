"""What a guest needs from a destination host, read from its domain XML (the live or migratable
definition, virDomainGetXMLDesc): virt type, arch, machine type, emulator, the device models it
uses, its NICs' sources and MTU, memory and hugepages, vCPUs and NUMA pinning.

A parse of its own (the project's facts.domain_xml keeps what storage and CPU checks need); both
read the document through preflight.facts.xmlsafe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from preflight.facts.xmlsafe import parse_xml

_UNIT_KIB = {
    "b": 1 / 1024,
    "bytes": 1 / 1024,
    "KB": 1000 / 1024,
    "k": 1,
    "KiB": 1,
    "MB": 1e6 / 1024,
    "M": 1024,
    "MiB": 1024,
    "GB": 1e9 / 1024,
    "G": 1024**2,
    "GiB": 1024**2,
    "TB": 1e12 / 1024,
    "T": 1024**3,
    "TiB": 1024**3,
}


def to_kib(value, unit: Optional[str]) -> Optional[int]:
    """libvirt's scaled integers (formatdomain 'memory'): unit defaults to KiB."""
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    factor = _UNIT_KIB.get(unit or "KiB")
    return int(number * factor) if factor else None


def parse_cpuset(text: Optional[str]) -> Optional[frozenset]:
    """libvirt/kernel cpu and node lists: '0-3,^2,8' -> {0,1,3,8}. None if unreadable."""
    if text is None:
        return None
    include, exclude = set(), set()
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        target = exclude if part.startswith("^") else include
        part = part.lstrip("^")
        try:
            if "-" in part:
                lo, hi = (int(x) for x in part.split("-", 1))
                if hi < lo:
                    return None
                target.update(range(lo, hi + 1))
            else:
                target.add(int(part))
        except ValueError:
            return None
    return frozenset(include - exclude)


@dataclass(frozen=True)
class Nic:
    type: str  # bridge, network, direct, ...
    source: Optional[str]  # bridge / network / host device name
    model: Optional[str] = None
    mtu: Optional[int] = None  # <mtu size=...>
    vlan_tags: tuple = ()  # <vlan><tag id=...>
    portgroup: Optional[str] = None
    virtualport: Optional[str] = None  # openvswitch, ...
    mac: Optional[str] = None


@dataclass(frozen=True)
class HugepageNeed:
    size_kib: Optional[int]  # None: the host's default huge page size
    nodeset: Optional[frozenset] = None  # guest NUMA cells backed by this size (None: all)


@dataclass(frozen=True)
class GuestNeeds:
    name: str
    virt_type: Optional[str]  # <domain type>: kvm, qemu
    arch: Optional[str]
    machine: Optional[str]
    emulator: Optional[str]
    memory_kib: Optional[int]  # <memory> (the maximum the guest can use)
    current_memory_kib: Optional[int]
    vcpus: Optional[int]  # <vcpu> (maximum)
    vcpus_current: Optional[int]
    disk_buses: tuple = ()  # ((target, bus, device), ...)
    nics: tuple = ()  # tuple[Nic]
    video_models: tuple = ()
    tpm_models: tuple = ()  # ((model, backend), ...)
    sound_models: tuple = ()
    hugepages: tuple = ()  # tuple[HugepageNeed]; empty: ordinary pages
    locked_memory: bool = False
    numatune_mode: Optional[str] = None
    numatune_nodeset: Optional[frozenset] = None
    memnodes: tuple = ()  # ((cellid, mode, nodeset), ...)
    vcpupins: tuple = ()  # ((vcpu, cpuset), ...)
    emulatorpin: Optional[frozenset] = None
    cpuset: Optional[frozenset] = None  # <vcpu cpuset=...>
    guest_numa_cells: tuple = ()  # ((id, cpus, memory_kib), ...)
    cpu_mode: Optional[str] = None


def _int(text) -> Optional[int]:
    try:
        return int(str(text).strip())
    except (TypeError, ValueError):
        return None


def parse_guest_needs(xml: str, name: Optional[str] = None) -> GuestNeeds:
    root = parse_xml(xml, f"domain {name!r} XML" if name else "domain XML")
    if root.tag != "domain":
        raise ValueError(f"domain XML has root <{root.tag}>, expected <domain>")
    ostype = root.find("os/type")
    devices = root.find("devices")
    devs = list(devices) if devices is not None else []
    mem, cur = root.find("memory"), root.find("currentMemory")
    vcpu = root.find("vcpu")
    nics = []
    for i in (d for d in devs if d.tag == "interface"):
        src = i.find("source")
        source = None
        if src is not None:
            source = (
                src.get({"bridge": "bridge", "network": "network", "direct": "dev"}.get(i.get("type"), "dev"))
                or src.get("bridge")
                or src.get("network")
                or src.get("dev")
            )
        mtu = i.find("mtu")
        model = i.find("model")
        vp = i.find("virtualport")
        mac = i.find("mac")
        nics.append(
            Nic(
                type=i.get("type") or "?",
                source=source,
                model=model.get("type") if model is not None else None,
                mtu=_int(mtu.get("size")) if mtu is not None else None,
                vlan_tags=tuple(t.get("id") for t in i.findall("vlan/tag") if t.get("id")),
                portgroup=src.get("portgroup") if src is not None else None,
                virtualport=(vp.get("type") or "unspecified") if vp is not None else None,
                mac=mac.get("address") if mac is not None else None,
            )
        )
    hp = []
    hps = root.find("memoryBacking/hugepages")
    if hps is not None:
        pages = hps.findall("page")
        if not pages:
            hp.append(HugepageNeed(size_kib=None))
        for p in pages:
            hp.append(
                HugepageNeed(
                    size_kib=to_kib(p.get("size"), p.get("unit")),
                    nodeset=parse_cpuset(p.get("nodeset")) if p.get("nodeset") else None,
                )
            )
    numa_mem = root.find("numatune/memory")
    cells = []
    for c in root.findall("cpu/numa/cell"):
        cells.append((_int(c.get("id")), parse_cpuset(c.get("cpus")), to_kib(c.get("memory"), c.get("unit"))))
    cpu = root.find("cpu")
    return GuestNeeds(
        name=(root.findtext("name") or name or "?").strip(),
        virt_type=root.get("type"),
        arch=ostype.get("arch") if ostype is not None else None,
        machine=ostype.get("machine") if ostype is not None else None,
        emulator=(devices.findtext("emulator") or "").strip() or None if devices is not None else None,
        memory_kib=to_kib(mem.text, mem.get("unit")) if mem is not None else None,
        current_memory_kib=to_kib(cur.text, cur.get("unit")) if cur is not None else None,
        vcpus=_int(vcpu.text) if vcpu is not None else None,
        vcpus_current=_int(vcpu.get("current")) if vcpu is not None and vcpu.get("current") else None,
        disk_buses=tuple(
            (t.get("dev"), t.get("bus"), d.get("device") or "disk")
            for d in devs
            if d.tag == "disk"
            for t in [d.find("target")]
            if t is not None
        ),
        nics=tuple(nics),
        video_models=tuple(
            m.get("type")
            for d in devs
            if d.tag == "video"
            for m in [d.find("model")]
            if m is not None and m.get("type")
        ),
        tpm_models=tuple(
            (
                d.get("model") or "tpm-tis",
                (d.find("backend").get("type") if d.find("backend") is not None else None),
            )
            for d in devs
            if d.tag == "tpm"
        ),
        sound_models=tuple(d.get("model") for d in devs if d.tag == "sound" and d.get("model")),
        hugepages=tuple(hp),
        locked_memory=root.find("memoryBacking/locked") is not None,
        numatune_mode=(numa_mem.get("mode") or "strict") if numa_mem is not None else None,
        numatune_nodeset=parse_cpuset(numa_mem.get("nodeset"))
        if numa_mem is not None and numa_mem.get("nodeset")
        else None,
        memnodes=tuple(
            (_int(m.get("cellid")), m.get("mode") or "strict", parse_cpuset(m.get("nodeset")))
            for m in root.findall("numatune/memnode")
        ),
        vcpupins=tuple(
            (_int(p.get("vcpu")), parse_cpuset(p.get("cpuset"))) for p in root.findall("cputune/vcpupin")
        ),
        emulatorpin=parse_cpuset(root.find("cputune/emulatorpin").get("cpuset"))
        if root.find("cputune/emulatorpin") is not None
        else None,
        cpuset=parse_cpuset(vcpu.get("cpuset")) if vcpu is not None and vcpu.get("cpuset") else None,
        guest_numa_cells=tuple(cells),
        cpu_mode=cpu.get("mode") if cpu is not None else None,
    )
