"""Would a host's packet filter let one TCP connection in? A fail-closed interpreter of nftables
(`nft -j list ruleset`), iptables (`iptables-save`) and firewalld zones for a single packet: the
SYN of a connection from `saddr` to the host's `daddr`:`dport`.

Every construct the interpreter does not understand (a match on something it cannot know about
the packet, an iptables extension, an nft `xt` blob, fib lookups, limits, NAT) is a branch: the
rule might match or not, and both outcomes are followed. The result is decided only when every
branch ends the same way; otherwise it is `undecided`, naming the rules that made it so. A rule
that denies the packet is named in the result, so a FAIL can say which rule blocks which source.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Optional

from preflight.facts.firewalld import BUILTIN_SERVICES, RichRule, Zone
from preflight.facts.iptables import IptRule, IptRuleset
from preflight.facts.nftables import NftChain, NftRule, NftRuleset
from preflight.facts.packet_filters import HostFilters  # noqa: F401 - the model lives with the facts

ACCEPT, DROP, REJECT, UNDECIDED = "accept", "drop", "reject", "undecided"
DENY = (DROP, REJECT)
MAX_PATHS = 512  # branches followed per chain before giving up (undecided)
# iptables targets that let the packet go on (in iptables-save, or as nft `xt` targets)
_IPT_NON_TERMINAL = {
    "LOG",
    "NFLOG",
    "ULOG",
    "TRACE",
    "MARK",
    "CONNMARK",
    "CT",
    "NOTRACK",
    "TOS",
    "DSCP",
    "TCPMSS",
    "CLASSIFY",
    "AUDIT",
    "CONNSECMARK",
    "SECMARK",
    "TTL",
    "HL",
}


@dataclass(frozen=True)
class Packet:
    """The first packet of a TCP connection arriving at the host."""

    saddr: str
    dport: int
    daddr: Optional[str] = None  # the destination's address the source connects to
    iif: Optional[str] = None  # the interface it arrives on, if known
    proto: str = "tcp"

    @property
    def family(self) -> str:
        return "ipv6" if ipaddress.ip_address(self.saddr).version == 6 else "ipv4"


@dataclass(frozen=True)
class Verdict:
    """What one filter (or all of a host's filters) does with the packet."""

    outcome: str  # accept, drop, reject, undecided
    rule: Optional[str] = None  # the rule that decided (deny) or the policy that applied
    reasons: tuple = ()  # why undecided: the constructs that could not be evaluated
    source: Optional[str] = None  # which filter: "nftables", "iptables", "firewalld"

    @property
    def denied(self) -> bool:
        return self.outcome in DENY


@dataclass(frozen=True)
class _End:
    outcome: str
    rule: Optional[str] = None
    reason: Optional[str] = None


def _combine_paths(ends: list, source: str) -> Verdict:
    outcomes = {e.outcome for e in ends}
    if outcomes == {ACCEPT}:
        rules = tuple(dict.fromkeys(e.rule for e in ends if e.rule))
        return Verdict(ACCEPT, rule=" | ".join(rules), source=source)
    if outcomes and outcomes <= set(DENY):
        rules = tuple(dict.fromkeys(e.rule for e in ends if e.rule))
        return Verdict(ends[0].outcome, rule="; ".join(rules), source=source)
    reasons = tuple(dict.fromkeys(e.reason for e in ends if e.reason))
    deny = tuple(dict.fromkeys(e.rule for e in ends if e.outcome in DENY and e.rule))
    if deny:
        reasons += tuple(f"may be denied by {r}" for r in deny)
    return Verdict(
        UNDECIDED, reasons=reasons or ("the outcome depends on something not known",), source=source
    )


def combine(verdicts) -> Verdict:
    """A packet passes a host only if every filter on its path accepts it: any certain denial
    decides; otherwise any undecided filter makes the whole undecided."""
    verdicts = [v for v in verdicts if v is not None]
    if not verdicts:
        return Verdict(UNDECIDED, reasons=("no packet filter was read",))
    for v in verdicts:
        if v.denied:
            return v
    und = [v for v in verdicts if v.outcome == UNDECIDED]
    if und:
        return Verdict(
            UNDECIDED,
            reasons=tuple(r for v in und for r in v.reasons),
            source=", ".join(dict.fromkeys(v.source or "?" for v in und)),
        )
    return Verdict(
        ACCEPT,
        rule="; ".join(v.rule for v in verdicts if v.rule),
        source=", ".join(dict.fromkeys(v.source or "?" for v in verdicts)),
    )


# ------------------------------------------------------------------------------------------------
# values


def _in_prefix(addr: str, net: str) -> Optional[bool]:
    try:
        a = ipaddress.ip_address(addr)
        n = ipaddress.ip_network(net, strict=False)
    except ValueError:
        return None
    if a.version != n.version:
        return False
    return a in n


def _port_in(port: int, spec) -> Optional[bool]:
    """`spec` as iptables/firewalld write ports: "22", "49152:49215", "49152-49215", "a,b:c"."""
    for part in str(spec).split(","):
        part = part.strip()
        sep = ":" if ":" in part else ("-" if "-" in part else None)
        try:
            if sep:
                lo, hi = (int(x) if x else None for x in part.split(sep, 1))
                lo = 0 if lo is None else lo
                hi = 65535 if hi is None else hi
                if lo <= port <= hi:
                    return True
            elif int(part) == port:
                return True
        except ValueError:
            return None  # a service name ("ssh"): not resolved here
    return False


# ------------------------------------------------------------------------------------------------
# nftables


_UNKNOWN = object()


def _nft_left(left, pkt: Packet):
    """The packet's value for an nft left operand, or _UNKNOWN; None means "not present" (an
    `ip saddr` match on an IPv6 packet, `udp dport` on TCP: the match is false)."""
    if not isinstance(left, dict):
        return _UNKNOWN
    if "payload" in left:
        p = left["payload"]
        proto, fld = p.get("protocol"), p.get("field")
        if proto == "ip":
            if pkt.family != "ipv4":
                return None
            return {
                "saddr": pkt.saddr,
                "daddr": pkt.daddr if pkt.daddr else _UNKNOWN,
                "protocol": pkt.proto,
            }.get(fld, _UNKNOWN)
        if proto == "ip6":
            if pkt.family != "ipv6":
                return None
            return {
                "saddr": pkt.saddr,
                "daddr": pkt.daddr if pkt.daddr else _UNKNOWN,
                "nexthdr": pkt.proto,
            }.get(fld, _UNKNOWN)
        if proto in ("tcp", "udp", "sctp", "dccp", "udplite"):
            if proto != pkt.proto:
                return None
            return {"dport": pkt.dport}.get(fld, _UNKNOWN)  # sport: ephemeral, unknown
        if proto == "th":
            return {"dport": pkt.dport}.get(fld, _UNKNOWN)
        return _UNKNOWN
    if "meta" in left:
        key = left["meta"].get("key")
        if key == "l4proto":
            return pkt.proto
        if key == "nfproto":
            return pkt.family
        if key == "protocol":
            return "ip" if pkt.family == "ipv4" else "ip6"
        if key in ("iifname", "iif"):
            return pkt.iif if pkt.iif else _IifUnknown()
        if key == "pkttype":
            return "host"
        return _UNKNOWN
    if "ct" in left:
        key = left["ct"].get("key")
        if key == "state":
            return "new"
        if key == "direction":
            return "original"
        return _UNKNOWN
    return _UNKNOWN


class _IifUnknown:
    """The arrival interface is not known, but it is certainly not loopback (the packet comes
    from another host)."""


def _set_elements(rs: NftRuleset, family, table, ref: str):
    s = rs.set(family, table, ref.lstrip("@"))
    if s is None:
        return None
    out = []
    for e in s.elements:
        if isinstance(e, dict) and "elem" in e:
            e = e["elem"].get("val")
        out.append(e)
    return out


def _nft_value_matches(value, right, rs, rule) -> Optional[bool]:
    """Does the packet's `value` equal/belong to nft's `right` operand? None: cannot tell."""
    if isinstance(right, str) and right.startswith("@"):
        elems = _set_elements(rs, rule.family, rule.table, right)
        if elems is None:
            return None
        return _nft_value_matches(value, {"set": elems}, rs, rule)
    if isinstance(right, dict):
        if "set" in right:
            results = [_nft_value_matches(value, e, rs, rule) for e in right["set"]]
            if any(r is True for r in results):
                return True
            return None if any(r is None for r in results) else False
        if "prefix" in right:
            p = right["prefix"]
            return (
                _in_prefix(str(value), f"{p.get('addr')}/{p.get('len')}") if isinstance(value, str) else None
            )
        if "range" in right:
            lo, hi = right["range"]
            if isinstance(value, int) and isinstance(lo, int) and isinstance(hi, int):
                return lo <= value <= hi
            if isinstance(value, str):
                try:
                    return (
                        ipaddress.ip_address(str(lo))
                        <= ipaddress.ip_address(value)
                        <= ipaddress.ip_address(str(hi))
                    )
                except (TypeError, ValueError):
                    return None
            return None
        return None
    if isinstance(right, (list, tuple)):  # flags: ct state { established, related }
        return value in right if all(isinstance(r, (str, int)) for r in right) else None
    if isinstance(right, bool):
        return None
    if isinstance(right, int):
        if isinstance(value, int):
            return value == right
        if value == "tcp":
            return right == 6
        if value == "udp":
            return right == 17
        return None
    if isinstance(right, str):
        if isinstance(value, int):
            return int(right) == value if right.isdigit() else None  # a service name: not resolved
        if isinstance(value, str):
            if "/" in right:
                return _in_prefix(value, right)
            try:
                return ipaddress.ip_address(value) == ipaddress.ip_address(right)
            except ValueError:
                return value == right
    return None


def _nft_match(expr: dict, pkt: Packet, rs: NftRuleset, rule: NftRule) -> Optional[bool]:
    m = expr["match"]
    op = m.get("op", "==")
    value = _nft_left(m.get("left"), pkt)
    if value is _UNKNOWN:
        return None
    if isinstance(value, _IifUnknown):
        right = m.get("right")
        if right in ("lo", 1) and op in ("==", "!="):
            return op == "!="
        return None
    if value is None:  # the header is not there: the match cannot hold
        return False
    if op in ("==", "in"):
        return _nft_value_matches(value, m.get("right"), rs, rule)
    if op == "!=":
        r = _nft_value_matches(value, m.get("right"), rs, rule)
        return None if r is None else not r
    if op in ("<", ">", "<=", ">=") and isinstance(value, int) and isinstance(m.get("right"), int):
        right = m["right"]
        return {"<": value < right, ">": value > right, "<=": value <= right, ">=": value >= right}[op]
    return None


_NON_TERMINAL = {"counter", "log", "comment", "notrack", "mangle", "quota", "set", "ct helper", "meta"}
_VERDICTS = {"accept", "drop", "reject", "jump", "goto", "return", "continue", "queue"}


def describe_nft_rule(rule: NftRule) -> str:
    """A short human form of a rule: 'inet pfh_lab input #2: ip saddr 10.0.0.8/30 tcp dport
    49152-49215 drop'."""
    parts = []
    for e in rule.expr:
        if not isinstance(e, dict) or not e:
            continue
        k, v = next(iter(e.items()))
        if k == "match":
            parts.append(
                f"{_nft_operand(v.get('left'))} {'' if v.get('op') in ('==', 'in') else v.get('op') + ' '}"
                f"{_nft_operand(v.get('right'))}"
            )
        elif k in ("jump", "goto"):
            parts.append(f"{k} {v.get('target')}")
        elif k == "reject":
            parts.append(
                "reject" + (f" with {v.get('type')}" if isinstance(v, dict) and v.get("type") else "")
            )
        elif k == "xt":
            parts.append(f"xt {v.get('type')} {v.get('name')}")
        elif k != "counter":              # verdicts and other statements by name
            parts.append(k)
    where = f"{rule.family} {rule.table} {rule.chain}" + (
        f" #{rule.handle}" if rule.handle is not None else ""
    )
    return f"{where}: {' '.join(parts)}" + (f' (comment "{rule.comment}")' if rule.comment else "")


def _nft_operand(x) -> str:
    if isinstance(x, dict):
        if "payload" in x:
            return f"{x['payload'].get('protocol')} {x['payload'].get('field')}"
        if "meta" in x:
            return f"meta {x['meta'].get('key')}"
        if "ct" in x:
            return f"ct {x['ct'].get('key')}"
        if "prefix" in x:
            return f"{x['prefix'].get('addr')}/{x['prefix'].get('len')}"
        if "range" in x:
            return "-".join(str(v) for v in x["range"])
        if "set" in x:
            return "{ " + ", ".join(_nft_operand(v) for v in x["set"]) + " }"
        return next(iter(x), "?")
    if isinstance(x, (list, tuple)):
        return ",".join(str(v) for v in x)
    return str(x)


def _nft_rule_effect(rule: NftRule, pkt: Packet, rs: NftRuleset):
    """(truth of the rule's conditions, the verdict expression or None, reason if unknown)."""
    truth: Optional[bool] = True
    reason = None
    verdict = None
    for e in rule.expr:
        if not isinstance(e, dict) or len(e) != 1:
            return None, None, f"unreadable expression in {describe_nft_rule(rule)}"
        k, v = next(iter(e.items()))
        if k == "match":
            r = _nft_match(e, pkt, rs, rule)
            if r is False:
                return False, None, None
            if r is None:
                truth, reason = (
                    None,
                    f"cannot evaluate '{_nft_operand(v.get('left'))}' in {describe_nft_rule(rule)}",
                )
        elif k in _VERDICTS:
            verdict = (k, v)
        elif k == "xt":
            if v.get("type") == "target" and v.get("name") in _IPT_NON_TERMINAL:
                continue  # LOG, MARK, ...: the packet goes on
            if v.get("type") == "target":
                verdict = ("xt", v)
            else:
                truth, reason = (
                    None,
                    f"iptables extension '{v.get('name')}' (xt) in {describe_nft_rule(rule)}",
                )
        elif k == "limit":
            truth, reason = None, f"rate limit in {describe_nft_rule(rule)}"
        elif k in ("dnat", "snat", "redirect", "masquerade", "tproxy", "vmap", "fwd", "dup", "synproxy"):
            verdict = (k, v)
        elif k in _NON_TERMINAL:
            continue
        else:
            truth, reason = None, f"unknown nft statement '{k}' in {describe_nft_rule(rule)}"
    return truth, verdict, reason


def _nft_run(
    rs: NftRuleset, chain: NftChain, pkt: Packet, i: int, stack: tuple, base: NftChain, budget: list
) -> list:
    rules = rs.rules_of(chain)
    while i < len(rules):
        budget[0] -= 1
        if budget[0] <= 0:
            return [_End(UNDECIDED, reason="too many branches to follow in this ruleset")]
        rule = rules[i]
        truth, verdict, reason = _nft_rule_effect(rule, pkt, rs)
        if truth is False or verdict is None:  # no match, or nothing happens either way
            i += 1
            continue
        taken = _nft_verdict(rs, chain, rule, verdict, pkt, i, stack, base, budget)
        if truth is True:
            return taken
        # unknown: the rule may match (taken) or not (go on); both are followed
        not_taken = _nft_run(rs, chain, pkt, i + 1, stack, base, budget)
        return [_End(e.outcome, e.rule, e.reason or reason) for e in taken] + not_taken
    if stack:
        caller, at = stack[-1]
        return _nft_run(rs, caller, pkt, at + 1, stack[:-1], base, budget)
    policy = base.policy or ACCEPT
    where = f"{base.family} {base.table} {base.name} policy {policy}"
    return [_End(ACCEPT if policy == "accept" else DROP, rule=where)]


def _nft_verdict(rs, chain, rule, verdict, pkt, i, stack, base, budget) -> list:
    kind, arg = verdict
    text = describe_nft_rule(rule)
    if kind == "accept":
        return [_End(ACCEPT, rule=text)]
    if kind == "drop":
        return [_End(DROP, rule=text)]
    if kind == "reject":
        return [_End(REJECT, rule=text)]
    if kind in ("jump", "goto"):
        target = rs.chain(rule.family, rule.table, (arg or {}).get("target"))
        if target is None:
            return [_End(UNDECIDED, reason=f"{kind} to a chain not in the ruleset: {text}")]
        if len(stack) > 16:
            return [_End(UNDECIDED, reason=f"chain nesting too deep at {text}")]
        new_stack = stack + ((chain, i),) if kind == "jump" else stack
        return _nft_run(rs, target, pkt, 0, new_stack, base, budget)
    if kind == "return":
        if stack:
            caller, at = stack[-1]
            return _nft_run(rs, caller, pkt, at + 1, stack[:-1], base, budget)
        policy = base.policy or ACCEPT
        return [
            _End(
                ACCEPT if policy == "accept" else DROP,
                rule=f"{base.family} {base.table} {base.name} policy {policy}",
            )
        ]
    if kind == "continue":
        return _nft_run(rs, chain, pkt, i + 1, stack, base, budget)
    if kind == "xt":
        name = (arg or {}).get("name")
        return [_End(UNDECIDED, reason=f"iptables target '{name}' (xt) in {text}: read iptables-save")]
    return [_End(UNDECIDED, reason=f"'{kind}' in {text} is not interpreted")]


_HOOK_ORDER = {"ingress": 0, "prerouting": 1, "input": 2}
_FAMILIES = {"ipv4": ("ip", "inet", "bridge", "netdev"), "ipv6": ("ip6", "inet", "bridge", "netdev")}


def evaluate_nft(rs: NftRuleset, pkt: Packet, skip_tables=()) -> Verdict:
    """Every base chain on the path of an incoming packet to a local socket, in hook and priority
    order. `skip_tables` ((family, name), ...) are judged elsewhere (iptables-nft tables read
    from iptables-save, firewalld's table read from its zones)."""
    chains = [
        c
        for c in rs.chains
        if c.is_base
        and c.hook in _HOOK_ORDER
        and c.family in _FAMILIES[pkt.family]
        and (c.family, c.table) not in set(skip_tables)
    ]
    chains.sort(key=lambda c: (_HOOK_ORDER[c.hook], c.prio if c.prio is not None else 0))
    verdicts = []
    for c in chains:
        if c.prio is None:
            verdicts.append(
                Verdict(
                    UNDECIDED,
                    reasons=(f"{c.family} {c.table} {c.name}: priority not known",),
                    source="nftables",
                )
            )
            continue
        if c.family == "netdev" and pkt.iif and c.devices and pkt.iif not in c.devices:
            continue
        if c.type == "nat":
            # a DNAT/redirect here would send the packet elsewhere: only an empty nat chain is harmless
            ends = _nft_run(rs, c, pkt, 0, (), c, [MAX_PATHS])
            v = _combine_paths(ends, "nftables")
            if v.outcome == UNDECIDED:
                verdicts.append(v)
            continue
        verdicts.append(_combine_paths(_nft_run(rs, c, pkt, 0, (), c, [MAX_PATHS]), "nftables"))
    if not verdicts:
        return Verdict(ACCEPT, rule="no nftables base chain on the input path", source="nftables")
    return combine(verdicts)


# ------------------------------------------------------------------------------------------------
# iptables


_IPT_PATH = (
    ("raw", "PREROUTING"),
    ("mangle", "PREROUTING"),
    ("nat", "PREROUTING"),
    ("mangle", "INPUT"),
    ("filter", "INPUT"),
    ("security", "INPUT"),
)


def _ipt_match(m, pkt: Packet) -> Optional[bool]:
    f, v = m.field, m.value
    if f in ("source", "destination"):
        addr = pkt.saddr if f == "source" else pkt.daddr
        if addr is None:
            r = None
        else:
            r = any(_in_prefix(addr, part) for part in v.split(",")) if v else None
    elif f == "protocol":
        r = v.lower() in (pkt.proto, "all", "0", "6" if pkt.proto == "tcp" else "17")
    elif f == "dport" or f == "port":
        r = _port_in(pkt.dport, v)
    elif f == "sport":
        r = None
    elif f == "in_interface":
        if pkt.iif:
            r = pkt.iif == v or (v.endswith("+") and pkt.iif.startswith(v[:-1]))
        else:
            r = False if v == "lo" else None
    elif f == "state":
        r = "NEW" in v.upper().split(",")
    elif f == "fragment":
        r = False
    else:
        r = None
    if r is None:
        return None
    return (not r) if m.negated else r


def _ipt_effect(rule: IptRule, pkt: Packet):
    if rule.unknown:
        truth, reason = None, f"'{' '.join(rule.unknown)}' in '{rule.text}' is not interpreted"
    else:
        truth, reason = True, None
    for m in rule.matches:
        r = _ipt_match(m, pkt)
        if r is False:
            return False, None
        if r is None:
            truth, reason = None, f"cannot evaluate {m.field} {m.value} in '{rule.text}'"
    return truth, reason


def _ipt_run(
    rs: IptRuleset, table: str, chain: str, pkt: Packet, i: int, stack: tuple, base: str, budget: list
) -> list:
    rules = rs.rules_of(table, chain)
    while i < len(rules):
        budget[0] -= 1
        if budget[0] <= 0:
            return [_End(UNDECIDED, reason="too many branches to follow in this ruleset")]
        rule = rules[i]
        truth, reason = _ipt_effect(rule, pkt)
        if truth is False:
            i += 1
            continue
        target = rule.target
        where = f"{table} {chain}: {rule.text}"
        if target is None or target in _IPT_NON_TERMINAL:
            i += 1
            continue
        if target == "ACCEPT":
            taken = [_End(ACCEPT, rule=where)]
        elif target == "DROP":
            taken = [_End(DROP, rule=where)]
        elif target == "REJECT":
            taken = [_End(REJECT, rule=where)]
        elif target == "RETURN":
            taken = (
                _ipt_run(rs, table, stack[-1][0], pkt, stack[-1][1] + 1, stack[:-1], base, budget)
                if stack
                else _ipt_policy(rs, table, base)
            )
        elif rs.chain(table, target) is not None and rs.chain(table, target).policy is None:
            if len(stack) > 16:
                taken = [_End(UNDECIDED, reason=f"chain nesting too deep at {where}")]
            else:
                new_stack = stack if rule.goto else stack + ((chain, i),)
                taken = _ipt_run(rs, table, target, pkt, 0, new_stack, base, budget)
        else:
            taken = [_End(UNDECIDED, reason=f"target {target} in {where} is not interpreted")]
        if truth is True:
            return taken
        not_taken = _ipt_run(rs, table, chain, pkt, i + 1, stack, base, budget)
        return [_End(e.outcome, e.rule, e.reason or reason) for e in taken] + not_taken
    if stack:
        caller, at = stack[-1]
        return _ipt_run(rs, table, caller, pkt, at + 1, stack[:-1], base, budget)
    return _ipt_policy(rs, table, base)


def _ipt_policy(rs: IptRuleset, table: str, base: str) -> list:
    c = rs.chain(table, base)
    policy = (c.policy if c else None) or "ACCEPT"
    where = f"{table} {base} policy {policy}"
    if policy == "ACCEPT":
        return [_End(ACCEPT, rule=where)]
    if policy == "DROP":
        return [_End(DROP, rule=where)]
    return [_End(UNDECIDED, reason=f"policy {policy} of {table} {base}")]


def evaluate_iptables(rs: IptRuleset, pkt: Packet) -> Verdict:
    verdicts = []
    for table, chain in _IPT_PATH:
        if rs.chain(table, chain) is None:
            continue
        ends = _ipt_run(rs, table, chain, pkt, 0, (), chain, [MAX_PATHS])
        v = _combine_paths(ends, "iptables")
        if table == "nat" and v.outcome != UNDECIDED:
            continue  # nat PREROUTING: only a rule that may DNAT/REDIRECT matters (undecided)
        verdicts.append(v)
    if not verdicts:
        return Verdict(ACCEPT, rule="no iptables chain on the input path", source="iptables")
    return combine(verdicts)


# ------------------------------------------------------------------------------------------------
# firewalld


def _zone_allows_port(zone: Zone, pkt: Packet, services: dict) -> tuple:
    """(True/None/False, what allows it): the zone's ports, services and protocols."""
    for spec in zone.ports:
        port, _, proto = spec.partition("/")
        if proto == pkt.proto and _port_in(pkt.dport, port):
            return True, f"zone {zone.name} port {spec}"
    unknown = []
    for svc in zone.services:
        ports = services.get(svc, BUILTIN_SERVICES.get(svc))
        if ports is None:
            unknown.append(svc)
            continue
        for spec in ports:
            port, _, proto = spec.partition("/")
            if proto == pkt.proto and _port_in(pkt.dport, port):
                return True, f"zone {zone.name} service {svc} ({spec})"
    if pkt.proto in zone.protocols:
        return True, f"zone {zone.name} protocol {pkt.proto}"
    if unknown:
        return None, f"zone {zone.name} services {', '.join(unknown)} (their ports are not known)"
    return False, None


def _rich_matches(r: RichRule, pkt: Packet, services: dict) -> Optional[bool]:
    if r.unknown:
        return None
    if r.family and r.family != pkt.family:
        return False
    checks = []
    if r.source:
        if r.source.startswith(("ipset:", "mac:")):
            return None
        m = _in_prefix(pkt.saddr, r.source)
        checks.append(None if m is None else (m != r.source_not))
    if r.destination:
        m = _in_prefix(pkt.daddr, r.destination) if pkt.daddr else None
        checks.append(None if m is None else (m != r.destination_not))
    if r.element == "port":
        checks.append((r.protocol == pkt.proto) and bool(_port_in(pkt.dport, r.port or "")))
    elif r.element == "service":
        ports = services.get(r.service, BUILTIN_SERVICES.get(r.service))
        if ports is None:
            checks.append(None)
        else:
            checks.append(
                any(
                    p.partition("/")[2] == pkt.proto and _port_in(pkt.dport, p.partition("/")[0])
                    for p in ports
                )
            )
    elif r.element == "protocol":
        checks.append(r.protocol == pkt.proto)
    if any(c is False for c in checks):
        return False
    if any(c is None for c in checks):
        return None
    return True


def _zone_verdict(zone: Zone, pkt: Packet, services: dict) -> Verdict:
    src = "firewalld"
    for fp in zone.forward_ports:
        if _port_in(pkt.dport, fp.split(":", 1)[0].replace("port=", "")) is not False:
            return Verdict(UNDECIDED, reasons=(f"zone {zone.name} forwards ports ({fp})",), source=src)
    rules = sorted(zone.rich_rules, key=lambda r: r.priority)
    pre = [r for r in rules if r.priority < 0]
    mid = [r for r in rules if r.priority == 0]
    post = [r for r in rules if r.priority > 0]
    unknown_reasons = []

    def run(rs):
        for r in rs:
            if r.action is None:
                continue  # log/audit only
            m = _rich_matches(r, pkt, services)
            if m is False:
                continue
            if m is None:
                unknown_reasons.append(f"zone {zone.name} rich rule '{r.text}' cannot be evaluated")
                if r.action in ("reject", "drop"):
                    return "maybe-deny", r
                continue
            if r.action == "accept":
                return ACCEPT, r
            if r.action in ("reject", "drop"):
                return r.action, r
            unknown_reasons.append(f"zone {zone.name} rich rule '{r.text}' action {r.action}")
            return UNDECIDED, r
        return None, None

    for group in (pre, [r for r in mid if r.action in ("reject", "drop")]):
        outcome, r = run(group)
        if outcome in DENY:
            return Verdict(outcome, rule=f"zone {zone.name} rich rule '{r.text}'", source=src)
        if outcome == ACCEPT:
            return Verdict(ACCEPT, rule=f"zone {zone.name} rich rule '{r.text}'", source=src)
        if outcome in ("maybe-deny", UNDECIDED):
            return Verdict(UNDECIDED, reasons=tuple(unknown_reasons), source=src)
    outcome, r = run([r for r in mid if r.action == "accept"])
    if outcome == ACCEPT:
        return Verdict(ACCEPT, rule=f"zone {zone.name} rich rule '{r.text}'", source=src)
    allowed, what = _zone_allows_port(zone, pkt, services)
    if allowed:
        return Verdict(ACCEPT, rule=what, source=src)
    if allowed is None:
        unknown_reasons.append(what)
    outcome, r = run(post)
    if outcome == ACCEPT and not unknown_reasons:
        return Verdict(ACCEPT, rule=f"zone {zone.name} rich rule '{r.text}'", source=src)
    if outcome in DENY and not unknown_reasons:
        return Verdict(outcome, rule=f"zone {zone.name} rich rule '{r.text}'", source=src)
    if unknown_reasons or outcome is not None:
        return Verdict(
            UNDECIDED, reasons=tuple(unknown_reasons) or (f"zone {zone.name}: {r.text}",), source=src
        )
    target = zone.target.upper()
    if target == "ACCEPT":
        return Verdict(ACCEPT, rule=f"zone {zone.name} target ACCEPT", source=src)
    if target == "DROP":
        return Verdict(DROP, rule=f"zone {zone.name} target DROP", source=src)
    # default and %%REJECT%% both reject what nothing allowed (default still lets ICMP in)
    return Verdict(
        REJECT,
        rule=f"zone {zone.name} target {zone.target} (nothing in it allows {pkt.proto}/{pkt.dport})",
        source=src,
    )


def firewalld_zone_for(zones, pkt: Packet, default_zone: Optional[str] = None) -> tuple:
    """(zone or None, why): firewalld picks a zone bound to the packet's source address first,
    then the zone of its arrival interface, then the default zone."""
    by_source = [
        z
        for z in zones
        if any(_in_prefix(pkt.saddr, s) for s in z.sources if not s.startswith(("ipset:", "mac:")))
    ]
    if len(by_source) == 1:
        return by_source[0], f"source {pkt.saddr} is bound to zone {by_source[0].name}"
    if len(by_source) > 1:
        return None, f"source {pkt.saddr} matches the sources of zones {', '.join(z.name for z in by_source)}"
    if any(s.startswith(("ipset:", "mac:")) for z in zones for s in z.sources):
        return None, "a zone is bound to an ipset or MAC source (not evaluated)"
    default = next((z for z in zones if z.default), None) or next(
        (z for z in zones if z.name == default_zone), None
    )
    if pkt.iif:
        by_if = [z for z in zones if pkt.iif in z.interfaces]
        if by_if:
            return by_if[0], f"interface {pkt.iif} is in zone {by_if[0].name}"
        if default:
            return default, f"interface {pkt.iif} is in no zone: default zone {default.name}"
        return None, f"interface {pkt.iif} is in no zone and the default zone is not known"
    with_if = [z for z in zones if z.interfaces]
    candidates = with_if + ([default] if default and default not in with_if else [])
    if len(candidates) == 1:
        return candidates[0], f"zone {candidates[0].name} is the only zone that can receive it"
    return None, (
        "the arrival interface is not known and zones "
        + ", ".join(z.name for z in candidates)
        + " could receive it"
        if candidates
        else "no zone has an interface and the default zone is not known"
    )


def evaluate_firewalld(
    zones, pkt: Packet, default_zone: Optional[str] = None, services: Optional[dict] = None
) -> Verdict:
    zone, why = firewalld_zone_for(zones, pkt, default_zone)
    services = services or {}
    if zone is None:
        # every candidate zone deciding the same way still decides
        cands = [z for z in zones if z.interfaces or z.default or z.name == default_zone]
        verdicts = [_zone_verdict(z, pkt, services) for z in cands]
        if (
            verdicts
            and all(v.outcome == verdicts[0].outcome != UNDECIDED for v in verdicts)
            and "source" not in why
            and "ipset" not in why
        ):
            return Verdict(
                verdicts[0].outcome, rule="; ".join(v.rule for v in verdicts if v.rule), source="firewalld"
            )
        return Verdict(UNDECIDED, reasons=(why,), source="firewalld")
    v = _zone_verdict(zone, pkt, services)
    return Verdict(
        v.outcome, rule=(f"{v.rule} ({why})" if v.rule else None), reasons=v.reasons, source=v.source
    )


# ------------------------------------------------------------------------------------------------
# a host


def evaluate_host(f: HostFilters, pkt: Packet) -> Verdict:
    """Every filter the host has, for one packet. Without nft (the kernel's one packet filter
    today) nothing is decided unless iptables-legacy alone was read and says so."""
    ipt = f.ip6tables if pkt.family == "ipv6" else f.iptables
    verdicts = []
    skip = set()
    if ipt is not None:
        verdicts.append(evaluate_iptables(ipt, pkt))
        fam = "ip6" if pkt.family == "ipv6" else "ip"
        skip |= {(fam, t) for t in ipt.tables}
    if f.firewalld_zones is not None:
        verdicts.append(evaluate_firewalld(f.firewalld_zones, pkt, f.firewalld_default, f.firewalld_services))
        skip |= {("inet", "firewalld"), ("ip", "firewalld"), ("ip6", "firewalld")}   # < 0.9: ip/ip6
    if f.nft is not None:
        verdicts.append(evaluate_nft(f.nft, pkt, skip_tables=tuple(skip)))
    elif not f.nft_read:
        verdicts.append(
            Verdict(
                UNDECIDED,
                reasons=("the nftables ruleset was not read (nft -j list ruleset, needs root)",),
                source="nftables",
            )
        )
    return combine(verdicts)
