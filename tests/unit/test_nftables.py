"""preflight.facts.nftables on real `nft -j list ruleset` outputs (nftables 1.0.6): the lab's
firewall scenarios and an iptables-nft ruleset, whose iptables extensions nft prints as opaque
`xt` objects."""

from __future__ import annotations

import pytest

from _fixtures import read
from preflight.facts.nftables import NftError, parse_nft_json


def test_drop_subnet_ruleset():
    rs = parse_nft_json(read("compat/nft-j-ruleset.drop-subnet.lab-hv3.json"))
    assert rs.version == "1.0.6" and rs.tables == (("inet", "pfh_lab"),)
    (chain,) = rs.base_chains("input")
    assert (chain.type, chain.prio, chain.policy) == ("filter", 0, "accept")
    (rule,) = rs.rules_of(chain)
    assert rule.expr[0]["match"]["right"] == {"prefix": {"addr": "10.251.81.8", "len": 30}}
    assert rule.expr[2] == {"drop": None}


def test_empty_ruleset_is_a_fact():
    rs = parse_nft_json(read("compat/nft-j-ruleset.empty.lab-hv1.json"))
    assert rs.chains == () and rs.rules == ()


def test_iptables_nft_ruleset_keeps_xt_objects_and_jumps():
    rs = parse_nft_json(read("compat/nft-j-ruleset.iptables-nft.netns-hypervisor.json"))
    inp = rs.chain("ip", "filter", "INPUT")
    assert inp.policy == "drop" and inp.hook == "input"
    assert rs.chain("ip", "filter", "MIGRATION").is_base is False
    kinds = [next(iter(e)) for r in rs.rules for e in r.expr]
    assert "xt" in kinds and "jump" in kinds and "limit" in kinds


@pytest.mark.parametrize(
    "text", ["", "[]", '{"nftables": {}}', '{"nftables": [{"rule": {"expr": 1}}]}', "nope"]
)
def test_not_nft_json(text):
    with pytest.raises(NftError):
        parse_nft_json(text)
