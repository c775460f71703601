"""The CPU a migration hands to the destination, from live and migratable XMLs recorded in the
lab (libvirt 9.0.0, QEMU 7.2, nested KVM without pni/svm; see fixtures/SOURCES.md)."""

import pytest
from lxml import etree

from _fixtures import read
from preflight.facts.cpu_defs import (CONFIGURED, LIVE, SOURCE_HOST, guest_compare_target, host_model_cpu,
                                      missing_features)
from preflight.facts.domain_xml import parse_domain_xml

DOMCAPS = read("libvirt/domcapabilities.lab-hv1.xml")


def raw(stem: str, live: bool = True) -> dict:
    entry = {"name": stem, "active": True, "xml": read(f"domains/{stem}.lab-migratable.xml")}
    if live:
        entry["live_xml"] = read(f"domains/{stem}.lab-live.xml")
    return entry


def features(cpu_xml: str) -> dict:
    root = etree.fromstring(cpu_xml)
    return {f.get("name"): f.get("policy") for f in root.findall("feature")}


def test_qemu64_check_none_live_cpu_has_the_features_libvirt_disabled():
    """Issue 6's guest: configured qemu64 check='none'; libvirt started it with pni and svm off."""
    dom = parse_domain_xml(read("domains/cpu-qemu64-check-none.lab-migratable.xml"), active=True,
                           live_xml=read("domains/cpu-qemu64-check-none.lab-live.xml"))
    assert (dom.cpu.mode, dom.cpu.model, dom.cpu.check, dom.cpu.features) == ("custom", "qemu64", "none", ())
    live = dom.live_cpu
    assert (live.model, live.check, live.disabled) == ("qemu64", "full", ("pni", "svm"))
    assert {f.name for f in live.features if f.policy == "require"} == {"x2apic", "hypervisor", "lahf_lm"}
    assert live.summary == "qemu64 -pni +x2apic +hypervisor +lahf_lm -svm"
    target = guest_compare_target(raw("cpu-qemu64-check-none"))
    assert target.compared == LIVE and target.key[:3] == ("x86_64", "pc-i440fx-7.2", "kvm")
    assert features(target.cpu_xml) == {"pni": "disable", "svm": "disable", "x2apic": "require",
                                        "hypervisor": "require", "lahf_lm": "require"}


def test_without_the_live_xml_the_configured_cpu_is_compared_and_named():
    target = guest_compare_target(raw("cpu-qemu64-check-none", live=False))
    assert target.compared == CONFIGURED and features(target.cpu_xml) == {}
    assert etree.fromstring(target.cpu_xml).findtext("model") == "qemu64"


def test_broken_live_xml_falls_back_to_the_configured_cpu():
    entry = dict(raw("cpu-qemu64-check-none"), live_xml="<domain><cpu")
    assert guest_compare_target(entry).compared == CONFIGURED
    dom = parse_domain_xml(entry["xml"], active=True, live_xml=entry["live_xml"])
    assert dom.live_cpu is None and "could not be parsed" in dom.live_cpu_note
    assert dom.error is None and dom.cpu.model == "qemu64"          # the domain itself is fine


def test_host_model_is_judged_by_its_expansion():
    """The live XML shows host-model expanded into a custom CPU (kvm64 + the host's features);
    the migratable one the expansion libvirt made before QEMU disabled the arch-capabilities MSRs."""
    dom = parse_domain_xml(read("domains/cpu-host-model.lab-migratable.xml"), active=True,
                           live_xml=read("domains/cpu-host-model.lab-live.xml"))
    assert (dom.live_cpu.mode, dom.live_cpu.model, dom.live_cpu.vendor, dom.live_cpu.check) == \
        ("custom", "kvm64", "AMD", "full")
    assert {"arch-capabilities", "rdctl-no", "mds-no", "pni"} <= set(dom.live_cpu.disabled)
    assert dom.cpu.check == "partial" and "rdctl-no" not in dom.cpu.disabled
    target = guest_compare_target(raw("cpu-host-model"))
    assert target.compared == LIVE
    root = etree.fromstring(target.cpu_xml)
    assert (root.get("mode"), root.findtext("model"), root.findtext("vendor")) == ("custom", "kvm64", "AMD")
    assert features(target.cpu_xml)["rdctl-no"] == "disable"


def test_unexpanded_host_model_cannot_be_compared():
    entry = {"name": "x", "active": True, "xml": "<domain type='kvm'><os><type arch='x86_64'>hvm</type></os>"
                                                  "<cpu mode='host-model' check='partial'/></domain>"}
    target = guest_compare_target(entry)
    assert target.cpu_xml is None and "host-model" in target.why


@pytest.mark.parametrize("stem, mode", [("cpu-host-passthrough", "host-passthrough"),
                                        ("cpu-maximum", "maximum")])
def test_passthrough_and_maximum_compare_the_source_hosts_cpu(stem, mode):
    dom = parse_domain_xml(read(f"domains/{stem}.lab-migratable.xml"), active=True,
                           live_xml=read(f"domains/{stem}.lab-live.xml"))
    assert dom.live_cpu.mode == mode and dom.live_cpu.check == "none"   # libvirt never checks it
    assert dom.live_cpu.disabled == ("arch-capabilities",)
    target = guest_compare_target(raw(stem), DOMCAPS)
    assert target.compared == SOURCE_HOST
    root = etree.fromstring(target.cpu_xml)
    assert (root.findtext("model"), root.findtext("vendor")) == ("kvm64", "AMD")
    feats = features(target.cpu_xml)
    assert feats["arch-capabilities"] == "disable"          # the guest's own policy beats the host's
    assert feats["clzero"] == "require" and feats["pni"] == "disable"   # the host-model's
    assert guest_compare_target(raw(stem), None).why.startswith("the source's host-model CPU")


def test_host_model_cpu_of_recorded_domain_capabilities():
    model, vendor, feats = host_model_cpu(DOMCAPS)
    assert (model, vendor) == ("kvm64", "AMD") and feats["invtsc"] == "require" and feats["pni"] == "disable"
    assert host_model_cpu(None) is None and host_model_cpu("<domainCapabilities/>") is None


def test_identical_definitions_share_one_cache_key():
    a, b = raw("cpu-qemu64-check-none"), raw("cpu-qemu64-check-none")
    b["live_xml"] = b["live_xml"].replace("vm-t1", "other").replace("<vcpu placement='static'>1",
                                                                     "<vcpu placement='static'>4")
    assert guest_compare_target(a).key == guest_compare_target(b).key


def test_missing_features_from_libvirts_recorded_message():
    recorded = read("libvirt/hypervisor-cpu-compare-qemu64-migratable.lab-hv2.txt")
    assert missing_features(recorded) == ("pni", "svm")
    assert missing_features("host CPU vendor does not match required CPU vendor AMD") == ()
    assert missing_features(None) == ()
