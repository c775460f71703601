"""`nft -j list ruleset`: nftables' own JSON (libnftables-json(5)) as typed tables, chains, rules
and named sets. The rule expressions are kept as nft wrote them (JSON values, read-only): the
interpretation of a rule for one packet is preflight.compat.packet's job, which says "cannot
decide" for every construct it does not know instead of guessing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Optional


class NftError(ValueError):
    pass


@dataclass(frozen=True)
class NftChain:
    family: str
    table: str
    name: str
    handle: Optional[int] = None
    type: Optional[str] = None  # filter, nat, route: base chains only
    hook: Optional[str] = None  # prerouting, input, forward, output, postrouting, ingress
    prio: Optional[int] = None
    policy: Optional[str] = None  # accept (nft's default) or drop
    devices: tuple = ()  # netdev ingress chains

    @property
    def is_base(self) -> bool:
        return self.hook is not None


@dataclass(frozen=True)
class NftRule:
    family: str
    table: str
    chain: str
    handle: Optional[int]
    expr: tuple  # nft's expression objects, in order
    comment: Optional[str] = None


@dataclass(frozen=True)
class NftSet:
    family: str
    table: str
    name: str
    type: object = None  # "ipv4_addr", "inet_service" or a tuple of them (concatenations)
    flags: tuple = ()
    elements: tuple = ()  # nft's element values (strings, ints, prefix/range objects)
    is_map: bool = False


@dataclass(frozen=True)
class NftRuleset:
    tables: tuple = ()  # ((family, name), ...)
    chains: tuple = ()  # tuple[NftChain]
    rules: tuple = ()  # tuple[NftRule]
    sets: tuple = ()  # tuple[NftSet] (maps too)
    version: Optional[str] = None  # metainfo.version of the nft that wrote it
    _rules_by_chain: dict = field(default_factory=dict, compare=False, repr=False)

    def chain(self, family: str, table: str, name: str) -> Optional[NftChain]:
        for c in self.chains:
            if (c.family, c.table, c.name) == (family, table, name):
                return c
        return None

    def rules_of(self, chain: NftChain) -> tuple:
        return self._rules_by_chain.get((chain.family, chain.table, chain.name), ())

    def set(self, family: str, table: str, name: str) -> Optional[NftSet]:
        for s in self.sets:
            if (s.family, s.table, s.name) == (family, table, name):
                return s
        return None

    def base_chains(self, hook: str) -> tuple:
        return tuple(c for c in self.chains if c.hook == hook)


def _freeze(value):
    """JSON -> read-only values: lists become tuples (dicts stay dicts, never mutated)."""
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return {k: _freeze(v) for k, v in value.items()}
    return value


def _prio(value) -> Optional[int]:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    return None  # named priorities are printed as numbers by nft -j; anything else: unknown


def parse_nft_json(text: str) -> NftRuleset:
    try:
        data = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise NftError(f"nft -j output is not JSON: {exc}") from exc
    items = data.get("nftables") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise NftError("nft -j output has no top-level 'nftables' list")
    tables, chains, rules, sets, version = [], [], [], [], None
    for item in items:
        if not isinstance(item, dict) or len(item) != 1:
            raise NftError(f"unexpected nft -j item: {str(item)[:80]}")
        kind, body = next(iter(item.items()))
        if not isinstance(body, dict):
            raise NftError(f"nft -j {kind} is not an object")
        if kind == "metainfo":
            version = body.get("version")
        elif kind == "table":
            tables.append((body.get("family"), body.get("name")))
        elif kind == "chain":
            dev = body.get("dev") or body.get("devices") or ()
            chains.append(
                NftChain(
                    family=body.get("family"),
                    table=body.get("table"),
                    name=body.get("name"),
                    handle=body.get("handle"),
                    type=body.get("type"),
                    hook=body.get("hook"),
                    prio=_prio(body.get("prio")),
                    policy=body.get("policy") or ("accept" if body.get("hook") else None),
                    devices=tuple(dev) if isinstance(dev, list) else (dev,),
                )
            )
        elif kind == "rule":
            expr = body.get("expr")
            if not isinstance(expr, list):
                raise NftError(f"nft -j rule {body.get('handle')} has no expression list")
            rules.append(
                NftRule(
                    family=body.get("family"),
                    table=body.get("table"),
                    chain=body.get("chain"),
                    handle=body.get("handle"),
                    expr=_freeze(expr),
                    comment=body.get("comment"),
                )
            )
        elif kind in ("set", "map"):
            elem = body.get("elem") or ()
            flags = body.get("flags") or ()
            sets.append(
                NftSet(
                    family=body.get("family"),
                    table=body.get("table"),
                    name=body.get("name"),
                    type=_freeze(body.get("type")),
                    flags=tuple(flags) if isinstance(flags, list) else (flags,),
                    elements=_freeze(list(elem)),
                    is_map=kind == "map",
                )
            )
        # counters, quotas, ct helpers, flowtables, limits, ...: objects no packet path here needs
    by_chain: dict = {}
    for r in rules:
        by_chain.setdefault((r.family, r.table, r.chain), []).append(r)
    return NftRuleset(
        tables=tuple(tables),
        chains=tuple(chains),
        rules=tuple(rules),
        sets=tuple(sets),
        version=version,
        _rules_by_chain={k: tuple(v) for k, v in by_chain.items()},
    )
