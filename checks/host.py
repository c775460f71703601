"""host.identity: source and destination are distinct hosts with a usable migration hostname."""

from __future__ import annotations

from dataclasses import replace

from preflight.engine.registry import check, failed, passed, undecided, warned
from preflight.model import Scope, Severity

from ._common import libvirt_refuses_hostname, where


def _uuid(src, dst):
    ev = dict(source=where(src, "capabilities <host><uuid>") + "; " + where(dst, "capabilities <host><uuid>"),
              observed=f"{src.host_uuid} / {dst.host_uuid}", expected="two different UUIDs")
    if not src.host_uuid or not dst.host_uuid:
        return undecided("a libvirt host UUID is unknown", **ev)
    if src.host_uuid.lower() == dst.host_uuid.lower():
        return failed(f"{src.name} and {dst.name} share libvirt host UUID {src.host_uuid}: libvirt refuses "
                      "('Attempt to migrate guest to the same host')", **ev)
    return passed("the libvirt host UUIDs differ", **ev)


def _hostname(dst):
    ev = dict(source=where(dst, "virConnectGetHostname"), observed=dst.libvirt_hostname,
              expected="a resolvable name other than localhost")
    if not dst.libvirt_hostname:
        return undecided(f"the libvirt hostname of {dst.name} is unknown", **ev)
    if libvirt_refuses_hostname(dst.libvirt_hostname):
        return failed(f"{dst.name}'s libvirt hostname is {dst.libvirt_hostname!r}: libvirt refuses ('hostname "
                      "on destination resolved to localhost, but migration requires an FQDN')", **ev)
    return passed(f"{dst.name}'s libvirt hostname is {dst.libvirt_hostname}", **ev)


def _machine_id(src, dst):
    ev = dict(source=where(src, "/etc/machine-id") + "; " + where(dst, "/etc/machine-id"),
              observed=f"{src.machine_id} / {dst.machine_id}", expected="two different machine-ids")
    if not src.machine_id or not dst.machine_id:
        return undecided("a machine-id is unknown", **ev)
    if src.machine_id == dst.machine_id:
        return warned(f"{src.name} and {dst.name} have the same machine-id: cloned hosts? (systemd, DHCP "
                      "and some tools then confuse them)", **ev)
    return passed("the machine-ids differ", **ev)


@check(
    id="host.identity", title="Source and destination are distinct hosts with a usable migration hostname",
    category="host", severity=Severity.CRITICAL, scope=Scope.PAIR, requires=("capabilities", "libvirt"),
    verifies="The two hosts' libvirt host UUIDs differ; the destination's libvirt hostname is not "
             "localhost; their /etc/machine-id differ (WARN only).",
    rationale="libvirt identifies hosts by the capabilities host UUID and refuses a migration between "
              "two hosts with the same one; it sends the source to the destination's hostname and "
              "refuses if that is localhost. Cloned hosts usually show both problems.",
    remediation="Give each host a unique `host_uuid` in /etc/libvirt/libvirtd.conf (generate with "
                "`uuidgen`) or fix its duplicated SMBIOS UUID, then restart libvirtd; set a real FQDN "
                "(`hostnamectl set-hostname hv2.example.org`, plus DNS or /etc/hosts); regenerate a "
                "cloned machine-id (`rm /etc/machine-id && systemd-machine-id-setup`).",
    references=("https://libvirt.org/formatcaps.html", "https://libvirt.org/migration.html",
                "https://www.freedesktop.org/software/systemd/man/machine-id.html"),
)
def host_identity(ctx):
    return [replace(_uuid(ctx.source, ctx.destination), item="uuid"),
            replace(_hostname(ctx.destination), item="hostname"),
            replace(_machine_id(ctx.source, ctx.destination), item="machine-id")]
