"""cpu.compatible: the destination can give the guest the CPU it already runs on."""

from __future__ import annotations

from preflight.engine.registry import check, failed, passed, undecided
from preflight.model import Scope, Severity

from ._common import LIBVIRT_DOMAIN_XML, unparsed, where

HOST_CPU_MODES = ("host-passthrough", "maximum")


def _host_cpu(host) -> tuple:
    return host.cpu_vendor, host.cpu_model, host.cpu_features


def _passthrough(ctx):
    src, dst = _host_cpu(ctx.source), _host_cpu(ctx.destination)
    ev = dict(observed=f"{dst[0]} {dst[1]}", expected=f"{src[0]} {src[1]}",
              source=where(ctx.source, "capabilities <host><cpu>") + "; "
              + where(ctx.destination, "capabilities <host><cpu>"))
    if None in src or None in dst:
        return undecided(f"{ctx.domain.cpu.mode} guest: the host CPU of {ctx.source.name} or "
                         f"{ctx.destination.name} is unknown (no model/features in capabilities)", **ev)
    missing = sorted(set(src[2]) - set(dst[2]))
    extra = sorted(set(dst[2]) - set(src[2]))
    if src[:2] != dst[:2] or missing or extra:
        return failed(f"{ctx.domain.cpu.mode} guest needs an identical host CPU; {ctx.destination.name} "
                      f"differs" + (f", lacks {', '.join(missing)}" if missing else "")
                      + (f", adds {', '.join(extra)}" if extra else ""),
                      details={"missing_features": missing, "extra_features": extra}, **ev)
    return passed(f"{ctx.domain.cpu.mode} guest: host CPUs are identical ({src[0]} {src[1]})", **ev)


@check(
    id="cpu.compatible", title="The destination can provide the guest's CPU model and features",
    category="cpu", severity=Severity.CRITICAL, scope=Scope.MIGRATION,
    requires=("domains", "capabilities", "cpu"),
    verifies="For custom and host-model guests, the destination libvirt's compareHypervisorCPU verdict "
             "on the guest's <cpu> is identical or superset. For host-passthrough/maximum guests, the "
             "two hosts' CPUs (vendor, model, feature list from capabilities) are identical.",
    rationale="A guest keeps the CPU features it booted with. If the destination cannot provide one of "
              "them QEMU refuses to start the incoming guest, or the guest crashes on an instruction "
              "that vanished. host-passthrough exposes the host CPU as is, so only an identical CPU is safe.",
    remediation="Give the guest a CPU model every host supports: `virsh domcapabilities` on each host, "
                "pick a common named model (or `virsh hypervisor-cpu-baseline` over all hosts) and set "
                "`<cpu mode='custom' match='exact'><model>MODEL</model></cpu>`; for host-passthrough "
                "guests migrate only between identical hosts, or switch them to that common model.",
    references=(LIBVIRT_DOMAIN_XML + "#cpu-model-and-topology",
                "https://libvirt.org/html/libvirt-libvirt-host.html#virConnectCompareHypervisorCPU",
                "https://www.qemu.org/docs/master/system/i386/cpu.html"),
)
def cpu_compatible(ctx):
    problem = unparsed(ctx.domain, ctx.source)
    if problem:
        return problem
    if ctx.domain.cpu.mode in HOST_CPU_MODES:
        return _passthrough(ctx)
    verdict = ctx.pair.cpu.get(ctx.domain.name) if ctx.pair else None
    ev = dict(source=where(ctx.destination, f"compareHypervisorCPU(<cpu> of {ctx.domain.name})"),
              expected="identical or superset")
    if verdict is None or verdict.result is None:
        why = verdict.message if verdict and verdict.message else "no verdict was recorded"
        return undecided(f"{ctx.destination.name} did not judge the guest CPU: {why}", **ev)
    if verdict.result in ("identical", "superset"):
        return passed(f"{ctx.destination.name} can run the guest CPU ({verdict.result})",
                      observed=verdict.result, **ev)
    if verdict.result == "incompatible":
        return failed(f"{ctx.destination.name} cannot provide the guest CPU: "
                      f"{verdict.message or 'libvirt gave no reason'}", observed=verdict.result, **ev)
    return undecided(f"unknown compareHypervisorCPU result {verdict.result!r}", observed=verdict.result, **ev)
