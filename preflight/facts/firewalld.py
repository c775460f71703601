"""firewalld zones: `firewall-cmd --list-all-zones` (runtime) and zone XML files
(/etc/firewalld/zones/*.xml, /usr/lib/firewalld/zones/*.xml: permanent) as one Zone model, plus
rich rules parsed into their parts. Rich-rule elements this parser does not know are kept in
`RichRule.unknown`, so the interpreter can refuse to decide instead of guessing.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Optional

from preflight.facts.xmlsafe import parse_xml


class FirewalldError(ValueError):
    pass


@dataclass(frozen=True)
class RichRule:
    text: str
    family: Optional[str] = None  # ipv4, ipv6, None (both)
    priority: int = 0
    source: Optional[str] = None  # address/prefix (or "ipset:NAME", "mac:...")
    source_not: bool = False
    destination: Optional[str] = None
    destination_not: bool = False
    service: Optional[str] = None
    port: Optional[str] = None  # "8080-8090"
    protocol: Optional[str] = None  # tcp, udp (with port), or the protocol element's value
    action: Optional[str] = None  # accept, reject, drop, mark (None: log/audit only)
    reject_type: Optional[str] = None
    element: Optional[str] = None  # the rule's element kind: port, service, protocol, icmp-*, ...
    unknown: tuple = ()


@dataclass(frozen=True)
class Zone:
    name: str
    active: bool = False
    default: bool = False
    target: str = "default"  # default, ACCEPT, DROP, %%REJECT%% / REJECT
    interfaces: tuple = ()
    sources: tuple = ()
    services: tuple = ()
    ports: tuple = ()  # ("49152-49215/tcp", ...)
    protocols: tuple = ()
    source_ports: tuple = ()
    forward_ports: tuple = ()
    icmp_block_inversion: bool = False
    masquerade: bool = False
    ingress_priority: Optional[int] = None
    rich_rules: tuple = ()  # tuple[RichRule]
    extra: dict = field(default_factory=dict)  # other keys as printed


_HEAD = re.compile(r"^(\S+)(?:\s+\(([^)]*)\))?\s*$")
_LISTS = {"interfaces", "sources", "services", "ports", "protocols", "source-ports", "icmp-blocks"}


def _words(value: str) -> tuple:
    return tuple(value.split())


def parse_list_all_zones(text: str) -> tuple:
    """`firewall-cmd --list-all-zones` (or `--list-all`): zones in the order printed."""
    zones, cur, key = [], None, None

    def close():
        if cur is not None:
            zones.append(_zone_from_listing(cur))

    for raw in (text or "").splitlines():
        if not raw.strip():
            continue
        if not raw[0].isspace():
            match = _HEAD.match(raw.strip())
            if not match or ":" in raw:
                raise FirewalldError(f"not a zone heading: {raw.strip()[:60]!r}")
            close()
            flags = {f.strip() for f in (match.group(2) or "").split(",") if f.strip()}
            cur = {"name": match.group(1), "flags": flags, "keys": {}, "multi": {}}
            key = None
            continue
        if cur is None:
            raise FirewalldError(f"zone attribute before any zone heading: {raw.strip()[:60]!r}")
        line = raw.strip()
        name, sep, value = line.partition(":")
        if sep and name in (
            "target",
            "icmp-block-inversion",
            "interfaces",
            "sources",
            "services",
            "ports",
            "protocols",
            "forward",
            "masquerade",
            "forward-ports",
            "source-ports",
            "icmp-blocks",
            "rich rules",
            "ingress-priority",
            "egress-priority",
            "summary",
            "description",
            "priority",
            "ingress-zones",
            "egress-zones",
        ):
            key = name
            cur["keys"][key] = value.strip()
            if key in ("forward-ports", "rich rules") and value.strip():
                cur["multi"].setdefault(key, []).append(value.strip())
            continue
        if key in ("forward-ports", "rich rules"):  # continuation lines (tab-indented in the output)
            cur["multi"].setdefault(key, []).append(line)
            continue
        raise FirewalldError(f"zone {cur['name']}: unexpected line {line[:60]!r}")
    close()
    return tuple(zones)


def _bool(value: str) -> bool:
    return value.strip().lower() == "yes"


def _zone_from_listing(cur: dict) -> Zone:
    k, multi = cur["keys"], cur["multi"]
    prio = k.get("ingress-priority")
    return Zone(
        name=cur["name"],
        active="active" in cur["flags"],
        default="default" in cur["flags"],
        target=k.get("target") or "default",
        interfaces=_words(k.get("interfaces", "")),
        sources=_words(k.get("sources", "")),
        services=_words(k.get("services", "")),
        ports=_words(k.get("ports", "")),
        protocols=_words(k.get("protocols", "")),
        source_ports=_words(k.get("source-ports", "")),
        forward_ports=tuple(multi.get("forward-ports", ())),
        icmp_block_inversion=_bool(k.get("icmp-block-inversion", "no")),
        masquerade=_bool(k.get("masquerade", "no")),
        ingress_priority=int(prio) if prio and prio.lstrip("-").isdigit() else None,
        rich_rules=tuple(parse_rich_rule(r) for r in multi.get("rich rules", ())),
        extra={
            n: v
            for n, v in k.items()
            if n
            not in _LISTS | {"target", "rich rules", "forward-ports", "icmp-block-inversion", "masquerade"}
        },
    )


_ACTIONS = ("accept", "reject", "drop", "mark")


def parse_rich_rule(text: str) -> RichRule:
    """One rich rule as firewalld prints it (firewalld.richlanguage(5))."""
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        raise FirewalldError(f"rich rule {text!r}: {exc}") from exc
    if not tokens or tokens[0] != "rule":
        raise FirewalldError(f"not a rich rule: {text!r}")
    attrs: dict = {}
    unknown = []
    i, element = 1, None
    ctx = "rule"
    negate = False
    while i < len(tokens):
        tok = tokens[i]
        i += 1
        if tok == "not":
            negate = True
            continue
        if "=" in tok:
            name, _, value = tok.partition("=")
            attrs[(ctx, name)] = value
            if negate and ctx in ("source", "destination"):
                attrs[(ctx, "not")] = "yes"
            continue
        negate = False if tok not in ("source", "destination") else negate
        if tok in ("source", "destination"):
            ctx = tok
            if negate:
                attrs[(ctx, "not")] = "yes"
                negate = False
            continue
        if tok in (
            "service",
            "port",
            "protocol",
            "icmp-block",
            "icmp-type",
            "masquerade",
            "forward-port",
            "source-port",
            "tcp-mss-clamp",
        ):
            ctx = element = tok
            continue
        if tok in ("log", "nflog", "audit", "limit"):
            ctx = tok
            continue
        if tok in _ACTIONS:
            ctx = "action"
            attrs[("action", "kind")] = tok
            continue
        unknown.append(tok)
    get = attrs.get
    known_elements = (None, "service", "port", "protocol")
    if element not in known_elements:
        unknown.append(element)
    prio = get(("rule", "priority"), "0")
    return RichRule(
        text=text,
        family=get(("rule", "family")),
        priority=int(prio) if prio.lstrip("-").isdigit() else 0,
        source=get(("source", "address"))
        or (
            f"ipset:{get(('source', 'ipset'))}"
            if get(("source", "ipset"))
            else (f"mac:{get(('source', 'mac'))}" if get(("source", "mac")) else None)
        ),
        source_not=get(("source", "not")) == "yes",
        destination=get(("destination", "address")),
        destination_not=get(("destination", "not")) == "yes",
        service=get(("service", "name")),
        port=get(("port", "port")),
        protocol=get(("port", "protocol")) or get(("protocol", "value")),
        action=get(("action", "kind")),
        reject_type=get(("action", "type")),
        element=element,
        unknown=tuple(unknown),
    )


def parse_zone_xml(xml: str, name: Optional[str] = None) -> Zone:
    """A zone file (<zone target=...><service name=.../><port .../><rule>...</rule></zone>). The
    zone's name is the file's base name unless the file names it."""
    root = parse_xml(xml, "firewalld zone XML")
    if root.tag != "zone":
        raise FirewalldError(f"firewalld zone XML has root <{root.tag}>, expected <zone>")
    rules = []
    for r in root.findall("rule"):
        parts = ["rule"] + [f'{k}="{v}"' for k, v in r.attrib.items()]
        for child in r:
            if not isinstance(child.tag, str):
                continue
            if child.tag in _ACTIONS or child.tag in ("log", "audit", "nflog", "limit"):
                continue
            parts.append(("not " if child.get("invert") in ("True", "true", "yes", "1") else "") + child.tag)
            parts += [f'{k}="{v}"' for k, v in child.attrib.items() if k != "invert"]
        for child in r:
            if isinstance(child.tag, str) and child.tag in _ACTIONS:
                parts.append(child.tag)
                parts += [f'{k}="{v}"' for k, v in child.attrib.items()]
        rules.append(parse_rich_rule(" ".join(parts)))
    prio = root.get("ingress-priority")
    return Zone(
        name=root.get("name") or name or "?",
        target=root.get("target") or "default",
        interfaces=tuple(e.get("name") for e in root.findall("interface") if e.get("name")),
        sources=tuple(
            e.get("address") or (f"ipset:{e.get('ipset')}" if e.get("ipset") else e.get("mac"))
            for e in root.findall("source")
            if e.attrib
        ),
        services=tuple(e.get("name") for e in root.findall("service") if e.get("name")),
        ports=tuple(
            f"{e.get('port')}/{e.get('protocol')}"
            for e in root.findall("port")
            if e.get("port") and e.get("protocol")
        ),
        protocols=tuple(e.get("value") for e in root.findall("protocol") if e.get("value")),
        source_ports=tuple(f"{e.get('port')}/{e.get('protocol')}" for e in root.findall("source-port")),
        icmp_block_inversion=root.find("icmp-block-inversion") is not None,
        masquerade=root.find("masquerade") is not None,
        ingress_priority=int(prio) if prio and prio.lstrip("-").isdigit() else None,
        rich_rules=tuple(rules),
    )


# Ports of firewalld's stock services that matter to a migration (firewalld/firewalld
# config/services/{ssh,libvirt,libvirt-tls}.xml @ b8019217abe2bb5bb2f0835d29bc17f2ef572313) and two
# that ship enabled in common zones. Any other service's ports are unknown unless its XML is given.
BUILTIN_SERVICES = {
    "ssh": ("22/tcp",),
    "libvirt": ("16509/tcp",),
    "libvirt-tls": ("16514/tcp",),
    "dhcpv6-client": ("546/udp",),
    "cockpit": ("9090/tcp",),
}


def parse_service_xml(xml: str) -> tuple:
    """A firewalld service file -> its ports ("16509/tcp", ...)."""
    root = parse_xml(xml, "firewalld service XML")
    if root.tag != "service":
        raise FirewalldError(f"firewalld service XML has root <{root.tag}>, expected <service>")
    return tuple(
        f"{e.get('port')}/{e.get('protocol')}"
        for e in root.findall("port")
        if e.get("port") and e.get("protocol")
    )
