"""preflight.compat.packet: the packet-filter interpreter, on the lab's real rulesets (whose real
migration outcomes the lab oracle records) and on a real iptables-save / iptables-nft ruleset."""

from __future__ import annotations

import pytest
from _fixtures import read
from hypothesis import given
from hypothesis import strategies as st

from preflight.compat.packet import (
    ACCEPT,
    DROP,
    REJECT,
    UNDECIDED,
    HostFilters,
    Packet,
    combine,
    evaluate_firewalld,
    evaluate_host,
    evaluate_iptables,
    evaluate_nft,
)
from preflight.facts.firewalld import parse_list_all_zones
from preflight.facts.iptables import parse_iptables_save
from preflight.facts.nftables import parse_nft_json

HV1, HV2, HV3 = "10.251.81.11", "10.251.81.12", "10.251.81.13"


def nft(name):
    return parse_nft_json(read(f"compat/{name}"))


def test_drop_subnet_names_the_rule_and_spares_the_other_source():
    rs = nft("nft-j-ruleset.drop-subnet.lab-hv3.json")
    v = evaluate_nft(rs, Packet(HV1, 49152))
    assert v.outcome == DROP and "ip saddr 10.251.81.8/30 tcp dport 49152-49215 drop" in v.rule
    assert evaluate_nft(rs, Packet(HV2, 49152)).outcome == ACCEPT
    assert evaluate_nft(rs, Packet(HV1, 22)).outcome == ACCEPT


def test_one_source_and_part_of_the_range():
    rs = nft("nft-j-ruleset.one-source.lab-hv2.json")
    assert evaluate_nft(rs, Packet(HV1, 49152)).outcome == REJECT
    assert evaluate_nft(rs, Packet(HV3, 49152)).outcome == ACCEPT
    v = evaluate_nft(rs, Packet(HV3, 49153))
    assert v.outcome == REJECT and "49153-49215" in v.rule


def test_empty_ruleset_accepts():
    assert evaluate_nft(nft("nft-j-ruleset.empty.lab-hv1.json"), Packet(HV1, 49152)).outcome == ACCEPT


def test_iptables_save_decides_where_nft_json_cannot():
    ipt = parse_iptables_save(read("compat/iptables-save.netns-hypervisor.txt"))
    rs = nft("nft-j-ruleset.iptables-nft.netns-hypervisor.json")
    # the JSON shows REJECT and conntrack only as opaque xt objects: undecided
    v = evaluate_nft(rs, Packet("10.251.98.5", 49152))
    assert v.outcome == UNDECIDED and any("REJECT" in r for r in v.reasons)
    assert evaluate_iptables(ipt, Packet("10.251.98.5", 49152)).outcome == REJECT
    both = evaluate_host(HostFilters(nft=rs, iptables=ipt, nft_read=True), Packet("10.251.98.5", 49152))
    assert both.outcome == REJECT and "10.251.98.0/24" in both.rule
    # the accepted subnet reaches 49152-49183 only; the rest falls to the DROP policy
    assert evaluate_iptables(ipt, Packet("10.251.99.5", 49183)).outcome == ACCEPT
    v = evaluate_iptables(ipt, Packet("10.251.99.5", 49184))
    assert v.outcome == DROP and v.rule == "filter INPUT policy DROP"
    assert evaluate_iptables(ipt, Packet("10.251.97.5", 49152)).outcome == DROP
    # everything allowed: 22 and the multiport NBD/TLS ports
    assert evaluate_iptables(ipt, Packet("10.251.97.5", 10809)).outcome == ACCEPT


def test_an_unknown_match_that_only_accepts_cannot_turn_a_drop_into_a_pass():
    rs = nft("nft-j-ruleset.iptables-nft.netns-hypervisor.json")
    v = evaluate_nft(rs, Packet("10.251.99.5", 49200))
    assert v.outcome == UNDECIDED and any("policy drop" in r for r in v.reasons)


def test_nothing_read_is_undecided_never_accept():
    assert evaluate_host(HostFilters(), Packet(HV1, 49152)).outcome == UNDECIDED
    assert combine([]).outcome == UNDECIDED


def test_ipv6_packet_skips_ip_tables():
    rs = nft("nft-j-ruleset.drop-subnet.lab-hv3.json")
    assert evaluate_nft(rs, Packet("fd00::11", 49152)).outcome == ACCEPT


def test_unknown_nft_statement_is_undecided():
    text = read("compat/nft-j-ruleset.drop-subnet.lab-hv3.json").replace(
        '{"drop": null}', '{"fwd": {"dev": "x"}}'
    )
    v = evaluate_nft(parse_nft_json(text), Packet(HV1, 49152))
    assert v.outcome == UNDECIDED


def test_firewalld_rich_rules_and_zone_targets():
    zones = parse_list_all_zones(read("compat/firewall-cmd-list-all-zones.insights-core.txt"))
    # public is the only zone with an interface; 192.168.0.0/24 is rejected by a rich rule
    v = evaluate_firewalld(zones, Packet("192.168.0.7", 22))
    assert v.outcome == REJECT and "192.168.0.10/24" in v.rule
    assert evaluate_firewalld(zones, Packet("10.9.9.9", 22)).outcome == ACCEPT  # service ssh
    v = evaluate_firewalld(zones, Packet("10.9.9.9", 49152))
    assert v.outcome == REJECT and "target default" in v.rule
    # port 80 is forwarded (DNAT) by the zone: not interpreted
    assert evaluate_firewalld(zones, Packet("10.9.9.9", 80)).outcome == UNDECIDED
    # the accept rich rule needs the destination address
    assert evaluate_firewalld(zones, Packet("10.0.0.5", 8085, daddr="192.168.0.10")).outcome == ACCEPT
    assert evaluate_firewalld(zones, Packet("10.0.0.5", 8085)).outcome == UNDECIDED


def test_firewalld_source_binding_wins_over_interfaces():
    zones = parse_list_all_zones(read("compat/firewall-cmd-list-all-zones.pi-automation-excerpt.txt"))
    v = evaluate_firewalld(zones, Packet("10.88.0.2", 49152))
    assert v.outcome == ACCEPT and "trusted" in v.rule
    # 10.0.0.0/24 is bound to zone internal, which allows service 'dhcp': without that service's
    # definition its ports are unknown, so nothing is decided; with it, the zone's target rejects
    v = evaluate_firewalld(zones, Packet("10.0.0.9", 49152))
    assert v.outcome == UNDECIDED and any("dhcp" in r for r in v.reasons)
    v = evaluate_firewalld(zones, Packet("10.0.0.9", 49152), services={"dhcp": ("67/udp",)})
    assert v.outcome == REJECT and "internal" in v.rule
    # a source in no zone, interface unknown: internal or external could receive it
    v = evaluate_firewalld(zones, Packet("172.16.0.1", 49152))
    assert v.outcome == UNDECIDED and "external" in v.reasons[0] and "internal" in v.reasons[0]
    # known on its arrival interface: external's target drops it
    v = evaluate_firewalld(zones, Packet("172.16.0.1", 49152, iif="wan"))
    assert v.outcome == DROP and "external" in v.rule
    # a port the zone lists is accepted before the unknown service matters
    assert evaluate_firewalld(zones, Packet("10.0.0.9", 53)).outcome == ACCEPT


@given(st.integers(1, 65535), st.integers(0, 255))
def test_drop_subnet_property(port, last):
    """Only sources in 10.251.81.8/30 to the migration range are dropped; everything else passes."""
    rs = nft("nft-j-ruleset.drop-subnet.lab-hv3.json")
    v = evaluate_nft(rs, Packet(f"10.251.81.{last}", port))
    dropped = 8 <= last <= 11 and 49152 <= port <= 49215
    assert v.outcome == (DROP if dropped else ACCEPT)


@pytest.mark.parametrize(
    "port,expected", [(49152, ACCEPT), (49153, REJECT), (49215, REJECT), (49216, ACCEPT)]
)
def test_one_source_other_sources_boundaries(port, expected):
    assert evaluate_nft(nft("nft-j-ruleset.one-source.lab-hv2.json"), Packet(HV3, port)).outcome == expected
