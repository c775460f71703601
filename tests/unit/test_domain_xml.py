import pytest

from _fixtures import read
from preflight.facts.domain_xml import parse_domain_xml
from preflight.facts.xmlsafe import UnsafeXMLError
from preflight.scrub import MASK


def disks(name):
    return {d.target: d for d in parse_domain_xml(read(f"domains/{name}")).disks}


def test_virsh_migratable_xml_file_cdrom_network_volume_shareable():
    dom = parse_domain_xml(read("domains/vm-shared.virsh9-test-driver.xml"), state="running", active=True)
    assert (dom.name, dom.type, dom.memory_kib, dom.vcpus, dom.machine) == ("vm-shared", "kvm", 131072, 1, "pc")
    d = {x.target: x for x in dom.disks}
    assert (d["vda"].type, d["vda"].path, d["vda"].format, d["vda"].cache) == \
        ("file", "/srv/vm store/vm-shared.qcow2", "qcow2", "none")
    assert d["sda"].device == "cdrom" and d["sda"].empty and d["sda"].readonly
    assert d["vdb"].protocol == "rbd" and [h.name for h in d["vdb"].hosts] == ["mon1.example.org", "mon2.example.org"]
    assert d["vdb"].hosts[0].port == 6789
    assert d["vdb"].has_auth and d["vdb"].auth_secret == "0a81f5b2-8403-7b23-c8d6-21ccc2f80d6f"
    assert (d["vdc"].type, d["vdc"].pool, d["vdc"].volume) == ("volume", "default", "data.img")
    assert d["vdd"].shareable and not d["vdd"].readonly
    ifs = {i.mac: i for i in dom.interfaces}
    assert (ifs["52:54:00:aa:bb:01"].type, ifs["52:54:00:aa:bb:01"].source) == ("bridge", "br0")
    assert (ifs["52:54:00:aa:bb:02"].source, ifs["52:54:00:aa:bb:02"].mode) == ("eth0", "bridge")
    assert (ifs["52:54:00:aa:bb:03"].source, ifs["52:54:00:aa:bb:03"].portgroup) == ("default", "web")
    assert [(h.type, h.address) for h in dom.hostdevs] == [("usb", "0x1234:0xbeef")]
    assert dom.cpu.mode == "custom" and dom.cpu.model == "qemu64" and dom.cpu.requires("invtsc")
    assert not dom.cpu.requires("svm")
    assert dom.cpu.xml.startswith("<cpu mode=\"custom\"") and dom.cpu.xml.endswith("</cpu>")
    assert dom.tsc_frequency is None and dom.active and dom.state == "running"


def test_libvirt_cdrom_variants():
    d = disks("disk-cdrom.libvirt.xml")
    assert (d["hda"].type, d["hda"].path, d["hda"].empty) == ("block", "/dev/cdrom", False)
    assert d["hdb"].path == "/root/boot.iso" and d["hdb"].readonly
    assert d["hdc"].empty and d["hdc"].cache == "none" and d["hdd"].empty


def test_libvirt_network_nfs_and_iscsi_with_auth_usage():
    nfs = disks("disk-network-nfs.libvirt.xml")
    assert nfs["vda"].name == "/foo/bar/baz" and nfs["vda"].hosts[0].name == "example.com"
    assert nfs["vda"].hosts[0].port is None and nfs["vdb"].format == "qcow2"
    iscsi = disks("disk-network-iscsi.libvirt.xml")
    assert iscsi["vda"].hosts[0].port == 6000 and not iscsi["vda"].has_auth
    assert iscsi["vdc"].auth_secret == "mycluster_myname"          # <auth> under <disk>
    assert iscsi["sdc"].auth_secret == "mycluster_myname"          # <auth> under <source>
    assert iscsi["sda"].device == "lun"


def test_cpu_and_tsc():
    tsc = parse_domain_xml(read("domains/cpu-tsc-frequency.libvirt.xml"))
    assert tsc.cpu.mode == "host-model" and tsc.cpu.requires("invtsc")
    assert tsc.tsc_frequency == 4567890000 and tsc.cpu.fallback == "allow"
    hp = parse_domain_xml(read("domains/cpu-host-passthrough-features.libvirt.xml"))
    assert hp.cpu.mode == "host-passthrough"
    assert {(f.name, f.policy) for f in hp.cpu.features} == {("abm", "require"), ("ds", "force"),
                                                             ("invtsc", "disable")}
    assert not hp.cpu.requires("invtsc") and hp.cpu.requires("ds")


def test_hostdevs_and_teaming():
    pci = parse_domain_xml(read("domains/hostdev-pci-address.libvirt.xml"))
    assert [(h.mode, h.type, h.address) for h in pci.hostdevs] == [("subsystem", "pci", "0000:06:12.5")]
    mdev = parse_domain_xml(read("domains/hostdev-mdev-precreated.libvirt.xml"))
    assert mdev.hostdevs[0].type == "mdev" and mdev.hostdevs[0].address == "53764d0e-85a0-42b4-af5c-2046b460b1dc"
    team = parse_domain_xml(read("domains/net-virtio-teaming-hostdev.libvirt.xml"))
    assert [h.teaming for h in team.hostdevs] == ["transient", "transient"]
    assert [i.teaming for i in team.interfaces] == ["persistent", "persistent"]


def test_network_interfaces_with_portgroups_and_virtualport():
    dom = parse_domain_xml(read("domains/net-virtio-network-portgroup.libvirt.xml"))
    assert [(i.source, i.portgroup, i.virtualport) for i in dom.interfaces] == [
        ("rednet", "bob", "802.1Qbg"), ("blue", "sam", "unspecified"), ("blue", "sam", "802.1Qbh")]


XXE = """<?xml version="1.0"?>
<!DOCTYPE domain [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>
<domain type='kvm'><name>&xxe;</name></domain>"""

LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<domain><name>&lol2;</name></domain>"""


@pytest.mark.parametrize("payload", [XXE, LAUGHS])
def test_entities_are_never_expanded(payload):
    with pytest.raises(UnsafeXMLError):
        parse_domain_xml(payload)


def test_xxe_is_not_expanded_even_by_the_raw_parser():
    from preflight.facts import xmlsafe
    from lxml import etree

    root = etree.fromstring(XXE.encode(), xmlsafe._parser())
    assert root.findtext("name") in (None, "")          # entity left unresolved, file never read


def test_secrets_are_scrubbed_from_the_kept_xml():
    xml = read("domains/vm-shared.virsh9-test-driver.xml").replace(
        "</devices>", "<graphics type='vnc' port='-1' passwd='hunter2'/>"
                      "<qemu:arg xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0' "
                      "value='secret=abc,password=def'/></devices>")
    dom = parse_domain_xml(xml)
    assert "hunter2" not in dom.xml and "abc" not in dom.xml and "def'" not in dom.xml
    assert f'passwd="{MASK}"' in dom.xml            # the one mask of record and reports


def test_broken_xml_raises_value_error():
    for bad in ("", "<domain>", "<network/>"):
        with pytest.raises(ValueError):
            parse_domain_xml(bad)
