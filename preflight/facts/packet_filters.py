"""What was read of a host's packet filters (nft, iptables-save, firewalld zones): a fact model.

It lives with the facts so that gathering can build it without importing the judgements
(preflight.compat.packet interprets it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from preflight.facts.iptables import IptRuleset
from preflight.facts.nftables import NftRuleset


@dataclass(frozen=True)
class HostFilters:
    """What was read of one host's packet filters; None = not gathered (unknown), not 'none'."""

    nft: Optional[NftRuleset] = None
    iptables: Optional[IptRuleset] = None  # iptables-save (and ip6tables-save for IPv6)
    ip6tables: Optional[IptRuleset] = None
    firewalld_zones: Optional[tuple] = None  # None: firewalld not running (or not read)
    firewalld_default: Optional[str] = None
    firewalld_services: dict = field(default_factory=dict)
    nft_read: bool = False  # nft ran (an empty ruleset is a fact)
    iptables_read: bool = False
