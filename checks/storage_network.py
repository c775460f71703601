"""Network disks (<disk type='network'>): the destination reaches each server the guest's disks
name (iSCSI portal, Gluster volfile server, NBD server, Ceph monitor, NFS server, ...):
storage.portal_reachable; and each iSCSI disk's target presents its LUN to the destination:
storage.iscsi_lun (a separate check: a target ACL is another fault than a firewall, with another
fix, and it needs a tool that may be absent, which must not turn the TCP verdict into ERROR)."""

from __future__ import annotations

from preflight.engine.registry import check, failed, passed, skipped, undecided, warned
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
        elif any(r[3] == "not_probed" for r in rows):     # refused by the probe policy (W8): not a FAIL
            unknown.append("; ".join(f"{h.name}:{r[1]} {r[4]}" for r in rows if r[3] == "not_probed"))
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
             "without a known port, no probe recorded, or a server the probe policy refused "
             "(outside the inventory's probe_networks, or a loopback/link-local/multicast address): ERROR.",
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
        return [skipped(f"{ctx.domain.name} has no network disk")]
    return found


def _iqn_lun(name):
    """libvirt's iSCSI source name 'IQN/LUN' -> (iqn, lun); no '/LUN' means LUN 0."""
    name = (name or "").strip().strip("/")
    if "/" in name:
        iqn, lun = name.rsplit("/", 1)
        try:
            return iqn, int(lun)
        except ValueError:
            return name, None
    return name, 0


def _kernel_session_proves(dst, iqn, lun):
    """A logged-in kernel (open-iscsi) session of `dst` to the target with that LUN attached."""
    sessions = dst.block.iscsi if dst.block is not None else None
    for s in sessions or ():
        if s.target == iqn and (s.state or "").upper() == "LOGGED_IN" and any(
                str(n) == str(lun) for n, _ in s.disks):
            return f"{dst.name} has a logged-in iSCSI session to {iqn} with LUN {lun} attached (iscsiadm -m session -P 3)"
    return None


def _judge_lun(disk, domain, dst):
    from preflight.facts.listings import qemu_initiator
    iqn, lun = _iqn_lun(disk.name)
    label = f"disk {disk.target} (iscsi {disk.name})"
    host = next((h for h in disk.hosts if (h.transport or "tcp").lower() != "unix"), None)
    port = (host.port if host else None) or 3260
    initiator = qemu_initiator(disk.initiator, domain.uuid, domain.name)
    portal = f"{host.name}:{port}" if host else "?"
    ev = dict(disk=disk.target, source=f"{dst.name}: iscsi-ls -i {initiator} -s iscsi://{portal}/ (pair phase)",
              expected=f"target {iqn} with LUN {lun} listed by {portal} for initiator {initiator} from {dst.name}")
    if host is None or lun is None or not iqn:
        return undecided(f"{label}: no TCP portal or no IQN/LUN in the disk's source; nothing to list",
                         observed=f"name={disk.name!r}, hosts={[h.name for h in disk.hosts]}", **ev)
    if disk.has_auth:
        return skipped(f"{label}: CHAP-protected target: preflight never uses iSCSI credentials, so it did not "
                       f"ask {portal} for its LUNs (reachability: storage.portal_reachable)",
                       observed="skipped: CHAP-protected target", **ev)
    if dst.iscsi_lists is None:
        return undecided(f"{label}: the iSCSI targets were not listed from {dst.name} (pair phase not run, probes "
                         "disabled, or a recording made before iscsi-ls listings existed)", observed="not gathered", **ev)
    view = dst.iscsi_lists.get((host.name.lower(), port, initiator))
    if view is None:
        return undecided(f"{label}: {portal} was not listed from {dst.name} for initiator {initiator}",
                         observed="no listing row for this portal and initiator", **ev)
    shown = "; ".join(f"{t}: LUN " + ",".join(str(n) for n, _ in luns) if luns else f"{t}: no LUN"
                      for t, luns in view.targets.items()) or "no target"
    ev["observed"] = f"{view.command}: {view.status}" + (f" ({view.detail})" if view.detail else "") + f"; {shown}"
    luns = dict(view.targets.get(iqn, ()))
    if lun in luns:
        return passed(f"{label}: {portal} presents {iqn} LUN {lun} ({luns[lun]}) to {dst.name} as initiator "
                      f"{initiator}", **ev)
    if view.status == "listed":
        if iqn not in view.targets:
            return failed(f"{label}: {portal} answers {dst.name} but does not present target {iqn} to initiator "
                          f"{initiator} (target ACL by initiator address or name?): QEMU on {dst.name} cannot log "
                          "in, so the incoming guest fails to start", **ev)
        return failed(f"{label}: target {iqn} on {portal} presents LUNs "
                      f"{', '.join(str(n) for n in luns) or 'none'} to {dst.name}, not LUN {lun}: QEMU on "
                      f"{dst.name} cannot open the disk", **ev)
    proof = _kernel_session_proves(dst, iqn, lun)
    if proof:
        return passed(f"{label}: {proof}; iscsi-ls gave no list ({view.status}: {view.detail or '?'})", **ev)
    if view.status == "absent":
        return undecided(f"{label}: iscsi-ls (libiscsi-bin) is not installed on {dst.name} and nothing else shows "
                         f"that {portal} presents {iqn} LUN {lun} to it", **ev)
    return undecided(f"{label}: {portal} gave {dst.name} no target list ({view.status}: {view.detail or '?'}); "
                     "if the portal is unreachable, storage.portal_reachable says so", **ev)


@check(
    id="storage.iscsi_lun",
    title="The iSCSI target presents each iSCSI disk's LUN to the destination",
    category="storage", severity=Severity.CRITICAL, scope=Scope.MIGRATION, requires=("domains",),
    verifies="Per <disk type='network'> with protocol='iscsi' (source name 'IQN/LUN'): `iscsi-ls -i INITIATOR "
             "-s iscsi://HOST:PORT/` run FROM the destination in the pair phase's single probe exec (bounded; "
             "INITIATOR is the name QEMU uses: the disk's <initiator><iqn>, else "
             "iqn.2008-11.org.linux-kvm:<domain uuid>) lists the disk's IQN with its LUN: PASS. The portal "
             "answers but the IQN or the LUN is not listed: FAIL. iscsi-ls not installed (libiscsi-bin), no "
             "answer, or not gathered: ERROR, unless a logged-in kernel iSCSI session of the destination "
             "shows that LUN. A disk with <auth> (CHAP) is SKIP: credentials are never used, the portal is "
             "not asked (storage.portal_reachable still probes it).",
    rationale="A reachable portal is not an accessible LUN: iSCSI targets decide per initiator (address or "
              "name ACLs) which targets and LUNs they present. A destination left out of the target's ACL "
              "makes the incoming QEMU fail to log in ('iSCSI: Failed to connect to LUN') after memory "
              "transfer has begun, while the guest runs fine on its source.",
    remediation="Add the destination to the target's ACL for that initiator (tgt: `tgtadm --lld iscsi --op bind "
                "--mode target --tid N -I ADDRESS` or `-Q INITIATOR`; LIO: `targetcli "
                "/iscsi/IQN/tpg1/acls create INITIATOR` with the LUN mapped), or give the disk the initiator "
                "name the ACL admits (<initiator><iqn name=.../></initiator>); check from the destination with "
                "`iscsi-ls -i INITIATOR -s iscsi://PORTAL/`. Install libiscsi-bin on the hypervisors for this check.",
    references=(LIBVIRT_DOMAIN_XML + "#hard-drives-floppy-disks-cdroms",
                "https://github.com/sahlberg/libiscsi",
                "https://www.qemu.org/docs/master/system/qemu-block-drivers.html#iscsi-luns"),
)
def iscsi_lun(ctx):
    problem = unparsed(ctx.domain, ctx.source)
    if problem:
        return problem
    found = [_judge_lun(d, ctx.domain, ctx.destination) for d in ctx.domain.disks
             if d.type == "network" and not d.empty and (d.protocol or "").lower() == "iscsi"]
    return found or [skipped(f"{ctx.domain.name} has no iSCSI network disk")]
