"""network.guest_networks: every guest NIC's backing bridge/network/device exists on the destination."""

from __future__ import annotations

from dataclasses import replace

from preflight.compat.network import judge_nic_mtu
from preflight.engine.registry import Finding, check, failed, passed, skipped, undecided, warned
from preflight.model import Scope, Severity

from ._common import LIBVIRT_DOMAIN_XML, guest_needs, unparsed, where

BRIDGE_KINDS = ("bridge", "openvswitch")


def _bridge(iface, dst):
    link = dst.interfaces.get(iface.source)
    ev = dict(source=where(dst, "ip -j -d link show"), expected=f"bridge {iface.source}")
    if link is None:
        return failed(f"{iface.label}: bridge {iface.source} does not exist on {dst.name} (libvirt: "
                      f"\"Cannot get interface MTU on '{iface.source}': No such device\")",
                      observed="no such device",
                      details={"remediation": f"On {dst.name} create bridge {iface.source} "
                                              f"(`ip link add {iface.source} type bridge && ip link set "
                                              f"{iface.source} up`, and in the distribution's persistent "
                                              f"network config), or attach the guest's NIC "
                                              f"{iface.mac or ''} to a bridge every host has."}, **ev)
    if link.kind not in BRIDGE_KINDS:
        return failed(f"{iface.label}: {iface.source} on {dst.name} is a {link.kind or 'plain'} device, "
                      "not a Linux or Open vSwitch bridge", observed=f"{link.kind or 'physical'} {link.name}", **ev)
    if not link.up:
        return warned(f"{iface.label}: bridge {iface.source} on {dst.name} is administratively down: "
                      "the guest would lose its network", observed=f"{link.kind} {link.name} DOWN", **ev)
    return passed(f"{iface.label}: bridge {iface.source} exists on {dst.name}",
                  observed=f"{link.kind} {link.name} mtu {link.mtu}", **ev)


def _network(iface, dst):
    net = dst.networks.get(iface.source)
    ev = dict(source=where(dst, "virConnectListAllNetworks"), expected=f"active network {iface.source}")
    if net is None and f"network:{iface.source}" in dst.fact_errors:
        return undecided(f"{iface.label}: network {iface.source} on {dst.name} could not be read: "
                         f"{dst.fact_errors[f'network:{iface.source}']}", **ev)
    if net is None:
        return failed(f"{iface.label}: libvirt network {iface.source} is not defined on {dst.name}",
                      observed="not defined",
                      details={"remediation": f"Define network {iface.source} on {dst.name} as on the source "
                                              f"(`virsh net-dumpxml {iface.source}` there, then `virsh "
                                              f"net-define FILE && virsh net-start {iface.source} && virsh "
                                              f"net-autostart {iface.source}` on {dst.name})."}, **ev)
    if not net.active:
        return failed(f"{iface.label}: libvirt network {iface.source} is defined but not active on "
                      f"{dst.name}", observed="inactive",
                      details={"remediation": f"On {dst.name}: `virsh net-start {iface.source} && virsh "
                                              f"net-autostart {iface.source}`."}, **ev)
    return passed(f"{iface.label}: network {iface.source} is active on {dst.name}",
                  observed=f"active, bridge {net.bridge}, forward {net.forward}", **ev)


def _direct(iface, dst):
    link = dst.interfaces.get(iface.source)
    ev = dict(source=where(dst, "ip -j -d link show"), expected=f"device {iface.source}")
    if link is None:
        return failed(f"{iface.label}: macvtap source device {iface.source} does not exist on {dst.name}",
                      observed="no such device",
                      details={"remediation": f"Give {dst.name} a device named {iface.source} (the same NIC "
                                              f"name as on the source, e.g. by a udev/systemd .link rule), "
                                              f"or point the guest's direct interface at a device every "
                                              f"host has."}, **ev)
    return passed(f"{iface.label}: source device {iface.source} exists on {dst.name}",
                  observed=f"{link.kind or 'physical'} {link.name}", **ev)


@check(
    id="network.guest_networks", title="Every guest NIC's bridge, network or device exists on the destination",
    category="network", severity=Severity.HIGH, scope=Scope.MIGRATION,
    requires=("domains", "interfaces", "networks"),
    verifies="Per guest interface: type='bridge' names a Linux or Open vSwitch bridge present on the "
             "destination; type='network' names a libvirt network defined and active there; "
             "type='direct' names a device present there. user-mode NICs need nothing.",
    rationale="The destination libvirt plugs each NIC into the same-named bridge/network/device. If it is "
              "missing the incoming migration fails (\"Cannot get interface MTU on 'br0': No such "
              "device\"); a downed bridge lets the guest arrive cut off from its network.",
    remediation="Create the bridge on the destination with the same name (e.g. `ip link add br0 type bridge` "
                "plus your distribution's persistent network config), or define and start the libvirt "
                "network (`virsh net-define net.xml && virsh net-start NAME && virsh net-autostart NAME`), "
                "or give the guest a network that exists on every host.",
    references=(LIBVIRT_DOMAIN_XML + "#network-interfaces", "https://libvirt.org/formatnetwork.html"),
)
def guest_networks(ctx):
    problem = unparsed(ctx.domain, ctx.source)
    if problem:
        return problem
    if not ctx.domain.interfaces:
        return passed("the domain has no network interfaces", observed="no <interface> elements")
    findings = []
    for n, iface in enumerate(ctx.domain.interfaces, 1):
        before = len(findings)
        if iface.type in ("bridge", "network", "direct") and not iface.source:
            findings.append(undecided(f"{iface.label}: interface names no source", observed=iface.label))
        elif iface.type in ("bridge", "network", "direct"):
            findings.append({"bridge": _bridge, "network": _network, "direct": _direct}[iface.type](
                iface, ctx.destination))
        elif iface.type == "user":
            findings.append(passed(f"{iface.label}: user-mode networking needs nothing on the host"))
        elif iface.type in ("hostdev", "vdpa"):
            findings.append(skipped(f"{iface.label}: a passed-through NIC, judged by domain.blockers"))
        else:
            findings.append(undecided(f"{iface.label}: interface type {iface.type!r} is not checked yet",
                                      observed=iface.label))
        # the NIC's MAC (else its position) keeps the result's id when other NICs come or go
        findings[before:] = [replace(f, item=f"nic={iface.mac or n}") for f in findings[before:]]
    return findings


@check(
    id="network.mtu", title="Every guest NIC lands on a destination device with at least the guest's MTU",
    category="network", severity=Severity.MEDIUM, scope=Scope.MIGRATION,
    requires=("domains", "interfaces", "networks"),
    verifies="Per guest interface of type bridge, network or direct: the device it is plugged into on "
             "the destination (the bridge, the libvirt network's bridge, the macvtap source device) has "
             "an MTU at least the guest's: its <mtu size>, else the MTU of the device it uses on the "
             "source. A smaller MTU WARNs; a missing device is left to network.guest_networks (SKIP).",
    rationale="libvirt does not compare MTUs: the new tap takes the destination bridge's MTU (or the "
              "guest's <mtu>) and the migration succeeds (lab bridge_mtu_smaller: 1500 -> 1400, with "
              "and without <mtu size='1500'/>). The guest keeps its interface MTU, so from then on its "
              "frames over the smaller MTU are dropped: TCP stalls on full-size segments while pings "
              "still work. A warning, since the migration itself really works.",
    remediation="Give the destination's bridge (and its ports/uplink) the same MTU as on the source "
                "(`ip link set BRIDGE mtu 9000` plus the distribution's persistent network config), or "
                "lower the guest's MTU (`<mtu size='1400'/>` and inside the guest) before migrating.",
    references=(LIBVIRT_DOMAIN_XML + "#mtu-configuration", "https://libvirt.org/formatnetwork.html"),
)
def nic_mtu(ctx):
    needs, problem = guest_needs(ctx)
    if problem:
        return problem
    src, dst = ctx.source, ctx.destination
    ev = where(src, "ip -j -d link show") + "; " + where(dst, "ip -j -d link show")
    judged = judge_nic_mtu(needs, src.name, dst.name, src.interfaces, dst.interfaces,
                           src.networks, dst.networks)
    out = []
    for n, f in enumerate(judged, 1):
        nic = needs.nics[n - 1] if n <= len(needs.nics) else None
        out.append(Finding(f.status, f.message, observed=f.observed, expected=f.expected, source=ev,
                           details=dict(f.details or {}),
                           item=f"nic={(nic.mac or n) if nic else 'none'}"))
    return out
