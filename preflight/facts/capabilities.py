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
    """The host part of virConnectGetCapabilities: uuid, arch, cpu vendor/model/features,
    microcode version and family/model/stepping signature."""
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
    microcode = cpu.find("microcode") if cpu is not None else None
    sig = cpu.find("signature") if cpu is not None else None     # libvirt >= 7.x
    signature = None
    if sig is not None and all(sig.get(k) for k in ("family", "model", "stepping")):
        try:
            signature = tuple(int(sig.get(k)) for k in ("family", "model", "stepping"))
        except ValueError:
            signature = None
    return {
        "host_uuid": text_of(host, "uuid"),
        "arch": text_of(cpu, "arch"),
        "cpu_vendor": text_of(cpu, "vendor"),
        "cpu_model": text_of(cpu, "model"),
        "cpu_features": features,
        "cpu_microcode": _microcode(microcode.get("version")) if microcode is not None else None,
        "cpu_signature": signature,
    }


def _microcode(value):
    """libvirt prints the microcode revision in decimal, /proc/cpuinfo in hex: one int for both."""
    try:
        return int(str(value).strip(), 0) if value is not None and str(value).strip() else None
    except ValueError:
        return None


_CPUINFO_KEYS = {"cpu family": "family", "model": "model", "stepping": "stepping",
                 "microcode": "microcode", "model name": "model_name", "vendor_id": "vendor"}


def parse_cpuinfo(text: str) -> dict:
    """The first processor block of /proc/cpuinfo (x86 layout) -> {family, model, stepping:
    int; microcode: int; model_name, vendor: str}; keys it lacks are left out."""
    out: dict = {}
    for line in (text or "").splitlines():
        if not line.strip():
            if out:
                break
            continue
        key, sep, value = line.partition(":")
        field = _CPUINFO_KEYS.get(key.strip())
        if not sep or field is None or field in out:
            continue
        value = value.strip()
        if field in ("family", "model", "stepping"):
            try:
                out[field] = int(value, 0)
            except ValueError:
                continue
        elif field == "microcode":
            if _microcode(value) is not None:
                out[field] = _microcode(value)
        elif value:
            out[field] = value
    return out


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
