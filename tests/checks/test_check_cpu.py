"""cpu.compatible on typed facts: guests parsed from live/migratable XMLs recorded in the lab
(libvirt 9.0, QEMU 7.2, KVM without pni/svm), verdicts as the destination's libvirt gives them."""

from dataclasses import replace
from pathlib import Path

import pytest

from factories import CpuVerdict, as_list, cpu, domain, host, migration, pair, run_spec, statuses
from preflight.checks.cpu import cpu_compatible
from preflight.facts.domain_xml import parse_domain_xml

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def read(rel: str) -> str:
    return (FIXTURES / rel).read_text(encoding="utf-8")


LIVE_INCOMPATIBLE = ("the CPU is incompatible with host CPU: Host CPU does not provide "
                     "required features: x2apic, lahf_lm")
# recorded: `virsh hypervisor-cpu-compare --error` of the MIGRATABLE qemu64 XML on lab hv2
CONFIGURED_INCOMPATIBLE = read("libvirt/hypervisor-cpu-compare-qemu64-migratable.lab-hv2.txt") \
    .split("error: ", 2)[-1].strip()


def recorded(stem: str, live: bool = True):
    """A running guest as the lab recorded it: its migratable XML, and its live XML unless
    `live` is False (a recording made before preflight gathered the live XML)."""
    dom = parse_domain_xml(read(f"domains/{stem}.lab-migratable.xml"), state="running", active=True,
                           live_xml=read(f"domains/{stem}.lab-live.xml") if live else None,
                           live_note=None if live else "the live definition was not recorded")
    return replace(dom, name="vm1")


def verdict(result, message=None, compared="live"):
    from preflight.facts.cpu_defs import missing_features
    return CpuVerdict(result, message, compared=compared, missing=missing_features(message))


def judge(dom, v, **kw):
    [f] = as_list(cpu_compatible(migration(dom, pr=pair(cpu={"vm1": v}), **kw)))
    return f


# --- custom / host-model: the live CPU ------------------------------------------------------

def test_qemu64_check_none_guest_is_judged_by_its_live_cpu():
    """The false alarm of issue 6: configured qemu64 check='none', started with pni/svm disabled.
    The destination's verdict on the LIVE CPU passes, and the finding says which CPU it judged."""
    dom = recorded("cpu-qemu64-check-none")
    assert dom.cpu.check == "none" and dom.live_cpu.check == "full"
    f = judge(dom, verdict("superset"))
    assert f.status.value == "pass", f.message
    assert "live CPU qemu64 -pni" in f.message and "-svm" in f.message and "check='full'" in f.message
    assert f.details["compared"] == "live" and f.observed == "superset"


def test_live_cpu_missing_features_fail_naming_them_and_libvirts_refusal():
    dom = recorded("cpu-qemu64-check-none")
    f = judge(dom, verdict("incompatible", LIVE_INCOMPATIBLE))
    assert f.status.value == "fail"
    assert "hv2 lacks x2apic, lahf_lm" in f.message and "live CPU" in f.message
    assert "refuses the incoming guest once QEMU started" in f.message      # check='full'
    assert f.details["missing_features"] == ["x2apic", "lahf_lm"] and f.details["compared"] == "live"


def test_live_check_none_fails_and_says_the_guest_would_lose_the_feature():
    live = cpu(check="none", feats={"pni": "disable", "x2apic": "require"})
    dom = domain(cpu=cpu(check="none"), live_cpu=live)
    f = judge(dom, verdict("incompatible", LIVE_INCOMPATIBLE))
    assert f.status.value == "fail"
    assert "does not check this CPU (check='none')" in f.message and "under its feet" in f.message


def test_live_check_partial_fails_before_qemu_starts():
    dom = domain(cpu=cpu(check="partial"), live_cpu=cpu(check="partial"))
    f = judge(dom, verdict("incompatible", LIVE_INCOMPATIBLE))
    assert f.status.value == "fail" and "before starting QEMU" in f.message


def test_host_model_guest_is_judged_by_its_expansion():
    dom = recorded("cpu-host-model")
    assert dom.cpu.mode == "custom" and dom.live_cpu.model == "kvm64" and dom.live_cpu.vendor == "AMD"
    assert "arch-capabilities" in dom.live_cpu.disabled
    f = judge(dom, verdict("superset"))
    assert f.status.value == "pass" and "live CPU kvm64" in f.message
    f = judge(dom, verdict("incompatible", "the CPU is incompatible with host CPU: Host CPU does not "
                                           "provide required features: clzero"))
    assert f.status.value == "fail" and "lacks clzero" in f.message


def test_forbidden_feature_and_vendor_mismatch_fail_with_libvirts_words():
    dom = recorded("cpu-host-model")
    f = judge(dom, verdict("incompatible", "the CPU is incompatible with host CPU: Host CPU provides "
                                           "forbidden features: svm"))
    assert f.status.value == "fail" and "has svm, which the guest forbids" in f.message
    f = judge(dom, verdict("incompatible", "host CPU vendor does not match required CPU vendor AMD"))
    assert f.status.value == "fail" and "vendor AMD" in f.message


# --- recordings without the live XML: the configured CPU, honestly ----------------------------

def test_old_recording_compatible_configured_cpu_passes_and_says_what_was_compared():
    dom = recorded("cpu-qemu64-check-none", live=False)
    assert dom.live_cpu is None
    f = judge(dom, verdict("superset", compared="configured"))
    assert f.status.value == "pass"
    assert "configured CPU qemu64" in f.message and "not recorded" in f.message
    assert f.details["compared"] == "configured"


def test_old_recording_incompatible_check_none_is_unknown_never_a_false_fail():
    """What issue 6's lab saw, replayed from a recording without the live XML: the configured
    qemu64 lacks pni/svm on hv2, but libvirt started the guest without them (check='none')."""
    dom = recorded("cpu-qemu64-check-none", live=False)
    f = judge(dom, verdict("incompatible", CONFIGURED_INCOMPATIBLE, compared="configured"))
    assert f.status.value == "error", f.message
    assert "pni, svm" in f.message and "may not use them" in f.message and "check='none'" in f.message


def test_old_recording_incompatible_check_full_fails():
    dom = domain(cpu=cpu(check="full", pni="disable"))
    f = judge(dom, verdict("incompatible", LIVE_INCOMPATIBLE, compared="configured"))
    assert f.status.value == "fail" and "configured CPU" in f.message


def test_missing_or_failed_verdict_is_error():
    assert statuses(cpu_compatible(migration(pr=pair(cpu={})))) == ["error"]
    assert statuses(cpu_compatible(migration(pr=pair(cpu={"vm1": CpuVerdict(None, "boom")})))) == ["error"]
    assert statuses(cpu_compatible(migration(no_pair=True))) == ["error"]
    assert statuses(cpu_compatible(migration(pr=pair(cpu={"vm1": CpuVerdict("weird")})))) == ["error"]


def test_missing_cpu_fact_makes_the_runner_say_error():
    ctx = migration(pr=replace(pair(cpu={}), fact_errors={"cpu": "compareHypervisorCPU failed"}))
    results = run_spec(cpu_compatible, ctx.cluster)
    assert results and all(r.status.value == "error" for r in results)


# --- host-passthrough / maximum: the hosts' CPUs ---------------------------------------------

AMD = dict(cpu_vendor="AMD", cpu_model="kvm64", cpu_signature=(25, 17, 1), cpu_microcode=0x1000065)


@pytest.mark.parametrize("stem", ["cpu-host-passthrough", "cpu-maximum"])
def test_passthrough_identical_host_cpu_passes(stem):
    dom = recorded(stem)
    assert dom.cpu.mode == dom.live_cpu.mode and dom.live_cpu.check == "none"
    f = judge(dom, verdict("identical", compared="source-host"), src=host("hv1", domains=(dom,), **AMD),
              dst=host("hv2", **AMD))
    assert f.status.value == "pass", f.message
    assert f.source.startswith("hv2: compareHypervisorCPU(host-model CPU of hv1)")


def test_passthrough_missing_feature_fails_naming_it():
    dom = recorded("cpu-host-passthrough")
    msg = "the CPU is incompatible with host CPU: Host CPU does not provide required features: avx512f, gfni"
    f = judge(dom, verdict("incompatible", msg, compared="source-host"),
              src=host("hv1", domains=(dom,), **AMD), dst=host("hv2", **AMD))
    assert f.status.value == "fail"
    assert "lacks avx512f, gfni" in f.message and "does not check host-passthrough" in f.message
    assert f.details["missing_features"] == ["avx512f", "gfni"]


@pytest.mark.parametrize("dst_kw, words", [
    (dict(cpu_microcode=0x1000066), "microcode 0x1000065 vs 0x1000066"),
    (dict(cpu_signature=(25, 17, 2)), "stepping 1 vs 2"),
])
def test_passthrough_same_features_other_microcode_or_stepping_warns(dst_kw, words):
    dom = recorded("cpu-host-passthrough")
    f = judge(dom, verdict("identical", compared="source-host"), src=host("hv1", domains=(dom,), **AMD),
              dst=host("hv2", **{**AMD, **dst_kw}))
    assert f.status.value == "warn" and words in f.message


def test_passthrough_destination_with_more_features_warns():
    dom = recorded("cpu-host-passthrough")
    f = judge(dom, verdict("superset", compared="source-host"), src=host("hv1", domains=(dom,), **AMD),
              dst=host("hv2", **AMD))
    assert f.status.value == "warn" and "may not migrate back" in f.message


def test_passthrough_without_a_verdict_compares_capabilities():
    """Recordings made before the source-host verdict existed: capabilities <host><cpu>."""
    dom = domain(cpu=cpu("host-passthrough", model=None))
    old = CpuVerdict("superset")                      # what old records hold: the configured compare
    assert statuses(cpu_compatible(migration(dom, pr=pair(cpu={"vm1": old})))) == ["pass"]
    f = judge(dom, old, dst=host("hv2", cpu_features=("ds", "vmx")))
    assert f.status.value == "fail" and "lacks invtsc" in f.message
    assert f.details["missing_features"] == ["invtsc"]
    assert statuses(cpu_compatible(migration(dom, dst=host("hv2", cpu_vendor="AMD")))) == ["fail"]
    # other model names: which features differ is not known without libvirt's verdict
    other_model = host("hv2", cpu_model="Cascadelake-Server")
    assert statuses(cpu_compatible(migration(dom, dst=other_model))) == ["error"]
    more = host("hv2", cpu_features=("ds", "vmx", "invtsc", "avx"))
    assert statuses(cpu_compatible(migration(dom, dst=more))) == ["warn"]
    assert statuses(cpu_compatible(migration(dom, dst=host("hv2", cpu_features=None)))) == ["error"]


def test_maximum_under_tcg_compares_qemu_versions():
    dom = replace(domain(cpu=cpu("maximum", model=None)), type="qemu")
    assert statuses(cpu_compatible(migration(dom))) == ["pass"]
    f = judge(dom, CpuVerdict("identical"), dst=host("hv2", qemu_version="8.2.0"))
    assert f.status.value == "warn" and "8.2.0" in f.message
