"""libvirt domain capabilities (virConnectGetDomainCapabilities / `virsh domcapabilities`).

One document describes what ONE emulator binary offers for ONE (arch, machine type, virt type)
on that host: libvirt answers for the combination asked (or the host's defaults), and refuses
with an error when the emulator, the machine type or the virt type is not available there
("the machine 'X' is not supported by emulator 'Y'"). That refusal is itself a fact: ask each
destination for the guest's own combination (see preflight.compat.machine).

Only what migration compatibility needs is modelled: the combination answered, the CPU modes
(host-model expansion, usable named models), the device enums (disk bus, video model, TPM model,
...) and the feature switches. Enum values are kept as libvirt spells them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from preflight.facts.xmlsafe import parse_xml, text_of


@dataclass(frozen=True)
class DeviceCaps:
    """One child of <devices> (disk, video, tpm, ...): supported, and its enums by name."""

    supported: bool
    enums: dict = field(default_factory=dict)  # name -> tuple of values

    def values(self, enum: str) -> Optional[tuple]:
        """The values of one enum, or None when libvirt did not list that enum at all."""
        return self.enums.get(enum)


@dataclass(frozen=True)
class CpuModel:
    name: str
    usable: Optional[bool]  # None: libvirt said 'unknown'
    vendor: Optional[str] = None
    canonical: Optional[str] = None
    blockers: tuple = ()  # features the host lacks for this model (libvirt >= 4.x)


@dataclass(frozen=True)
class HostModel:
    """<mode name='host-model'>: the named model plus features libvirt expands host-model to."""

    supported: bool
    model: Optional[str] = None
    vendor: Optional[str] = None
    required: tuple = ()  # features with policy require
    disabled: tuple = ()  # features with policy disable


@dataclass(frozen=True)
class DomainCaps:
    emulator: Optional[str]  # <path>
    domain: Optional[str]  # kvm, qemu, ...
    machine: Optional[str]  # the canonical machine type answered (pc-q35-7.2)
    arch: Optional[str]
    vcpu_max: Optional[int] = None
    host_passthrough: Optional[bool] = None
    maximum: Optional[bool] = None
    host_model: Optional[HostModel] = None
    custom_models: tuple = ()  # tuple[CpuModel]
    devices: dict = field(default_factory=dict)  # name -> DeviceCaps
    features: dict = field(default_factory=dict)  # name -> supported (bool)
    firmware: tuple = ()  # <os><enum name='firmware'> values (bios, efi)

    def device(self, name: str) -> Optional[DeviceCaps]:
        return self.devices.get(name)

    def model(self, name: str) -> Optional[CpuModel]:
        for m in self.custom_models:
            if m.name == name:
                return m
        return None


def _yes(value) -> Optional[bool]:
    if value == "yes":
        return True
    if value == "no":
        return False
    return None


def _int(text) -> Optional[int]:
    try:
        return int(str(text).strip())
    except (TypeError, ValueError):
        return None


def _enums(elem) -> dict:
    return {
        e.get("name"): tuple((v.text or "").strip() for v in e.findall("value"))
        for e in elem.findall("enum")
        if e.get("name")
    }


def _host_model(mode) -> HostModel:
    model = mode.find("model")
    feats = mode.findall("feature")
    return HostModel(
        supported=_yes(mode.get("supported")) is True,
        model=(model.text or "").strip() or None if model is not None else None,
        vendor=text_of(mode, "vendor"),
        required=tuple(
            sorted(f.get("name") for f in feats if f.get("policy") == "require" and f.get("name"))
        ),
        disabled=tuple(
            sorted(f.get("name") for f in feats if f.get("policy") == "disable" and f.get("name"))
        ),
    )


def _custom_models(mode) -> tuple:
    blockers = {
        b.get("model"): tuple(sorted(f.get("name") for f in b.findall("feature") if f.get("name")))
        for b in mode.findall("blockers")
    }
    out = []
    for m in mode.findall("model"):
        name = (m.text or "").strip()
        if not name:
            continue
        out.append(
            CpuModel(
                name=name,
                usable=_yes(m.get("usable")),
                vendor=m.get("vendor"),
                canonical=m.get("canonical"),
                blockers=blockers.get(name, ()),
            )
        )
    return tuple(out)


def parse_domcaps(xml: str) -> DomainCaps:
    """Parse one domain capabilities document. Raises ValueError (UnsafeXMLError included) when it
    is not one."""
    root = parse_xml(xml, "domain capabilities XML")
    if root.tag != "domainCapabilities":
        raise ValueError(f"domain capabilities XML has root <{root.tag}>, expected <domainCapabilities>")
    vcpu = root.find("vcpu")
    modes = {m.get("name"): m for m in root.findall("cpu/mode")}
    hp, mx, hm, custom = (modes.get(n) for n in ("host-passthrough", "maximum", "host-model", "custom"))
    devices = root.find("devices")
    features = root.find("features")
    fw = root.find("os/enum[@name='firmware']")
    return DomainCaps(
        emulator=text_of(root, "path"),
        domain=text_of(root, "domain"),
        machine=text_of(root, "machine"),
        arch=text_of(root, "arch"),
        vcpu_max=_int(vcpu.get("max")) if vcpu is not None else None,
        host_passthrough=_yes(hp.get("supported")) if hp is not None else None,
        maximum=_yes(mx.get("supported")) if mx is not None else None,
        host_model=_host_model(hm) if hm is not None else None,
        custom_models=_custom_models(custom) if custom is not None else (),
        devices={
            d.tag: DeviceCaps(supported=_yes(d.get("supported")) is True, enums=_enums(d))
            for d in (devices if devices is not None else ())
            if isinstance(d.tag, str)
        },
        features={
            f.tag: _yes(f.get("supported")) is True
            for f in (features if features is not None else ())
            if isinstance(f.tag, str)
        },
        firmware=tuple((v.text or "").strip() for v in fw.findall("value")) if fw is not None else (),
    )
