"""A cluster CPU baseline: the CPU definition every host can run, and the guests whose CPU
exceeds it.

Live (the authoritative answer): on ONE host, virConnectBaselineHypervisorCPU(emulator, arch,
machine, virttype, [every host's domain capabilities XML], VIR_CONNECT_BASELINE_CPU_MIGRATABLE)
— `virsh hypervisor-cpu-baseline --migratable FILE` with the hosts' `virsh domcapabilities`
concatenated in FILE. libvirt takes each document's host-model CPU. Ask the host with the OLDEST
libvirt: a newer host's host-model may name a model the asking libvirt's CPU map lacks (lab, libvirt
9.0 with QEMU 10's EPYC-Genoa: "Unknown CPU model EPYC-Genoa"). Hosts of different vendors have no
baseline ("CPU vendors do not match"). Then compareHypervisorCPU of the result on every host.

Offline (from recorded domain capabilities, no libvirt call): exact when every host's host-model
names the same model — the model plus the features every host requires, less the ones libvirt
drops as not migratable (invtsc), plus every host's disabled ones; this reproduces the lab's real
`virsh hypervisor-cpu-baseline --migratable` output. With different models it needs libvirt's CPU
map, so it only lists the named models usable on every host and says it could not decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from preflight.compat.finding import Finding, failed, passed, undecided, warned
from preflight.facts.xmlsafe import parse_xml

# libvirt src/cpu_map/x86_features.xml marks these migratable='no': a MIGRATABLE baseline drops them
NON_MIGRATABLE = frozenset({"invtsc"})


@dataclass(frozen=True)
class CpuDef:
    mode: Optional[str]
    model: Optional[str]
    vendor: Optional[str]
    required: frozenset = frozenset()
    disabled: frozenset = frozenset()


def parse_cpu_def(xml: str) -> CpuDef:
    """A <cpu> element (a guest's live CPU, or what hypervisor-cpu-baseline printed)."""
    root = parse_xml(xml, "CPU definition")
    cpu = root if root.tag == "cpu" else root.find(".//cpu")
    if cpu is None:
        raise ValueError("no <cpu> element")
    model = cpu.find("model")
    feats = cpu.findall("feature")
    return CpuDef(
        mode=cpu.get("mode") or ("custom" if model is not None else None),
        model=(model.text or "").strip() or None if model is not None else None,
        vendor=(cpu.findtext("vendor") or "").strip() or None,
        required=frozenset(
            f.get("name") for f in feats if f.get("policy", "require") in ("require", "force")
        ),
        disabled=frozenset(f.get("name") for f in feats if f.get("policy") in ("disable", "forbid")),
    )


@dataclass(frozen=True)
class Baseline:
    decided: bool
    reason: str
    model: Optional[str] = None
    vendor: Optional[str] = None
    required: frozenset = frozenset()
    disabled: frozenset = frozenset()
    usable_everywhere: tuple = ()  # named models usable on every host
    hosts: tuple = ()

    def xml(self) -> Optional[str]:
        """The CPU to configure, shaped like libvirt's own baseline output."""
        if not self.decided:
            return None
        lines = ["<cpu mode='custom' match='exact'>", f"  <model fallback='forbid'>{self.model}</model>"]
        if self.vendor:
            lines.append(f"  <vendor>{self.vendor}</vendor>")
        lines += [f"  <feature policy='require' name='{f}'/>" for f in sorted(self.required)]
        lines += [f"  <feature policy='disable' name='{f}'/>" for f in sorted(self.disabled)]
        return "\n".join(lines + ["</cpu>"])


def offline_baseline(domcaps: dict) -> Baseline:
    """domcaps: host -> DomainCaps (each host's default or the cluster's machine type)."""
    hosts = tuple(sorted(domcaps))
    if not hosts:
        return Baseline(False, "no host's domain capabilities")
    hms = {}
    for h in hosts:
        hm = domcaps[h].host_model if domcaps[h] else None
        if hm is None or not hm.supported or not hm.model:
            return Baseline(False, f"{h} offers no host-model CPU", hosts=hosts)
        hms[h] = hm
    vendors = {hm.vendor for hm in hms.values()}
    first = domcaps[hosts[0]]
    usable = [m.name for m in first.custom_models if m.usable]
    for h in hosts[1:]:
        ok = {m.name for m in domcaps[h].custom_models if m.usable}
        usable = [m for m in usable if m in ok]
    if len(vendors) > 1:
        return Baseline(
            False,
            "CPU vendors do not match (" + ", ".join(f"{h}: {hms[h].vendor}" for h in hosts) + ")",
            usable_everywhere=tuple(usable),
            hosts=hosts,
        )
    models = {hm.model for hm in hms.values()}
    if len(models) > 1:
        return Baseline(
            False,
            "the hosts' host-model CPUs name different models ("
            + ", ".join(f"{h}: {hms[h].model}" for h in hosts)
            + "): ask "
            "baselineHypervisorCPU on the host with the oldest libvirt",
            vendor=next(iter(vendors)),
            usable_everywhere=tuple(usable),
            hosts=hosts,
        )
    required = frozenset.intersection(*(frozenset(hm.required) for hm in hms.values())) - NON_MIGRATABLE
    disabled = frozenset().union(*(frozenset(hm.disabled) for hm in hms.values()))
    return Baseline(
        True,
        f"every host's host-model is {next(iter(models))}: the features all of them offer",
        model=next(iter(models)),
        vendor=next(iter(vendors)),
        required=required - disabled,
        disabled=disabled,
        usable_everywhere=tuple(usable),
        hosts=hosts,
    )


def judge_guest_cpu(guest: str, cpu: Optional[CpuDef], base: Baseline, domcaps: dict) -> Finding:
    """Does the guest's (live) CPU fit the cluster baseline, i.e. can it go everywhere?"""
    if cpu is None:
        return undecided(f"{guest}'s CPU definition is unknown")
    if cpu.mode in ("host-passthrough", "maximum"):
        return warned(
            f"{guest} uses {cpu.mode}: it sees its host's CPU and fits the baseline only if all hosts are "
            f"identical; configure the baseline CPU instead",
            observed=cpu.mode,
            expected=base.xml() or "a custom CPU usable on every host",
            baseline=base.model,
        )
    if not cpu.model:
        return undecided(f"{guest}'s CPU names no model")
    if base.decided and cpu.model == base.model:
        extra = sorted(cpu.required - base.required)
        conflict = sorted(cpu.required & base.disabled)
        if extra or conflict:
            return warned(
                f"{guest} requires {', '.join(extra + conflict)} beyond the cluster baseline ({base.model})",
                observed=", ".join(extra + conflict),
                expected=base.xml(),
                exceeds=extra + conflict,
            )
        return passed(f"{guest}'s CPU ({cpu.model}) fits the cluster baseline", observed=cpu.model)
    # a named model libvirt calls unusable on a host is fine if the guest disables its blockers
    not_usable, unsure = [], []
    for h, dc in sorted(domcaps.items()):
        m = dc.model(cpu.model) if dc else None
        if m is None or m.usable is not False:
            continue
        if m.blockers and set(m.blockers) <= cpu.disabled:
            continue
        (unsure if not m.blockers and cpu.disabled else not_usable).append(h)
    if not_usable:
        return warned(
            f"{guest}'s CPU model {cpu.model} is not usable on {', '.join(not_usable)}: it exceeds the "
            "cluster baseline",
            observed=cpu.model,
            expected=base.model or ", ".join(base.usable_everywhere[:8]),
        )
    if unsure:
        return undecided(
            f"{guest}'s CPU model {cpu.model} is not usable as such on {', '.join(unsure)}; whether the "
            "features it disables make it usable needs compareHypervisorCPU",
            observed=cpu.model,
        )
    if cpu.model in base.usable_everywhere:
        common = (
            frozenset.intersection(
                *(frozenset(dc.host_model.required) for dc in domcaps.values() if dc and dc.host_model)
            )
            if domcaps
            else frozenset()
        )
        extra = sorted(cpu.required - common)
        if not extra:
            return passed(
                f"{guest}'s CPU model {cpu.model} is usable on every host and requires nothing beyond "
                "what every host offers",
                observed=cpu.model,
            )
        return undecided(
            f"{guest}'s CPU model {cpu.model} is usable on every host, but whether each offers "
            f"{', '.join(extra)} needs compareHypervisorCPU",
            observed=cpu.model,
        )
    if not base.decided:
        return undecided(f"no offline baseline: {base.reason}", observed=cpu.model)
    return undecided(
        f"{guest}'s CPU model {cpu.model} differs from the baseline's {base.model}; compare it with "
        "compareHypervisorCPU on every host",
        observed=cpu.model,
        expected=base.model,
    )


def judge_vendor_mix(domcaps: dict) -> Finding:
    base = offline_baseline(domcaps)
    if "vendors do not match" in base.reason:
        return failed(
            f"the cluster mixes CPU vendors ({base.reason}): no CPU model lets every guest go everywhere",
            observed=base.reason,
            expected="one CPU vendor",
        )
    return passed("every host has the same CPU vendor", observed=base.vendor)
