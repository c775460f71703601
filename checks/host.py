"""host.identity: source and destination are distinct hosts with a usable migration hostname."""

from __future__ import annotations

from dataclasses import replace

from preflight.compat.timesync import judge_sync
from preflight.compat.versions import judge_versions
from preflight.engine.registry import Finding, check, failed, passed, undecided, warned
from preflight.facts.versions import parse_dotted
from preflight.model import Scope, Severity

from ._common import libvirt_refuses_hostname, where


def _smbios(host):
    return getattr(host.compat, "smbios_uuid", None) if host.compat else None


def _uuid(src, dst):
    ev = dict(source=where(src, "capabilities <host><uuid>") + "; " + where(dst, "capabilities <host><uuid>"),
              observed=f"{src.host_uuid} / {dst.host_uuid}", expected="two different UUIDs",
              details={"smbios_uuids": [_smbios(src), _smbios(dst)]})
    if not src.host_uuid or not dst.host_uuid:
        return undecided("a libvirt host UUID is unknown", **ev)
    cloned = _smbios(src) and _smbios(src) == _smbios(dst)
    if src.host_uuid.lower() == dst.host_uuid.lower():
        return failed(f"{src.name} and {dst.name} share libvirt host UUID {src.host_uuid}: libvirt refuses "
                      "('Attempt to migrate guest to the same host')"
                      + (f"; both report SMBIOS UUID {_smbios(src)}, which libvirt uses unless "
                         "libvirtd.conf sets host_uuid" if cloned else ""), **ev)
    if cloned:
        # libvirt compares only the host UUIDs it reports (libvirtd.conf host_uuid wins over SMBIOS)
        return passed(f"the libvirt host UUIDs differ (host_uuid is set: {src.name} and {dst.name} share "
                      f"SMBIOS UUID {_smbios(src)}, which libvirt then does not use)", **ev)
    return passed("the libvirt host UUIDs differ", **ev)


def _same_name(src, dst):
    """libvirt before it relied on the host UUID also refused equal hostnames in the migration
    cookie ('Attempt to migrate guest to the same host NAME'); today's qemu_migration_cookie.c
    only keeps a comment about it."""
    a, b = src.libvirt_hostname, dst.libvirt_hostname
    ev = dict(source=where(src, "virConnectGetHostname") + "; " + where(dst, "virConnectGetHostname"),
              observed=f"{a} / {b}", expected="two different host names")
    if not a or not b:
        return undecided("a libvirt hostname is unknown", **ev)
    if a.lower() == b.lower():
        return warned(f"{src.name} and {dst.name} both call themselves {a}: older libvirt refuses "
                      "('Attempt to migrate guest to the same host'), and the migration URI cannot tell "
                      "them apart", **ev)
    return passed("the libvirt hostnames differ", **ev)


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
    verifies="The two hosts' libvirt host UUIDs differ (a shared SMBIOS UUID is named, and harmless "
             "when libvirtd.conf host_uuid gives them different ones); the destination's libvirt "
             "hostname is not localhost; their /etc/machine-id and libvirt hostnames differ (WARN only).",
    rationale="libvirt identifies hosts by the capabilities host UUID and refuses a migration between "
              "two hosts with the same one (qemu_migration_cookie.c: the destination compares the "
              "cookie's hostuuid with its own; lab host_uuid_clone); that UUID comes from "
              "libvirtd.conf host_uuid, else from SMBIOS, so cloned hosts share it. It sends the "
              "source to the destination's hostname and refuses if that is localhost. Cloned hosts "
              "usually show both problems.",
    remediation="Give each host a unique `host_uuid` in /etc/libvirt/libvirtd.conf (generate with "
                "`uuidgen`) or fix its duplicated SMBIOS UUID, then restart libvirtd; set a real FQDN "
                "(`hostnamectl set-hostname hv2.example.org`, plus DNS or /etc/hosts); regenerate a "
                "cloned machine-id (`rm /etc/machine-id && systemd-machine-id-setup`).",
    references=("https://libvirt.org/formatcaps.html", "https://libvirt.org/migration.html",
                "https://gitlab.com/libvirt/libvirt/-/blob/master/src/qemu/qemu_migration_cookie.c",
                "https://www.freedesktop.org/software/systemd/man/machine-id.html"),
)
def host_identity(ctx):
    return [replace(_uuid(ctx.source, ctx.destination), item="uuid"),
            replace(_hostname(ctx.destination), item="hostname"),
            replace(_machine_id(ctx.source, ctx.destination), item="machine-id"),
            replace(_same_name(ctx.source, ctx.destination), item="same-hostname")]


def _version(text):
    try:
        return parse_dotted(text) if text else None
    except ValueError:
        return None


@check(
    id="host.versions", title="The destination's libvirt and QEMU are not older than the source's",
    category="host", severity=Severity.MEDIUM, scope=Scope.PAIR, requires=("libvirt",),
    verifies="The destination's QEMU (virConnectGetVersion) and libvirt (virConnectGetLibVersion) "
             "are the same as or newer than the source's. An older destination WARNs; an unknown "
             "version is ERROR. What an older QEMU really lacks (the guest's machine type) is "
             "judged by domain.machine_type.",
    rationale="Neither libvirt nor QEMU refuses a migration by version number. QEMU's migration "
              "compatibility rules (docs/devel/migration/compatibility.rst) support both directions "
              "only for a machine type both versions define ('migration is only supposed to work if "
              "you use the same machine type in both source and destination'; 'qemu-5.1 doesn't "
              "understand pc-5.2 machine type'), and newer-to-older is the less tested path. libvirt "
              "sends the migratable XML so an older destination can parse it, but an element the "
              "older libvirt does not know is refused there. Hence a warning, not a failure.",
    remediation="Upgrade libvirt and QEMU on the destination to at least the source's versions "
                "(rolling upgrades: upgrade the empty host first, then migrate onto it), or keep "
                "such guests off older hosts until they are upgraded.",
    references=("https://www.qemu.org/docs/master/devel/migration/compatibility.html",
                "https://libvirt.org/migration.html"),
)
def host_versions(ctx):
    src, dst = ctx.source, ctx.destination
    ev = where(src, "virConnectGetVersion, virConnectGetLibVersion") + "; " + \
        where(dst, "virConnectGetVersion, virConnectGetLibVersion")
    out = []
    for item, f in zip(("qemu", "libvirt"), judge_versions(
            src.name, dst.name, _version(src.libvirt_version), _version(dst.libvirt_version),
            _version(src.qemu_version), _version(dst.qemu_version))):
        out.append(Finding(f.status, f.message, observed=f.observed, expected=f.expected, source=ev,
                           details=dict(f.details or {}), item=item))
    return out


@check(
    id="host.time_sync", title="The host's clock is synchronised (advisory: no migration verdict)",
    category="host", severity=Severity.LOW, scope=Scope.HOST, requires=("time_sync",), roles=(),
    verifies="chrony's tracking (leap status, and its error bound within 0.1 s), else timedatectl's "
             "NTPSynchronized, else ntpd's system peer (ntpq -pn) says the host's clock is "
             "synchronised. Not synchronised WARNs; none of the three readable is ERROR. Advisory: "
             "the result is reported per host and bears on no migration's verdict.",
    rationale="A live migration does not fail on the hosts' clocks: libvirt and QEMU compare no "
              "time, and the guest's kvmclock is carried over (the lab's hosts share an "
              "unsynchronised kernel clock and migrate). What drifts is the guest's notion of wall "
              "time when it moves between hosts whose clocks differ, and logs and certificates on "
              "the hosts themselves. Hence host hygiene, not a migration blocker.",
    remediation="Run a time service on every host and point them at the same sources: "
                "`apt install chrony` / `dnf install chrony`, `systemctl enable --now chronyd`, "
                "then `chronyc tracking` should say 'Leap status : Normal'.",
    references=("https://chrony-project.org/doc/4.5/chronyc.html#tracking",
                "https://www.freedesktop.org/software/systemd/man/timedatectl.html"),
)
def time_sync(ctx):
    host = ctx.host
    compat = host.compat
    if compat is None:
        return undecided(f"{host.name}'s time-sync state was not read")
    f = judge_sync(host.name, compat.chrony, compat.timedatectl, compat.ntpd_synced,
                   tools_absent=compat.time_tools_absent)
    return Finding(f.status, f.message, observed=f.observed, expected=f.expected,
                   source=where(host, "chronyc -n tracking; timedatectl show; ntpq -pn"))
