"""cpu.compatible: the destination can give the guest the CPU it runs with.

Decided the way libvirt decides on the destination of a live migration:

- custom and host-model guests: the CPU that counts is the LIVE one, which libvirt's migration
  cookie carries (qemuMigrationCookieAddCPU) and the destination substitutes for the XML's
  (qemuProcessInit -> qemuDomainUpdateCPU): libvirt updated it when the guest started
  (qemuProcessUpdateLiveGuestCPU: features QEMU could not enable marked disabled, check set to
  'full'; host-model was expanded into custom by qemuProcessUpdateGuestCPU). The destination's
  compareHypervisorCPU on it (virCPUx86Compare: disabled features are not required) says what
  the destination lacks. With check='full' libvirt there refuses the guest after QEMU started
  (virCPUx86UpdateLive: "guest CPU doesn't match specification: missing features"), with
  'partial' before (qemuProcessUpdateGuestCPU -> virCPUCompare); with 'none' it does not look,
  and the guest silently loses the feature: FAIL all the same, saying so.
- host-passthrough and maximum: libvirt checks nothing (qemuMigrationSrcIsAllowed,
  qemuProcessUpdateGuestCPU skip them); the guest sees its host's CPU, so the destination's
  must be the same. The destination's verdict on the source's host-model CPU (the migratable
  CPU KVM offers there) names missing features (FAIL) or extra ones (WARN); identical features
  with a different microcode revision or stepping WARN.
"""

from __future__ import annotations

from preflight.engine.registry import check, failed, passed, undecided, warned
from preflight.facts.cpu_defs import CONFIGURED, HOST_CPU_MODES, LIVE, SOURCE_HOST, forbidden_features
from preflight.model import Scope, Severity

from ._common import LIBVIRT_DOMAIN_XML, unparsed, where

LIBVIRT_QEMU_PROCESS_C = "https://gitlab.com/libvirt/libvirt/-/blob/master/src/qemu/qemu_process.c"


def _names(features) -> str:
    return ", ".join(features)


# --- custom and host-model ----------------------------------------------------------------

def _judged(ctx, verdict):
    """(GuestCpu that was compared, how to call it) for the verdict's definition."""
    dom = ctx.domain
    if verdict.compared == LIVE and dom.live_cpu is not None:
        return dom.live_cpu, "live"
    return dom.cpu, "live" if verdict.compared == LIVE else "configured"


def _guest_cpu(ctx):
    dom, src, dst = ctx.domain, ctx.source, ctx.destination
    verdict = ctx.pair.cpu.get(dom.name) if ctx.pair else None
    ev = dict(source=where(dst, f"compareHypervisorCPU(<cpu> of {dom.name} from {src.name})"))
    if verdict is None or verdict.result is None:
        why = verdict.message if verdict and verdict.message else "no verdict was recorded"
        return undecided(f"{dst.name} did not judge the guest CPU: {why}",
                         expected="identical or superset", **ev)
    cpu, which = _judged(ctx, verdict)
    check_attr = cpu.check or ("partial" if (dom.type or "kvm") == "kvm" else "none")
    what = f"{which} CPU {cpu.summary} (check='{check_attr}')"
    ev.update(expected=f"{dst.name} provides every feature of the guest's {what}",
              details={"compared": verdict.compared, "cpu": cpu.summary, "check": check_attr,
                       "missing_features": list(verdict.missing)})
    stale = ""
    if verdict.compared == CONFIGURED:
        note = dom.live_cpu_note or "the live one is unknown"
        stale = f"; only the configured CPU could be compared: {note}"
    if verdict.result in ("identical", "superset"):
        extra = ("; features QEMU added when the guest started were not compared" if stale else "")
        return passed(f"{dst.name} can run the guest's {what}: {verdict.result}{stale}{extra}",
                      observed=verdict.result, **ev)
    if verdict.result != "incompatible":
        return undecided(f"unknown compareHypervisorCPU result {verdict.result!r}",
                         observed=verdict.result, **ev)
    lacks = (f"lacks {_names(verdict.missing)}" if verdict.missing
             else f"refuses it ({verdict.message or 'libvirt gave no reason'})")
    forbidden = forbidden_features(verdict.message)
    if forbidden:
        lacks = f"has {_names(forbidden)}, which the guest forbids"
    observed = f"incompatible: {verdict.message or 'no reason given'}"
    head = f"{dst.name} {lacks} of the guest's {what}"
    if which == "configured" and check_attr != "full":
        # libvirt may have started the guest without those features (check none/partial let
        # QEMU drop what the source could not provide): the running guest may not use them.
        return undecided(f"{head}, but the running guest may not use them: libvirt disables what its "
                         f"source could not provide when check='{check_attr}'{stale}; record the facts "
                         "again to compare the live CPU", observed=observed, **ev)
    if check_attr == "none":
        return failed(f"{head}. libvirt does not check this CPU (check='none'): the migration may "
                      "'succeed' and the guest lose those features under its feet", observed=observed, **ev)
    how = ("refuses the incoming guest once QEMU started (guest CPU doesn't match specification)"
           if check_attr == "full" else "refuses the incoming guest before starting QEMU")
    return failed(f"{head}: libvirt on {dst.name} {how}{stale}", observed=observed, **ev)


# --- host-passthrough and maximum ---------------------------------------------------------

def _silicon_differences(src, dst) -> list:
    """Microcode / family-model-stepping differences between two hosts' CPUs (known ones only)."""
    out = []
    if src.cpu_signature and dst.cpu_signature and src.cpu_signature != dst.cpu_signature:
        (sf, sm, ss), (df, dm, ds) = src.cpu_signature, dst.cpu_signature
        if (sf, sm) != (df, dm):
            out.append(f"family/model {sf}/{sm} vs {df}/{dm}")
        if ss != ds:
            out.append(f"stepping {ss} vs {ds}")
    if None not in (src.cpu_microcode, dst.cpu_microcode) and src.cpu_microcode != dst.cpu_microcode:
        out.append(f"microcode {src.cpu_microcode:#x} vs {dst.cpu_microcode:#x}")
    return out


def _host_label(host) -> str:
    parts = [host.cpu_vendor, host.cpu_model]
    label = " ".join(p for p in parts if p) or "unknown CPU"
    if host.cpu_model_name:
        label += f" ({host.cpu_model_name})"
    if host.cpu_signature:
        label += " family/model/stepping " + "/".join(str(x) for x in host.cpu_signature)
    if host.cpu_microcode is not None:
        label += f" microcode {host.cpu_microcode:#x}"
    return label


def _same_features(ctx, mode, ev, how):
    src, dst = ctx.source, ctx.destination
    diff = _silicon_differences(src, dst)
    details = dict(ev.get("details") or {}, differences=diff)
    ev = {k: v for k, v in ev.items() if k != "details"}
    if diff:
        return warned(f"{mode} guest: {dst.name} offers the same CPU features as {src.name} ({how}) but "
                      f"{', '.join(diff)}: the guest sees another CPU revision after the move",
                      details=details, **ev)
    unknown = "" if (src.cpu_signature and dst.cpu_signature and src.cpu_microcode is not None
                     and dst.cpu_microcode is not None) else "; microcode/stepping not known on both"
    return passed(f"{mode} guest: {dst.name} offers the same CPU as {src.name} ({how}){unknown}",
                  details=details, **ev)


def _host_cpu_from_caps(ctx, mode, why):
    """Recordings without the destination's verdict: compare the capabilities <host><cpu>."""
    src, dst = ctx.source, ctx.destination
    ev = dict(observed=_host_label(dst), expected=_host_label(src),
              source=where(src, "capabilities <host><cpu>") + "; " + where(dst, "capabilities <host><cpu>"))
    if None in (src.cpu_vendor, src.cpu_model, src.cpu_features,
                dst.cpu_vendor, dst.cpu_model, dst.cpu_features):
        return undecided(f"{mode} guest: the host CPU of {src.name} or {dst.name} is unknown "
                         f"(no model/features in capabilities; {why})", **ev)
    if src.cpu_vendor != dst.cpu_vendor:
        return failed(f"{mode} guest: {dst.name} has an {dst.cpu_vendor} CPU, "
                      f"{src.name} an {src.cpu_vendor} one", **ev)
    if src.cpu_model != dst.cpu_model:
        return undecided(f"{mode} guest: the host CPUs decode as different models ({src.cpu_model} vs "
                         f"{dst.cpu_model}); which features differ needs {dst.name}'s verdict, which is "
                         f"missing ({why})", **ev)
    missing = sorted(set(src.cpu_features) - set(dst.cpu_features))
    extra = sorted(set(dst.cpu_features) - set(src.cpu_features))
    ev["details"] = {"missing_features": missing, "extra_features": extra, "compared": "capabilities"}
    if missing:
        return failed(f"{mode} guest: {dst.name} lacks {_names(missing)} that {src.name}'s CPU has; libvirt "
                      "does not check this CPU on migration, so the guest would lose them under its feet",
                      **ev)
    if extra:
        return warned(f"{mode} guest: {dst.name}'s CPU adds {_names(extra)}: the guest keeps "
                      f"{src.name}'s CPU until it reboots, and after a reboot there may not migrate back",
                      **ev)
    return _same_features(ctx, mode, ev, "capabilities: same model and features")


def _host_cpu(ctx):
    dom, src, dst = ctx.domain, ctx.source, ctx.destination
    mode = dom.cpu.mode
    if mode == "maximum" and (dom.type or "kvm") == "qemu":
        # under TCG 'maximum' is QEMU's emulated CPU: it depends on QEMU, not on the silicon
        ev = dict(observed=dst.qemu_version, expected=src.qemu_version,
                  source=where(src, "getVersion") + "; " + where(dst, "getVersion"))
        if not src.qemu_version or not dst.qemu_version:
            return undecided("maximum CPU under TCG: a QEMU version is unknown", **ev)
        if src.qemu_version != dst.qemu_version:
            return warned(f"maximum CPU under TCG is QEMU's own: QEMU {src.qemu_version} on {src.name}, "
                          f"{dst.qemu_version} on {dst.name} may emulate different features", **ev)
        return passed(f"maximum CPU under TCG: the same QEMU {src.qemu_version} on both hosts", **ev)
    verdict = ctx.pair.cpu.get(dom.name) if ctx.pair else None
    if verdict is None or verdict.compared != SOURCE_HOST or verdict.result is None:
        why = (verdict.message if verdict is not None and verdict.compared == SOURCE_HOST and verdict.message
               else "the facts were recorded without it")
        return _host_cpu_from_caps(ctx, mode, why)
    ev = dict(observed=_host_label(dst), expected=f"the CPU of {src.name}: {_host_label(src)}",
              source=where(dst, f"compareHypervisorCPU(host-model CPU of {src.name})"),
              details={"compared": SOURCE_HOST, "missing_features": list(verdict.missing)})
    if verdict.result == "incompatible":
        lacks = (f"lacks {_names(verdict.missing)} that {src.name}'s CPU offers" if verdict.missing
                 else f"does not have {src.name}'s CPU ({verdict.message or 'libvirt gave no reason'})")
        return failed(f"{mode} guest: {dst.name} {lacks}. libvirt does not check {mode} CPUs on migration: "
                      "it may 'succeed' and the guest lose those features under its feet", **ev)
    if verdict.result == "superset":
        return warned(f"{mode} guest: {dst.name}'s CPU offers more than {src.name}'s: the guest keeps "
                      f"{src.name}'s CPU until it reboots, and after a reboot there may not migrate back",
                      **ev)
    if verdict.result == "identical":
        return _same_features(ctx, mode, ev, "same host-model CPU")
    return undecided(f"unknown compareHypervisorCPU result {verdict.result!r}", **ev)


@check(
    id="cpu.compatible", title="The destination can provide the CPU the guest runs with",
    category="cpu", severity=Severity.CRITICAL, scope=Scope.MIGRATION,
    requires=("domains", "capabilities", "cpu"),
    verifies="custom and host-model guests: the destination libvirt's compareHypervisorCPU verdict on "
             "the guest's LIVE <cpu> (the one libvirt's migration cookie carries: host-model already "
             "expanded, features the source could not provide disabled) is identical or superset; the "
             "configured <cpu> is compared only for recordings without the live XML, and the finding "
             "says so. host-passthrough and maximum guests: the destination's verdict on the source's "
             "host-model CPU (domain capabilities) is identical (FAIL on a missing feature, WARN on "
             "extra ones or on a different microcode revision or stepping).",
    rationale="A guest keeps the CPU it started with. For custom and host-model CPUs libvirt on the "
              "destination refuses a CPU it cannot provide (check='full' after starting QEMU, "
              "'partial' before); with check='none' it does not look and the guest silently loses "
              "the feature. host-passthrough and maximum are never checked by libvirt: the guest "
              "sees its host's CPU, so a feature missing on the destination vanishes under the "
              "running guest (or QEMU cannot load its CPU state), and a different CPU revision is "
              "a risk to weigh.",
    remediation="Give the guest a CPU model every host supports: `virsh domcapabilities` on each host, "
                "pick a common named model (or `virsh hypervisor-cpu-baseline` over all hosts) and set "
                "`<cpu mode='custom' match='exact'><model>MODEL</model></cpu>`; compare a running "
                "guest's CPU yourself with `virsh dumpxml GUEST > g.xml` on the source and "
                "`virsh hypervisor-cpu-compare g.xml` on the destination. For host-passthrough guests "
                "migrate only between hosts with the same CPU, or switch them to that common model.",
    references=(LIBVIRT_DOMAIN_XML + "#cpu-model-and-topology",
                "https://libvirt.org/html/libvirt-libvirt-host.html#virConnectCompareHypervisorCPU",
                LIBVIRT_QEMU_PROCESS_C,
                "https://www.qemu.org/docs/master/system/i386/cpu.html"),
)
def cpu_compatible(ctx):
    problem = unparsed(ctx.domain, ctx.source)
    if problem:
        return problem
    if ctx.domain.cpu.mode in HOST_CPU_MODES:
        return _host_cpu(ctx)
    return _guest_cpu(ctx)
