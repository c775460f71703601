"""libvirt host capabilities XML, libvirt network XML and libvirt version numbers."""

from __future__ import annotations

from preflight.facts.models import LibvirtNetwork
from preflight.facts.xmlsafe import parse_xml, text_of


def version_string(number) -> str:
    """libvirt's encoding major*1_000_000 + minor*1_000 + micro: 9000000 -> '9.0.0'."""
    if isinstance(number, bool) or not isinstance(number, int) or number < 0:
        raise ValueError(f"not a libvirt version number: {number!r}")
    return f"{number // 1_000_000}.{number // 1_000 % 1_000}.{number % 1_000}"


def parse_capabilities(xml: str) -> dict:
    """The host part of virConnectGetCapabilities: uuid, arch, cpu vendor/model/features."""
    root = parse_xml(xml, "capabilities XML")
    if root.tag != "capabilities":
        raise ValueError(f"capabilities XML has root <{root.tag}>, expected <capabilities>")
    host = root.find("host")
    if host is None:
        raise ValueError("capabilities XML has no <host> element")
    cpu = host.find("cpu")
    features = None
    if cpu is not None and (cpu.find("model") is not None or cpu.find("feature") is not None):
        features = tuple(sorted(f.get("name") for f in cpu.findall("feature") if f.get("name")))
    return {
        "host_uuid": text_of(host, "uuid"),
        "arch": text_of(cpu, "arch"),
        "cpu_vendor": text_of(cpu, "vendor"),
        "cpu_model": text_of(cpu, "model"),
        "cpu_features": features,
    }


def parse_network(raw: dict) -> LibvirtNetwork:
    """One entry of the raw "networks" list: name/active/persistent/autostart + its XML."""
    root = parse_xml(raw.get("xml"), f"network {raw.get('name')!r} XML")
    if root.tag != "network":
        raise ValueError(f"network XML has root <{root.tag}>, expected <network>")
    name = text_of(root, "name") or raw.get("name")
    bridge = root.find("bridge")
    forward = root.find("forward")
    return LibvirtNetwork(
        name=name,
        active=bool(raw.get("active")),
        bridge=bridge.get("name") if bridge is not None else None,
        forward=(forward.get("mode") or "nat") if forward is not None else None,
        persistent=bool(raw.get("persistent", True)),
        autostart=bool(raw.get("autostart", False)),
    )
