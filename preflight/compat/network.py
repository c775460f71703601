"""Every NIC source of a guest exists on the destination and carries the guest's MTU.

What libvirt does (lab, libvirt 9.0): a missing bridge fails the migration at once ("Cannot get
interface MTU on 'br-app': No such device"); a bridge with a SMALLER MTU does not: the new tap
gets the bridge's MTU (or the guest's <mtu size>), libvirt checks nothing, and the migration
succeeds (scenario bridge_mtu_smaller, with and without <mtu size='1500'/>). The guest keeps
sending frames of its old MTU into a bridge that drops the bigger ones. judge_interfaces calls that
a FAIL; judge_nic_mtu (the network.mtu check) agrees with the real migration and WARNs. The guest's
MTU is its <mtu size> or, without one, the MTU its source bridge (or network's bridge) has now.
"""

from __future__ import annotations

from typing import Optional

from preflight.compat.finding import Finding, failed, passed, skipped, undecided, warned
from preflight.facts.guest_needs import GuestNeeds, Nic


def _label(nic: Nic) -> str:
    return f"{nic.type} {nic.source or '?'}" + (f" ({nic.mac})" if nic.mac else "")


def _guest_mtu(nic: Nic, src_links: Optional[dict]) -> tuple:
    if nic.mtu:
        return nic.mtu, "its <mtu size>"
    if src_links and nic.source in src_links and src_links[nic.source].mtu:
        return src_links[nic.source].mtu, f"the MTU of {nic.source} on the source"
    return None, None


def _dst_device(nic: Nic, dst_links: Optional[dict], dst_networks: Optional[dict]) -> tuple:
    """(device name on the destination, why) for the NIC's source; (None, error) when absent."""
    if nic.type == "network":
        if dst_networks is None:
            return None, "unknown"
        net = dst_networks.get(nic.source)
        if net is None:
            return None, f"libvirt network {nic.source} is not defined"
        if not net.active:
            return None, f"libvirt network {nic.source} is not active"
        if net.forward in ("hostdev", "passthrough", "private", "vepa") or not net.bridge:
            return "", f"libvirt network {nic.source} ({net.forward or 'no bridge'})"
        return net.bridge, f"libvirt network {nic.source} (bridge {net.bridge})"
    if nic.type in ("bridge", "direct"):
        if dst_links is None:
            return None, "unknown"
        if nic.source not in dst_links:
            return None, f"{'bridge' if nic.type == 'bridge' else 'device'} {nic.source} does not exist"
        return nic.source, f"{nic.type} {nic.source}"
    return "", f"interface type {nic.type}"


def judge_interfaces(
    guest: GuestNeeds,
    src_name: str,
    dst_name: str,
    src_links: Optional[dict],
    dst_links: Optional[dict],
    dst_networks: Optional[dict] = None,
) -> list:
    """`*_links`: name -> NetInterface (ip -j -d link); `dst_networks`: name -> LibvirtNetwork."""
    out = []
    for nic in guest.nics:
        label = _label(nic)
        dev, why = _dst_device(nic, dst_links, dst_networks)
        if why == "unknown":
            out.append(undecided(f"{dst_name}'s interfaces were not gathered ({label})", nic=label))
            continue
        if dev is None:
            out.append(
                failed(
                    f"{guest.name}'s NIC {label}: on {dst_name} {why} (libvirt: 'Cannot get interface "
                    f"MTU on '{nic.source}': No such device')",
                    observed=why,
                    expected=f"{nic.source} on {dst_name}",
                    nic=label,
                )
            )
            continue
        if dev == "":
            out.append(
                passed(f"{guest.name}'s NIC {label} uses {why}; its MTU is not judged here", nic=label)
            )
            continue
        link = dst_links.get(dev) if dst_links else None
        if nic.vlan_tags:
            kind = (link.kind if link else None) or ""
            if kind != "openvswitch" and nic.virtualport != "openvswitch":
                out.append(
                    failed(
                        f"{guest.name}'s NIC {label} has VLAN tag(s) {', '.join(nic.vlan_tags)}, which "
                        f"libvirt applies only on an Open vSwitch bridge; {dev} on {dst_name} is "
                        f"{kind or 'a plain device'}",
                        observed=kind or "not openvswitch",
                        expected="openvswitch",
                        nic=label,
                    )
                )
                continue
        want, from_where = _guest_mtu(nic, src_links)
        have = link.mtu if link else None
        if link is not None and not link.up:
            out.append(
                failed(
                    f"{dev} on {dst_name} is down ({guest.name}'s NIC {label})",
                    observed="down",
                    expected="up",
                    nic=label,
                )
            )
            continue
        if want is None or have is None:
            out.append(
                undecided(
                    f"the MTU of {guest.name}'s NIC {label} or of {dev} on {dst_name} is unknown",
                    observed=have,
                    expected=want,
                    nic=label,
                )
            )
            continue
        if have < want:
            out.append(
                failed(
                    f"{dev} on {dst_name} has MTU {have}, smaller than {guest.name}'s NIC {label} "
                    f"({want}, {from_where}): the migration succeeds and frames over {have} bytes are "
                    f"dropped afterwards",
                    observed=have,
                    expected=f">= {want}",
                    nic=label,
                )
            )
        else:
            out.append(
                passed(
                    f"{dev} on {dst_name} carries MTU {have} >= {want} ({label})",
                    observed=have,
                    expected=f">= {want}",
                    nic=label,
                )
            )
    if not out:
        out.append(passed(f"{guest.name} has no NIC"))
    return out


def judge_nic_mtu(
    guest: GuestNeeds,
    src_name: str,
    dst_name: str,
    src_links: Optional[dict],
    dst_links: Optional[dict],
    src_networks: Optional[dict],
    dst_networks: Optional[dict],
) -> list:
    """Per NIC: the device it lands on at the destination has an MTU at least the guest's. A
    smaller one WARNs (libvirt checks nothing and the migration succeeds; bigger frames are dropped
    afterwards). A missing source device is SKIP here: network.guest_networks fails it."""
    out = []
    for nic in guest.nics:
        label = _label(nic)
        dev, why = _dst_device(nic, dst_links, dst_networks)
        if why == "unknown":
            out.append(undecided(f"{dst_name}'s interfaces or networks were not gathered ({label})", nic=label))
            continue
        if dev is None:
            out.append(skipped(f"{label}: on {dst_name} {why}; judged by network.guest_networks", nic=label))
            continue
        if dev == "":
            out.append(passed(f"{guest.name}'s NIC {label} uses {why}; no host MTU applies", nic=label))
            continue
        if nic.mtu:
            want, from_where = nic.mtu, "its <mtu size>"
        else:
            src_dev, src_why = _dst_device(nic, src_links, src_networks)
            link = (src_links or {}).get(src_dev) if src_dev else None
            want, from_where = (link.mtu, f"the MTU of {src_dev} on {src_name}") if link and link.mtu else \
                (None, src_why)
        link = (dst_links or {}).get(dev)
        have = link.mtu if link else None
        if want is None or have is None:
            out.append(undecided(f"the MTU of {guest.name}'s NIC {label} ({from_where}) or of {dev} on "
                                 f"{dst_name} is unknown", observed=have, expected=want, nic=label))
        elif have < want:
            out.append(warned(f"{dev} on {dst_name} has MTU {have}, smaller than {guest.name}'s NIC {label} "
                              f"({want}, {from_where}): libvirt checks nothing and the migration succeeds, "
                              f"then the guest's frames over {have} bytes are dropped",
                              observed=have, expected=f">= {want}", nic=label))
        else:
            out.append(passed(f"{dev} on {dst_name} carries MTU {have} >= {want} ({label}, {from_where})",
                              observed=have, expected=f">= {want}", nic=label))
    if not out:
        out.append(passed(f"{guest.name} has no NIC"))
    return out


def judge_path_mtu(
    src_name: str, dst_name: str, mtu: Optional[int], ping_ok: Optional[bool], error: Optional[str] = None
) -> Finding:
    """The migration path carries the migration interface's MTU: a bounded don't-fragment ping
    of (MTU - 28) bytes from the source to the destination (`ping -M do -s N -c 2 -W 2 DEST`)."""
    if mtu is None or ping_ok is None:
        return undecided(
            f"the path MTU {src_name} -> {dst_name} was not probed" + (f": {error}" if error else "")
        )
    if not ping_ok:
        return failed(
            f"a {mtu}-byte don't-fragment packet from {src_name} does not reach {dst_name}"
            + (f" ({error})" if error else "")
            + ": a smaller MTU on the path stalls big segments",
            observed="lost",
            expected=f"path MTU >= {mtu}",
        )
    return passed(
        f"the path {src_name} -> {dst_name} carries {mtu}-byte packets unfragmented",
        observed=mtu,
        expected=f">= {mtu}",
    )
