import pytest

from _fixtures import read
from preflight.facts.netlink import NetlinkError, merge_links_and_addresses, parse_ip_addr, parse_ip_link


def test_bridge_with_enslaved_veth_recorded_in_a_netns():
    links = parse_ip_link(read("host/ip-link.netns-bridge.json"))
    br0 = links["br0"]
    assert (br0.kind, br0.up, br0.mtu, br0.operstate) == ("bridge", True, 1400, "UP")
    assert links["vethA"].master == "br0" and links["vethA"].slave_kind == "bridge"
    assert links["mv0"].kind == "macvlan" and not links["mv0"].up
    assert links["lo"].kind is None


def test_addresses_merge():
    links = parse_ip_link(read("host/ip-link.netns-bridge.json"))
    addrs = parse_ip_addr(read("host/ip-addr.netns-bridge.json"))
    merged = merge_links_and_addresses(links, addrs)
    assert "10.251.99.1/24" in merged["br0"].addresses


def test_this_machine():
    links = parse_ip_link(read("host/ip-link.this-machine.json"))
    assert links["eth0"].up and links["eth0"].mtu == 1400 and links["eth0"].kind is None
    assert links["ifb0"].kind == "ifb" and not links["ifb0"].up
    addrs = parse_ip_addr(read("host/ip-addr.this-machine.json"))
    assert "127.0.0.1/8" in addrs["lo"]


def test_garbage_raises():
    for bad in ("", "not json", '{"ifname": "x"}', '[{"mtu": 1}]'):
        with pytest.raises(NetlinkError):
            parse_ip_link(bad)
