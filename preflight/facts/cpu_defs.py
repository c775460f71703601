"""Which CPU definition a migration hands to the destination, as XML for compareHypervisorCPU.

libvirt (src/qemu/qemu_migration_cookie.c, qemuMigrationCookieAddCPU) puts the guest's LIVE
<cpu> into the migration cookie whenever libvirt changed the CPU when the guest started (that
is when it keeps the original as priv->origCPU: the migratable XML then shows the configured
CPU). The destination (qemuProcessInit -> qemuDomainUpdateCPU) replaces the XML's CPU with the
cookie's, so the CPU the destination must provide is the live one, disabled features included.
When libvirt changed nothing the migratable XML's CPU is the live one anyway.

- custom / host-model: the live <cpu> (host-model was expanded into custom when the guest
  started, qemuProcessUpdateGuestCPU -> virCPUUpdate -> x86UpdateHostModel). Without a live
  XML (recordings made before it was gathered) the configured <cpu> of the migratable XML.
- host-passthrough / maximum: libvirt does not CPU-check them on migration; the guest sees its
  host's CPU. What it sees is approximated by the SOURCE's domain-capabilities host-model CPU
  (the migratable CPU QEMU/KVM offer there), with the guest's own <feature> policies applied;
  the destination's verdict on that says whether it offers the same CPU.

Only the parts libvirt's comparison reads are kept (mode custom, match, model, vendor,
features), in a canonical order: identical definitions then share one call per destination.
"""

from __future__ import annotations

import re
from typing import Optional

from lxml import etree

from preflight.facts.xmlsafe import parse_xml

__all__ = ["HOST_CPU_MODES", "CompareTarget", "guest_compare_target", "host_model_cpu",
           "canonical_cpu_xml", "missing_features", "forbidden_features", "LIVE", "CONFIGURED", "SOURCE_HOST"]

HOST_CPU_MODES = ("host-passthrough", "maximum")

# what a pair verdict compared ("compared" in the raw record; CpuVerdict.compared)
LIVE = "live"                  # the guest's live <cpu> (what the migration cookie carries)
CONFIGURED = "configured"      # the migratable XML's <cpu> (the live one was not recorded)
SOURCE_HOST = "source-host"    # host-passthrough/maximum: the source's host-model CPU

_MISSING = re.compile(r"does not provide required features:\s*(.+?)\s*$", re.I | re.S)
_FORBIDDEN = re.compile(r"provides forbidden features:\s*(.+?)\s*$", re.I | re.S)


class CompareTarget:
    """What to ask the destination about one guest: (arch, machine, virttype, cpu_xml) or why not."""

    __slots__ = ("compared", "arch", "machine", "virttype", "cpu_xml", "why")

    def __init__(self, compared, arch=None, machine=None, virttype=None, cpu_xml=None, why=None):
        self.compared, self.arch, self.machine = compared, arch, machine
        self.virttype, self.cpu_xml, self.why = virttype, cpu_xml, why

    @property
    def key(self) -> tuple:
        return self.arch, self.machine, self.virttype, self.cpu_xml


def canonical_cpu_xml(model: Optional[str], features, *, vendor: Optional[str] = None,
                      match: Optional[str] = None) -> str:
    """<cpu mode='custom'> with the model, vendor and features (name -> policy) sorted."""
    cpu = etree.Element("cpu", mode="custom", match=match or "exact")
    if model:
        etree.SubElement(cpu, "model").text = model
    if vendor:
        etree.SubElement(cpu, "vendor").text = vendor
    for name in sorted(features):
        etree.SubElement(cpu, "feature", policy=features[name], name=name)
    return etree.tostring(cpu, encoding="unicode")


def _features(cpu) -> dict:
    """name -> policy of a <cpu>'s <feature> children (libvirt's default policy is require)."""
    return {f.get("name"): f.get("policy") or "require" for f in cpu.findall("feature") if f.get("name")}


def host_model_cpu(domcaps_xml: Optional[str]) -> Optional[tuple]:
    """(model, vendor, {feature: policy}) of <mode name='host-model'> in domain capabilities,
    or None when there is none (not gathered, not supported, no model)."""
    if not domcaps_xml:
        return None
    try:
        root = parse_xml(domcaps_xml, "domain capabilities XML")
    except ValueError:
        return None
    mode = root.find("cpu/mode[@name='host-model']")
    if mode is None or mode.get("supported") == "no":
        return None
    model = (mode.findtext("model") or "").strip()
    if not model:
        return None
    return model, (mode.findtext("vendor") or "").strip() or None, _features(mode)


def _root_args(root) -> tuple:
    ostype = root.find("os/type")
    arch = ostype.get("arch") if ostype is not None else None
    machine = ostype.get("machine") if ostype is not None else None
    return arch, machine, root.get("type") or "kvm"


def guest_compare_target(raw_domain: dict, source_domcaps: Optional[str] = None) -> CompareTarget:
    """The CPU definition the destination must provide for one raw domain entry (see module doc)."""
    live = raw_domain.get("live_xml")
    xml = live or raw_domain.get("xml")
    compared = LIVE if live else CONFIGURED
    if not xml:
        return CompareTarget(compared, why="the guest XML could not be gathered")
    try:
        root = parse_xml(xml, "domain XML")
    except ValueError as exc:
        if live and raw_domain.get("xml"):          # a broken live XML: say so, use the configured one
            return guest_compare_target(dict(raw_domain, live_xml=None), source_domcaps)
        return CompareTarget(compared, why=f"unparsable guest XML: {exc}")
    arch, machine, virttype = _root_args(root)
    cpu = root.find("cpu")
    if cpu is None:
        return CompareTarget(compared, arch, machine, virttype, why=(
            "the guest XML has no <cpu> element (the hypervisor's default model); nothing to compare"))
    mode = cpu.get("mode") or "custom"
    if mode in HOST_CPU_MODES:
        host = host_model_cpu(source_domcaps)
        if host is None:
            return CompareTarget(SOURCE_HOST, arch, machine, virttype, why=(
                "the source's host-model CPU (domain capabilities) is unknown"))
        model, vendor, features = host
        features = dict(features)
        features.update(_features(cpu))            # the guest's own policies win (e.g. a disabled MSR)
        return CompareTarget(SOURCE_HOST, arch, machine, virttype,
                             canonical_cpu_xml(model, features, vendor=vendor))
    model = (cpu.findtext("model") or "").strip()
    if not model:
        if mode == "host-model":
            return CompareTarget(compared, arch, machine, virttype, why=(
                "host-model CPU without its expansion (the guest is not running, or the live "
                "definition was not recorded): which CPU it runs with is unknown"))
        return CompareTarget(compared, arch, machine, virttype, why=(
            "the guest's <cpu> names no model (topology only: the hypervisor's default); nothing to compare"))
    vendor = (cpu.findtext("vendor") or "").strip() or None
    return CompareTarget(compared, arch, machine, virttype,
                         canonical_cpu_xml(model, _features(cpu), vendor=vendor, match=cpu.get("match")))


def missing_features(message: Optional[str]) -> tuple:
    """Feature names out of libvirt's virCPUx86Compare message ("Host CPU does not provide
    required features: pni, svm"); () when it names none (vendor mismatch, other errors)."""
    if not message:
        return ()
    m = _MISSING.search(message)
    if not m:
        return ()
    return tuple(f.strip() for f in m.group(1).split(",") if f.strip())


def forbidden_features(message: Optional[str]) -> tuple:
    """Features the guest forbids that the host has ("Host CPU provides forbidden features: x")."""
    m = _FORBIDDEN.search(message or "")
    return tuple(f.strip() for f in m.group(1).split(",") if f.strip()) if m else ()
