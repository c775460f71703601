"""preflight.facts.firewalld on public real outputs: firewalld's shipped zone files and
`firewall-cmd --list-all-zones` listings (see SOURCES.md)."""

from __future__ import annotations

import pytest

from _fixtures import read
from preflight.facts.firewalld import (
    FirewalldError,
    parse_list_all_zones,
    parse_rich_rule,
    parse_service_xml,
    parse_zone_xml,
)


def test_list_all_zones_with_rich_rules_and_forward_ports():
    zones = {
        z.name: z for z in parse_list_all_zones(read("compat/firewall-cmd-list-all-zones.insights-core.txt"))
    }
    assert list(zones) == ["block", "dmz", "public", "trusted"]
    pub = zones["public"]
    assert pub.active and not pub.default and pub.interfaces == ("eno1",)
    assert pub.services == ("dhcpv6-client", "ssh") and len(pub.forward_ports) == 3
    r = pub.rich_rules[0]
    assert (r.family, r.source, r.destination, r.port, r.protocol, r.action) == (
        "ipv4",
        "10.0.0.0/24",
        "192.168.0.10/32",
        "8080-8090",
        "tcp",
        "accept",
    )
    assert pub.rich_rules[2].element is None and pub.rich_rules[2].action == "reject"
    assert pub.rich_rules[3].unknown == ("forward-port",)
    assert zones["trusted"].icmp_block_inversion and zones["block"].target == "%%REJECT%%"


def test_newer_listing_with_sources_and_priorities():
    zones = {
        z.name: z
        for z in parse_list_all_zones(read("compat/firewall-cmd-list-all-zones.pi-automation-excerpt.txt"))
    }
    assert zones["internal"].sources == ("10.50.0.0/24", "10.0.0.0/24", "192.168.1.0/24")
    assert zones["trusted"].sources == ("10.88.0.2/32",) and zones["trusted"].active
    assert zones["nm-shared"].rich_rules[0].priority == 32767
    assert zones["external"].forward_ports[0].startswith("port=1194:proto=tcp")


def test_zone_and_service_xml():
    pub = parse_zone_xml(read("compat/firewalld-zone-public.firewalld.xml"))
    assert pub.name == "public" and pub.services == ("ssh", "dhcpv6-client") and pub.target == "default"
    drop = parse_zone_xml(read("compat/firewalld-zone-drop.firewalld.xml"), name="drop")
    assert drop.name == "drop" and drop.target == "DROP"
    assert parse_service_xml(read("compat/firewalld-service-libvirt.firewalld.xml")) == ("16509/tcp",)


def test_zone_xml_rich_rule_round_trip():
    z = parse_zone_xml(
        '<zone><rule family="ipv4"><source address="10.1.0.0/16" invert="True"/>'
        '<port protocol="tcp" port="49152-49215"/><reject type="tcp-reset"/></rule></zone>',
        "z",
    )
    r = z.rich_rules[0]
    assert (
        r.source == "10.1.0.0/16" and r.source_not and r.action == "reject" and r.reject_type == "tcp-reset"
    )


@pytest.mark.parametrize(
    "text", ["public (active)\nnot an attribute\n", "  target: default\n", 'rule x="1" drop']
)
def test_malformed(text):
    with pytest.raises(FirewalldError):
        parse_list_all_zones(text) if not text.startswith("rule") else parse_rich_rule("x " + text)
