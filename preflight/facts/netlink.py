"""`ip -j -d link show` and `ip -j addr show` (iproute2 JSON) -> NetInterface by name."""

from __future__ import annotations

import json

from preflight.facts.models import NetInterface


class NetlinkError(ValueError):
    pass


def _load(text: str, what: str) -> list:
    if text is None or not text.strip():
        raise NetlinkError(f"`{what}` printed nothing")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NetlinkError(f"`{what}` did not print JSON: {exc}") from exc
    if not isinstance(data, list):
        raise NetlinkError(f"`{what}` printed {type(data).__name__}, expected a JSON list")
    return data


def parse_ip_link(text: str) -> dict:
    """name -> NetInterface (kind, master, admin state, operstate, mtu); addresses empty."""
    out = {}
    for link in _load(text, "ip -j -d link show"):
        name = link.get("ifname")
        if not name:
            raise NetlinkError(f"link without ifname: {link!r}"[:200])
        linkinfo = link.get("linkinfo") or {}
        out[name] = NetInterface(
            name=name,
            kind=linkinfo.get("info_kind"),
            up="UP" in (link.get("flags") or ()),
            master=link.get("master"),
            mtu=link.get("mtu"),
            operstate=link.get("operstate"),
            slave_kind=linkinfo.get("info_slave_kind"),
        )
    return out


def parse_ip_addr(text: str) -> dict:
    """name -> ("10.0.0.1/24", "fe80::1/64", ...)."""
    out = {}
    for link in _load(text, "ip -j addr show"):
        name = link.get("ifname")
        if not name:
            continue
        out[name] = tuple(f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info") or ()
                          if "local" in a and "prefixlen" in a)
    return out


def merge_links_and_addresses(links: dict, addresses: dict) -> dict:
    from dataclasses import replace

    return {name: replace(iface, addresses=addresses.get(name, ())) for name, iface in links.items()}
