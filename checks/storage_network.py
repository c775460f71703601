"""Network disks (<disk type='network'>): the destination reaches each server the guest's disks
name (iSCSI portal, Gluster volfile server, NBD server, Ceph monitor, NFS server, ...):
storage.portal_reachable."""

from __future__ import annotations

from preflight.engine.registry import check, failed, passed, undecided, warned
from preflight.facts.portals import DEFAULT_PORTS, ports_for
from preflight.model import Scope, Severity

from ._common import LIBVIRT_DOMAIN_XML, unparsed

OUTCOME_WORDS = {"refused": "connection refused", "timeout": "timed out (packets dropped?)",
                 "unreachable": "no route (unreachable)", "error": "probe error"}


def _row_text(row) -> str:
    target, port, protocol, outcome, detail = row
    return f"{protocol} {target}:{port} {outcome}" + (f" ({detail})" if detail and outcome != "answered" else "")


def _judge_disk(disk, dst):
    protocol = (disk.protocol or "?").lower()
    label = f"disk {disk.target} ({protocol}"
    label += f" {disk.name})" if disk.name else ")"
    tcp_hosts = [h for h in disk.hosts if (h.transport or "tcp").lower() != "unix"]
    unix_hosts = [h for h in disk.hosts if (h.transport or "tcp").lower() == "unix"]
    ev = dict(disk=disk.target,
              source=f"{dst.name}: TCP connect probes to every network-disk server (pair phase)",
              expected=f"every server of the disk answers a TCP connect from {dst.name}")
    if unix_hosts:
        return undecided(f"{label}: its server is a UNIX socket ({unix_hosts[0].socket or unix_hosts[0].name}) "
                         f"that must exist on {dst.name} too; preflight cannot probe it",
                         observed=f"<host transport='unix' socket='{unix_hosts[0].socket or unix_hosts[0].name}'/>",
                         **ev)
    if not tcp_hosts:
        return undecided(f"{label}: no <host> in the disk's source (e.g. Ceph monitors taken from "
                         f"ceph.conf on the host); which servers {dst.name} must reach is unknown",
                         observed="no <host> element", **ev)
    if dst.portal_probes is None:
        return undecided(f"{label}: the network-disk servers were not probed from {dst.name} (pair phase "
                         "not run, probes disabled, or a recording made before these probes existed)",
                         observed="no probe", **ev)
    good, bad, unknown, seen = [], [], [], []
    for h in tcp_hosts:
        ports = ports_for(protocol, h.port)
        if not ports:
            unknown.append(f"{h.name}: no port given and no default port known for protocol {protocol}")
            continue
        rows = [r for r in dst.portal_probes if r[0] == h.name and r[1] in ports]
        seen += rows
        if not rows:
            unknown.append(f"{h.name}:{'/'.join(map(str, ports))} was not probed from {dst.name}")
        elif any(r[3] == "answered" for r in rows):
            good.append(f"{h.name}:{next(r[1] for r in rows if r[3] == 'answered')}")
        elif len(rows) < len(ports):
            unknown.append(f"{h.name}: ports {'/'.join(map(str, ports))} only partly probed, none answered")
        else:
            bad.append(rows)
    ev["observed"] = "; ".join(_row_text(r) for r in seen) or "no probe row for this disk's servers"
    if bad and not good:
        what = "; ".join(", ".join(f"{r[0]}:{r[1]} {OUTCOME_WORDS.get(r[3], r[3])}" for r in rows)
                         for rows in bad)
        return failed(f"{label}: from {dst.name}, {what}: QEMU on {dst.name} cannot open the disk, so the "
                      "incoming guest fails to start after memory transfer has begun", **ev)
    if unknown:
        return undecided(f"{label}: " + "; ".join(unknown), **ev)
    if bad:
        down = ", ".join(f"{r[0]}:{r[1]}" for rows in bad for r in rows)
        return warned(f"{label}: {dst.name} reaches {', '.join(good)} but not {down}: the disk opens only "
                      "while a reachable server is up (lost redundancy)", **ev)
    return passed(f"{label}: {dst.name} reaches {', '.join(good)}", **ev)


@check(
    id="storage.portal_reachable",
    title="The destination reaches every network-disk server (iSCSI portal, Gluster, NBD, Ceph, NFS)",
    category="storage", severity=Severity.CRITICAL, scope=Scope.MIGRATION, requires=("domains",),
    verifies="Per <disk type='network'> of the guest: every TCP <host> of its source (iSCSI portal, "
             "Gluster volfile server, NBD server, Ceph monitor, NFS server, HTTP(S)/FTP/SSH source) "
             "answers a TCP connect made FROM the destination, at the disk's port or the protocol's "
             "default (" + ", ".join(f"{p} {'/'.join(map(str, ports))}" for p, ports in
                                     sorted(DEFAULT_PORTS.items())) + "). All servers named by "
             "any guest in the cluster are probed from every hypervisor in the pair phase's single "
             "probe exec per host. Refused, timed out or unreachable: FAIL (WARN when another server "
             "of the same disk answers); a UNIX-socket server, a disk without <host>, a protocol "
             "without a known port, or no probe recorded: ERROR.",
    rationale="For a network disk QEMU on the destination opens its own connection to the storage "
              "server when the incoming guest starts; the source's working connection proves nothing "
              "about the destination. A firewall or routing gap there makes the migration fail after "
              "memory transfer has begun (e.g. 'iSCSI: Failed to connect to LUN'), and a silently "
              "dropped connect can hold the migration until TCP times out.",
    remediation="Allow TCP from every hypervisor to the storage servers' ports (iSCSI 3260, Gluster 24007 "
                "and its brick ports 49152+, NBD 10809, Ceph monitors 3300/6789 and OSDs 6800-7300, NFS "
                "2049) on the storage host and any firewall between them, and make sure the server name "
                "in the disk's <host name=...> resolves to a reachable address on every hypervisor.",
    references=(LIBVIRT_DOMAIN_XML + "#hard-drives-floppy-disks-cdroms",
                "https://www.qemu.org/docs/master/system/qemu-block-drivers.html",
                "https://docs.ceph.com/en/latest/rados/configuration/msgr2/"),
)
def portal_reachable(ctx):
    problem = unparsed(ctx.domain, ctx.source)
    if problem:
        return problem
    found = [_judge_disk(d, ctx.destination) for d in ctx.domain.disks
             if d.type == "network" and not d.empty]
    if not found:
        from preflight.engine.registry import skipped
        return [skipped(f"{ctx.domain.name} has no network disk")]
    return found
