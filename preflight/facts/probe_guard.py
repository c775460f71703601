"""Where the pair phase may connect (W8 of the security review).

Every TCP probe, `showmount` and `iscsi-ls` of the pair phase runs FROM every hypervisor TO a
name that some host's data chose: a guest's <disk type='network'> <host name port>, a
destination's libvirt hostname, an NFS server's name in a mount. Unchecked, a tenant or a
compromised host makes every hypervisor connect, as root, to any internal host:port and reads
the answer back through the report. So each target carries an `allow` policy, and the address
the name resolves to ON THE SOURCE (the address that would really be connected to; no second
resolution happens) is checked against it before any connection:

- a host the inventory names (a destination hypervisor, an inventory storage host): only that
  host's own addresses -- the one the controller reached it at and those of its interfaces.
  A libvirt hostname that resolves elsewhere is not probed (the migration would go elsewhere);
- a server named by host data (network disks, mounts): inside the cluster's `probe_networks`
  (CIDRs, inventory key) when given, else anything but a special address (loopback,
  link-local -- the cloud metadata address among them --, multicast, unspecified, reserved).

A refused target is not connected to; its row says why ("not probed: ..."), an error, so the
check built on it says ERROR, never PASS (fail closed). Without a Python on the source the
address cannot be checked after resolution: only literal addresses the controller checked
itself are probed then.

GUARD_CODE is the one implementation: sent to the hosts inside the probe and listing scripts,
and executed here for the controller-side checks (`refusal`).
"""

from __future__ import annotations

import ipaddress
from typing import Iterable, Optional

__all__ = ["GUARD_CODE", "refusal", "own_addresses", "storage_policy", "host_policy", "is_literal"]

# Python 3 source, self-contained (stdlib only). refuse(addr, allow) -> None (allowed) or why.
# allow: {"cidrs": [...]} -- must lie in one of them; {"default": True} -- not a special address;
# {"own": [...], "of": NAME} -- must be one of the host's own addresses.
GUARD_CODE = r'''
import ipaddress as _ipa
_SPECIAL = (("127.0.0.0/8", "loopback"), ("::1/128", "loopback"), ("0.0.0.0/8", "unspecified"),
            ("::/128", "unspecified"), ("169.254.0.0/16", "link-local"), ("fe80::/10", "link-local"),
            ("224.0.0.0/4", "multicast"), ("ff00::/8", "multicast"), ("240.0.0.0/4", "reserved"))
def _ip(addr):
    ip = _ipa.ip_address(str(addr).split("%")[0].strip("[]"))
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip
def refuse(addr, allow):
    try:
        ip = _ip(addr)
    except ValueError:
        return "%r is not an IP address" % (addr,)
    if "own" in allow:
        own = set()
        for a in allow["own"]:
            try:
                own.add(_ip(a))
            except ValueError:
                pass
        if ip in own:
            return None
        return "%s is none of %s's own addresses (%s)" % (ip, allow.get("of"), ", ".join(sorted(map(str, own))) or "none known")
    if "cidrs" in allow:
        for c in allow["cidrs"]:
            if ip in _ipa.ip_network(c, strict=False):
                return None
        return "%s is outside probe_networks (%s)" % (ip, ", ".join(allow["cidrs"]))
    for c, kind in _SPECIAL:
        if ip in _ipa.ip_network(c):
            return "%s is a %s address" % (ip, kind)
    return None
'''

_NS: dict = {}
exec(compile(GUARD_CODE, "<probe_guard>", "exec"), _NS)      # noqa: S102 - our own constant source


def refusal(address: str, allow: dict) -> Optional[str]:
    """Why `address` may not be connected to under `allow` (None: it may)."""
    return _NS["refuse"](address, allow)


def is_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(str(name).split("%")[0].strip("[]"))
        return True
    except ValueError:
        return False


def storage_policy(probe_networks: Optional[Iterable[str]]) -> dict:
    """The policy of a server that only host data names (network disks, mounts)."""
    nets = [str(n) for n in (probe_networks or ())]
    return {"cidrs": nets} if nets else {"default": True}


def own_addresses(entry: dict) -> list:
    """The addresses a gathered host is known by: the one the controller reached it at, then
    those of its interfaces (`ip -j addr`), loopback and link-local left out."""
    from preflight.facts.netlink import NetlinkError, parse_ip_addr

    out = []
    if entry.get("address"):
        out.append(str(entry["address"]))
    text = ((entry.get("shell") or {}).get("ip_addr") or {}).get("out")
    if text:
        try:
            addrs = parse_ip_addr(text)
        except NetlinkError:
            addrs = {}
        for cidrs in addrs.values():
            for cidr in cidrs:
                a = cidr.split("/")[0]
                if is_literal(a) and refusal(a, {"default": True}) is None and a not in out:
                    out.append(a)
    return out


def host_policy(name: str, entry: dict) -> dict:
    """The policy of a host the inventory names: its own addresses only."""
    return {"own": own_addresses(entry), "of": name}


def validate_networks(values, where: str) -> tuple:
    """The inventory's probe_networks as normalised CIDR strings; ValueError naming the bad one."""
    if values is None:
        return ()
    if not isinstance(values, (list, tuple)):
        raise ValueError(f"{where}: probe_networks must be a list of CIDRs, e.g. [\"10.0.0.0/16\"]")
    out = []
    for v in values:
        try:
            out.append(str(ipaddress.ip_network(str(v), strict=False)))
        except ValueError:
            raise ValueError(f"{where}: probe_networks: {v!r} is not a network (write it as \"10.0.0.0/16\")") \
                from None
    return tuple(out)
