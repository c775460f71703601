from dataclasses import replace

from factories import GuestInterface, as_list, bridge, domain, host, migration, run_spec, statuses
from preflight.checks.network import guest_networks
from preflight.facts.models import LibvirtNetwork, NetInterface

BR = GuestInterface("bridge", "br0", mac="52:54:00:aa:bb:01")
NET = GuestInterface("network", "default", mac="52:54:00:aa:bb:03")
DIRECT = GuestInterface("direct", "eth0", mac="52:54:00:aa:bb:02", mode="bridge")


def test_everything_present_passes():
    dom = domain(interfaces=(BR, NET, DIRECT, GuestInterface("user", None)))
    assert statuses(guest_networks(migration(dom))) == ["pass"] * 4


def test_missing_bridge_fails_naming_mac_source_and_destination():
    dst = host("hv2", interfaces={"eth0": NetInterface("eth0", up=True)})
    [f] = as_list(guest_networks(migration(domain(interfaces=(BR,)), dst=dst)))
    assert f.status.value == "fail"
    assert "52:54:00:aa:bb:01" in f.message and "br0" in f.message and "hv2" in f.message
    assert "No such device" in f.message


def test_bridge_name_that_is_not_a_bridge_fails_ovs_passes_down_warns():
    not_bridge = host("hv2", interfaces={"br0": NetInterface("br0", kind="veth", up=True)})
    assert statuses(guest_networks(migration(domain(interfaces=(BR,)), dst=not_bridge))) == ["fail"]
    ovs = host("hv2", interfaces={"br0": bridge(kind="openvswitch")})
    assert statuses(guest_networks(migration(domain(interfaces=(BR,)), dst=ovs))) == ["pass"]
    down = host("hv2", interfaces={"br0": bridge(up=False)})
    assert statuses(guest_networks(migration(domain(interfaces=(BR,)), dst=down))) == ["warn"]


def test_network_undefined_or_inactive_fails():
    none = host("hv2", networks={})
    assert statuses(guest_networks(migration(domain(interfaces=(NET,)), dst=none))) == ["fail"]
    inactive = host("hv2", networks={"default": LibvirtNetwork("default", active=False, bridge="virbr0")})
    [f] = as_list(guest_networks(migration(domain(interfaces=(NET,)), dst=inactive)))
    assert f.status.value == "fail" and "not active" in f.message


def test_direct_source_device_missing_fails():
    dst = host("hv2", interfaces={"br0": bridge()})
    assert statuses(guest_networks(migration(domain(interfaces=(DIRECT,)), dst=dst))) == ["fail"]


def test_unreadable_network_and_unknown_types_are_error():
    dst = host("hv2", networks={}, fact_errors={"network:default": "XMLDesc failed"})
    assert statuses(guest_networks(migration(domain(interfaces=(NET,)), dst=dst))) == ["error"]
    odd = GuestInterface("vhostuser", "/run/vhost.sock")
    assert statuses(guest_networks(migration(domain(interfaces=(odd,))))) == ["error"]


def test_missing_interfaces_fact_makes_the_runner_say_error():
    dom = domain(interfaces=(BR,))
    src = host("hv1", domains=(dom,))
    dst = host("hv2", interfaces={}, fact_errors={"interfaces": "`ip -j -d link show` exited 1"})
    results = run_spec(guest_networks, migration(dom, src, dst).cluster)
    assert results and all(r.status.value == "error" for r in results)


# --- network.mtu on the lab's recorded links and guests (tests/fixtures/compat) -------------------

def _lab(name: str) -> str:
    from pathlib import Path

    return (Path(__file__).resolve().parents[1] / "fixtures" / "compat" / name).read_text()


def _links(fixture: str) -> dict:
    from preflight.facts.netlink import parse_ip_link

    return parse_ip_link(_lab(fixture))


def _guest(fixture: str):
    from preflight.facts.domain_xml import parse_domain_xml

    return parse_domain_xml(_lab(fixture), name=fixture.split(".")[0], active=True, state="running")


def test_lab_bridge_with_a_smaller_mtu_warns_since_the_real_migration_succeeds():
    """Lab bridge_mtu_smaller: hv3's br-app 1400, the guests' 1500 (from hv1's br-app, or <mtu>)."""
    from preflight.checks.network import nic_mtu

    src, dst = host("hv1", interfaces=_links("ip-link.lab-hv1.json")), \
        host("hv3", interfaces=_links("ip-link.mtu-smaller.lab-hv3.json"))
    by_nic = {f.item: f for f in as_list(nic_mtu(migration(_guest("vm-gluster.lab-migratable.xml"), src, dst)))}
    app = next(f for f in by_nic.values() if "br-app" in f.message)
    assert app.status.value == "warn" and "1400" in app.message and "1500" in app.message
    assert "hv1" in app.message and app.item.startswith("nic=52:54:00")
    assert [f.status.value for f in by_nic.values() if f is not app] == ["pass"]     # br0 1500 both
    [own] = as_list(nic_mtu(migration(_guest("vm-mtu.lab-migratable.xml"), src, dst)))
    assert own.status.value == "warn" and "<mtu size>" in own.message
    # towards a destination whose br-app is 1500 too: pass
    same = host("hv2", interfaces=_links("ip-link.lab-hv1.json"))
    assert statuses(nic_mtu(migration(_guest("vm-mtu.lab-migratable.xml"), src, same))) == ["pass"]


def test_mtu_missing_device_is_left_to_guest_networks_and_unknown_mtu_is_error():
    from preflight.checks.network import nic_mtu

    dom = domain(interfaces=(BR,))
    dom = replace(dom, needs=_guest("vm-mtu.lab-migratable.xml").needs)        # NIC on br-app
    src = host("hv1", interfaces={"br-app": bridge()})
    assert statuses(nic_mtu(migration(dom, src, host("hv2", interfaces={})))) == ["skip"]
    no_mtu = host("hv2", interfaces={"br-app": NetInterface("br-app", kind="bridge", up=True)})
    assert statuses(nic_mtu(migration(dom, src, no_mtu))) == ["error"]
    assert statuses(nic_mtu(migration(replace(dom, needs=None), src, no_mtu))) == ["error"]


def test_mtu_of_a_libvirt_network_nic_is_its_bridges_on_both_ends():
    from preflight.checks.network import nic_mtu
    from preflight.facts.guest_needs import parse_guest_needs

    xml = ("<domain type='kvm'><name>vm1</name><os><type arch='x86_64' machine='pc'>hvm</type></os>"
           "<devices><interface type='network'><mac address='52:54:00:aa:bb:03'/>"
           "<source network='default'/></interface></devices></domain>")
    dom = replace(domain(interfaces=(NET,)), needs=parse_guest_needs(xml))
    net = {"default": LibvirtNetwork("default", active=True, bridge="virbr0", forward="nat")}
    src = host("hv1", networks=net, interfaces={"virbr0": NetInterface("virbr0", kind="bridge", up=True, mtu=9000)})
    small = host("hv2", networks=net, interfaces={"virbr0": NetInterface("virbr0", kind="bridge", up=True,
                                                                         mtu=1500)})
    [f] = as_list(nic_mtu(migration(dom, src, small)))
    assert f.status.value == "warn" and "virbr0" in f.message and "9000" in f.message
