import pytest

from _fixtures import read
from preflight.facts.capabilities import parse_capabilities, parse_cpuinfo, parse_network, version_string


def test_real_kvm_host_capabilities():
    caps = parse_capabilities(read("libvirt/capabilities.virt-manager-kvm-x86_64.host-excerpt.xml"))
    assert caps["host_uuid"] == "39303242-3334-3636-3341-3745ffffffff"
    assert (caps["arch"], caps["cpu_vendor"], caps["cpu_model"]) == ("x86_64", "AMD", "Opteron_G4")
    assert "invtsc" in caps["cpu_features"] and len(caps["cpu_features"]) == 19


def test_test_driver_capabilities_have_no_cpu_model_or_uuid():
    caps = parse_capabilities(read("libvirt/capabilities.virsh9-test-driver.xml"))
    assert caps["host_uuid"] is None and caps["cpu_model"] is None and caps["cpu_features"] is None
    assert caps["arch"] == "i686"


def test_networks():
    nat = parse_network({"name": "default", "active": True, "autostart": True,
                         "xml": read("libvirt/network-nat.libvirt-networkxml2xmlin.xml")})
    assert (nat.name, nat.bridge, nat.forward, nat.active) == ("default", "virbr0", "nat", True)
    test = parse_network({"name": "default", "active": False,
                          "xml": read("libvirt/network-default.virsh9-test-driver.xml")})
    assert test.bridge == "virbr0" and not test.active
    isolated = parse_network({"name": "iso", "active": True, "xml": "<network><name>iso</name></network>"})
    assert isolated.forward is None and isolated.bridge is None


def test_versions():
    assert version_string(9000000) == "9.0.0"
    assert version_string(7002000) == "7.2.0"
    assert version_string(10010001) == "10.10.1"
    for bad in (None, "9.0.0", -1, True):
        with pytest.raises(ValueError):
            version_string(bad)


def test_wrong_root_raises():
    with pytest.raises(ValueError):
        parse_capabilities("<domain/>")


def test_lab_capabilities_microcode_and_signature():
    """libvirt 9.0 on the lab: <microcode version> (decimal) and <signature> in <host><cpu>."""
    caps = parse_capabilities(read("libvirt/capabilities.lab-hv1.xml"))
    assert (caps["cpu_vendor"], caps["cpu_model"]) == ("AMD", "kvm64")
    assert caps["cpu_microcode"] == 0x1000065 and caps["cpu_signature"] == (25, 17, 1)
    old = parse_capabilities(read("libvirt/capabilities.virt-manager-kvm-x86_64.host-excerpt.xml"))
    assert old["cpu_signature"] is None                    # libvirt 1.2 had no <signature>


def test_cpuinfo_first_processor():
    info = parse_cpuinfo(read("host/cpuinfo.lab-hv1.txt"))
    # /proc/cpuinfo prints the microcode in hex, libvirt in decimal: the same number here
    assert info["microcode"] == parse_capabilities(read("libvirt/capabilities.lab-hv1.xml"))["cpu_microcode"]
    assert (info["family"], info["model"], info["stepping"]) == (25, 17, 1)
    assert info["vendor"] == "AuthenticAMD" and info["model_name"]
    assert parse_cpuinfo("") == {} and parse_cpuinfo("processor\t: 0\nmodel\t\t: x\n") == {}
