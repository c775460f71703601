"""preflight.facts.domcaps on recorded domain capabilities: two CPU vendors (AMD lab, Intel
virt-manager), three QEMU versions (2.9, 7.2, 10.0), kvm and tcg, i440fx and q35."""

from __future__ import annotations

import pytest

from _fixtures import read
from preflight.facts.domcaps import parse_domcaps
from preflight.facts.xmlsafe import UnsafeXMLError


def test_lab_q35_kvm_amd():
    d = parse_domcaps(read("compat/domcapabilities-q35.lab-hv1.xml"))
    assert (d.emulator, d.domain, d.machine, d.arch) == (
        "/usr/bin/qemu-system-x86_64",
        "kvm",
        "pc-q35-7.2",
        "x86_64",
    )
    assert d.vcpu_max == 288
    assert d.host_model.model == "kvm64" and d.host_model.vendor == "AMD"
    assert "pni" in d.host_model.disabled and "invtsc" in d.host_model.required
    # q35 has no IDE bus; the lab's QEMU has no swtpm, so only a passthrough TPM backend
    assert "ide" not in d.device("disk").values("bus") and "sata" in d.device("disk").values("bus")
    assert d.device("tpm").values("backendModel") == ("passthrough",)
    assert d.model("qemu64").usable is False and d.model("486").usable is True


def test_lab_default_is_i440fx_with_ide():
    d = parse_domcaps(read("libvirt/domcapabilities.lab-hv1.xml"))
    assert d.machine == "pc-i440fx-7.2" and "ide" in d.device("disk").values("bus")


def test_lab_tcg_offers_another_host_model():
    d = parse_domcaps(read("compat/domcapabilities-tcg.lab-hv1.xml"))
    assert d.domain == "qemu" and d.host_model.model == "EPYC" and d.vcpu_max == 255


def test_intel_qemu29_virt_manager():
    d = parse_domcaps(read("compat/domcapabilities-q35.virt-manager-intel.xml"))
    assert d.machine == "pc-q35-2.9" and d.host_model.vendor == "Intel"
    assert d.host_model.model == "Skylake-Client-IBRS"
    assert d.device("tpm").values("backendModel") == ("passthrough", "emulator")
    assert d.device("video").values("modelType") == ("vga", "cirrus", "vmvga", "qxl", "virtio")
    assert d.model("Opteron_G5").usable is False and d.model("Haswell").usable is True
    assert d.model("Haswell").vendor is None  # libvirt of that time printed no vendor
    assert d.host_passthrough is True and d.maximum is None


def test_amd_qemu10_libvirt_testdata_blockers_and_features():
    d = parse_domcaps(read("compat/domcapabilities-q35-amdsev.libvirt-qemu10.0-excerpt.xml"))
    assert d.machine == "pc-q35-10.0" and d.vcpu_max == 4096 and d.host_model.model == "EPYC-Genoa"
    assert d.model("Broadwell").blockers == ("hle", "rtm")
    assert d.model("EPYC-Genoa").canonical == "EPYC-Genoa-v1"
    assert d.device("tpm").values("backendModel") == ("passthrough", "emulator", "external")
    assert d.features["sev"] is True and d.features["sgx"] is False
    assert d.firmware == ("bios", "efi")


def test_an_enum_libvirt_did_not_list_is_none_not_empty():
    d = parse_domcaps(read("compat/domcapabilities-q35.virt-manager-intel.xml"))
    assert d.device("disk").values("model") is None
    assert d.device("rng") is None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "<capabilities/>",
        "<domainCapabilities>",
        "<!DOCTYPE x [<!ENTITY a 'b'>]><domainCapabilities>&a;</domainCapabilities>",
    ],
)
def test_not_domain_capabilities_is_refused(text):
    with pytest.raises((ValueError, UnsafeXMLError)):
        parse_domcaps(text)
