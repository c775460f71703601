"""preflight.compat.baseline reproduces libvirt's own `virsh hypervisor-cpu-baseline --migratable`
(recorded in the lab) from the recorded domain capabilities; preflight.compat.versions."""

from __future__ import annotations

from _fixtures import read

from preflight.compat.baseline import judge_guest_cpu, judge_vendor_mix, offline_baseline, parse_cpu_def
from preflight.compat.versions import judge_versions
from preflight.facts.domcaps import parse_domcaps
from preflight.facts.versions import Version
from preflight.model import Status

LAB = parse_domcaps(read("libvirt/domcapabilities.lab-hv1.xml"))
LAB_NO_CLZERO = parse_domcaps(read("compat/domcapabilities.cpu-feature-missing.lab-hv3.xml"))
INTEL = parse_domcaps(read("compat/domcapabilities-q35.virt-manager-intel.xml"))
GENOA = parse_domcaps(read("compat/domcapabilities-q35-amdsev.libvirt-qemu10.0-excerpt.xml"))


def same(base, recorded):
    real = parse_cpu_def(read(recorded))
    return (base.model, base.vendor, base.required, base.disabled) == (
        real.model,
        real.vendor,
        real.required,
        real.disabled,
    )


def test_three_identical_hosts_match_libvirt():
    base = offline_baseline({"hv1": LAB, "hv2": LAB, "hv3": LAB})
    assert base.decided and same(base, "compat/hypervisor-cpu-baseline-migratable.lab-3hosts.txt")
    assert "invtsc" not in base.required and "invtsc" in LAB.host_model.required  # not migratable


def test_a_host_without_a_feature_matches_libvirt():
    base = offline_baseline({"hv1": LAB, "hv2": LAB, "hv3": LAB_NO_CLZERO})
    assert same(base, "compat/hypervisor-cpu-baseline-migratable.cpu-feature-missing.lab-3hosts.txt")
    assert "clzero" not in base.required
    assert parse_cpu_def(base.xml()).required == base.required


def test_mixed_vendors_as_libvirt_says():
    base = offline_baseline({"amd": LAB, "intel": INTEL})
    assert not base.decided and "vendors do not match" in base.reason
    assert "CPU vendors do not match" in read("compat/hypervisor-cpu-baseline-mixed-vendors.lab-hv1.txt")
    assert judge_vendor_mix({"amd": LAB, "intel": INTEL}).status is Status.FAIL
    assert judge_vendor_mix({"a": LAB, "b": LAB}).status is Status.PASS


def test_different_models_are_not_decided_offline():
    base = offline_baseline({"lab": LAB, "genoa": GENOA})
    assert not base.decided and "oldest libvirt" in base.reason
    assert (
        "486" in base.usable_everywhere and "kvm64" not in base.usable_everywhere
    )  # kvm64 unusable in the lab


def test_guests_against_the_baseline():
    dc = {"hv1": LAB, "hv2": LAB, "hv3": LAB_NO_CLZERO}
    base = offline_baseline(dc)
    live = parse_cpu_def(read("domains/cpu-host-model.lab-live.xml"))
    r = judge_guest_cpu("vm-hostmodel", live, base, dc)
    assert r.status is Status.WARN and "clzero" in r.message
    fits = parse_cpu_def(base.xml())
    assert judge_guest_cpu("vm-x", fits, base, dc).status is Status.PASS
    qemu64 = parse_cpu_def(read("domains/cpu-qemu64-check-none.lab-migratable.xml"))
    assert judge_guest_cpu("vm-qemu64", qemu64, base, dc).status is Status.WARN  # qemu64 is not usable here
    pt = parse_cpu_def(read("domains/cpu-host-passthrough.lab-live.xml"))
    assert judge_guest_cpu("vm-pt", pt, base, dc).status is Status.WARN
    assert judge_guest_cpu("vm-none", None, base, dc).status is Status.ERROR


def test_versions():
    v = judge_versions("hv1", "hv2", Version(9, 0, 0), Version(9, 0, 0), Version(7, 2, 22), Version(7, 2, 22))
    assert [f.status for f in v] == [Status.PASS, Status.PASS]
    old = judge_versions(
        "new", "old", Version(10, 0, 0), Version(9, 0, 0), Version(8, 2, 0), Version(7, 2, 22)
    )
    assert [f.status for f in old] == [Status.WARN, Status.WARN] and "7.2.22" in old[0].message
    assert judge_versions("a", "b", None, Version(9, 0, 0), None, None)[0].status is Status.ERROR
