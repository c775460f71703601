"""preflight.compat.network on the lab's bridge_mtu_smaller recordings (the real migrations
succeed; preflight is stricter by design: lab.STRICTER_BY_DESIGN)."""

from __future__ import annotations

from _fixtures import read

from preflight.compat.network import judge_interfaces, judge_path_mtu
from preflight.facts.guest_needs import parse_guest_needs
from preflight.facts.models import LibvirtNetwork
from preflight.facts.netlink import parse_ip_link
from preflight.model import Status

HV1 = parse_ip_link(read("compat/ip-link.lab-hv1.json"))
HV3_SMALL = parse_ip_link(read("compat/ip-link.mtu-smaller.lab-hv3.json"))


def test_smaller_bridge_mtu_fails_with_and_without_guest_mtu():
    for f in ("compat/vm-gluster.lab-migratable.xml", "compat/vm-mtu.lab-migratable.xml"):
        g = parse_guest_needs(read(f))
        res = {x.details["nic"].split()[1]: x for x in judge_interfaces(g, "hv1", "hv3", HV1, HV3_SMALL)}
        assert res["br-app"].status is Status.FAIL and "MTU 1400" in res["br-app"].message
        if "br0" in res:
            assert res["br0"].status is Status.PASS


def test_same_mtu_passes_and_missing_bridge_fails():
    g = parse_guest_needs(read("compat/vm-gluster.lab-migratable.xml"))
    assert all(f.status is Status.PASS for f in judge_interfaces(g, "hv1", "hv1", HV1, HV1))
    no_app = {k: v for k, v in HV1.items() if k != "br-app"}
    res = judge_interfaces(g, "hv1", "hv3", HV1, no_app)
    assert [f.status for f in res] == [Status.PASS, Status.FAIL] and "No such device" in res[1].message


def test_networks_vlans_and_unknowns():
    g = parse_guest_needs(read("domains/net-virtio-network-portgroup.libvirt.xml"))
    nets = {n.source for n in g.nics if n.type == "network"}
    r = judge_interfaces(g, "a", "b", HV1, HV1, {})
    assert any(f.status is Status.FAIL and "not defined" in f.message for f in r)
    defined = {n: LibvirtNetwork(name=n, active=True, bridge="br0") for n in nets}
    r = judge_interfaces(g, "a", "b", HV1, HV1, defined)
    assert not any(f.status is Status.FAIL and "not defined" in f.message for f in r)
    assert all(f.status is Status.ERROR for f in judge_interfaces(g, "a", "b", HV1, None, None))
    vlan = parse_guest_needs(
        read("compat/vm-gluster.lab-migratable.xml").replace(
            "<source bridge='br0'/>", "<source bridge='br0'/><vlan><tag id='42'/></vlan>"
        )
    )
    r = judge_interfaces(vlan, "hv1", "hv1", HV1, HV1)
    assert r[0].status is Status.FAIL and "Open vSwitch" in r[0].message


def test_path_mtu():
    assert judge_path_mtu("a", "b", 1500, True).status is Status.PASS
    assert judge_path_mtu("a", "b", 9000, False, "100% packet loss").status is Status.FAIL
    assert judge_path_mtu("a", "b", None, None).status is Status.ERROR
