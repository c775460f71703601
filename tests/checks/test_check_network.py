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
