"""NFS, judged from the server's own export table and from the destination's probes:
nfs.export_allows_host, nfs.root_squash, nfs.server_reachable."""

from __future__ import annotations

from preflight.derive.nfs import groups_admit, nfs_use, showmount_view
from preflight.engine.registry import check, failed, passed, skipped, undecided, warned
from preflight.facts.qemu_conf import is_root_user
from preflight.model import Scope, Severity, Status

from ._common import LIBVIRT_DOMAIN_XML, unparsed
from ._nfs_server import nfs_disks_or_skip, storage_host

EXPORTS_MAN = "https://man7.org/linux/man-pages/man5/exports.5.html"
GANESHA_EXPORT = "https://github.com/nfs-ganesha/nfs-ganesha/blob/next/src/config_samples/export.txt"
QEMU_CONF = "https://libvirt.org/drvqemu.html"


def _rule_text(adm) -> str:
    r = adm.rule
    return f"{r.spec}({r.access}, squash={r.squash}) at {r.where}"


def _judge_access(disk, info, dst):
    exp, sh, use = info["export"], info["sh"], info["use"]
    ev = dict(info["ev"], expected=f"an export covering {use.path} that admits {dst.name} "
              + ("read-only or better" if disk.readonly else "read-write"))
    if exp is None:
        return failed(f"disk {disk.target}: {sh.name} exports nothing covering {use.path} ({use.via})",
                      observed=f"exports: {', '.join(e.path for e in sh.exports) or 'none'}", **ev)
    if exp.protocols and use.version and use.version.split(".")[0] not in exp.protocols:
        return failed(f"disk {disk.target}: export {exp.path} on {sh.name} serves NFS "
                      f"{'/'.join(exp.protocols)} only, but {dst.name} uses NFSv{use.version} ({use.via})",
                      observed=f"Protocols = {', '.join(exp.protocols)} ({exp.where})", **ev)
    adms = info["admissions"]
    seen = "; ".join(f"{a or 'no address'}: " + (_rule_text(x) + f" by {x.matched_by}" if x.rule else
                                                  x.undecided or "no rule") for a, x in adms)
    ev.update(observed=f"{exp.server} export {exp.path} ({exp.where}); client {dst.name} as "
              f"{', '.join(info['names'])} from {info['addr_how']}: {seen}")
    if any(x.undecided for _, x in adms):
        return undecided(f"disk {disk.target}: cannot tell whether export {exp.path} on {sh.name} admits "
                         f"{dst.name}: {next(x.undecided for _, x in adms if x.undecided)}", **ev)
    ok = [a for a, x in adms if x.rule and (x.writable or (disk.readonly and x.rule.access != "none"))]
    if len(ok) == len(adms):
        return passed(f"disk {disk.target}: export {exp.path} on {sh.name} admits {dst.name} "
                      f"{'read-write' if all(x.writable for _, x in adms) else 'read-only (disk is read-only)'}",
                      **ev)
    if ok:
        return undecided(f"disk {disk.target}: export {exp.path} on {sh.name} admits {dst.name} from "
                         f"{', '.join(ok)} only; which address it uses to reach {sh.name} is unknown", **ev)
    if any(x.rule for _, x in adms):
        return failed(f"disk {disk.target}: export {exp.path} on {sh.name} is read-only for {dst.name} "
                      f"({_rule_text(next(x for _, x in adms if x.rule))}): the guest cannot write", **ev)
    return failed(f"disk {disk.target}: export {exp.path} on {sh.name} does not admit {dst.name} "
                  f"(no client rule matches it): QEMU on {dst.name} cannot open {use.path}", **ev)


def _with_showmount(finding, disk, info, dst):
    """The server-side verdict, checked against what the server offers the destination when
    asked FROM it (`showmount -e`, pair phase): an export the server answers without -> FAIL."""
    from dataclasses import replace
    exp, use = info["export"], info["use"]
    kind, text, _ = showmount_view(dst, use, exp.path if exp is not None else None)
    if kind == "absent":
        text += ": verdict from the server-side export rules only"
    observed = f"{finding.observed}; {text}" if finding.observed else text
    source = f"{finding.source or ''}; {dst.name}: showmount -e {use.server} (pair phase)".lstrip("; ")
    if kind == "missing" and finding.status != Status.FAIL:
        return failed(f"disk {disk.target}: {use.server} does not offer export {exp.path} to {dst.name} when "
                      f"asked from it (`showmount -e`), although its export table "
                      + ("admits it" if finding.status == Status.PASS else "was read")
                      + ": the running server's exports differ from its configuration (not reloaded?) or it "
                      f"does not recognise {dst.name} as an admitted client", observed=observed, source=source,
                      expected=finding.expected, disk=finding.disk)
    return replace(finding, observed=observed, source=source)


def _client_side(disk, use, skip, dst):
    """A server outside the inventory: the destination's own `showmount -e` is the evidence."""
    from dataclasses import replace
    kind, text, listed = showmount_view(dst, use)
    ev = dict(disk=disk.target, observed=text,
              source=f"{dst.name}: showmount -e {use.server} (pair phase); /proc/self/mountinfo, domain XML",
              expected=f"{use.server} offers an export covering {use.path} to {dst.name}")
    if kind == "missing":
        return failed(f"disk {disk.target}: NFS server {use.server} answers `showmount -e` from {dst.name} but "
                      f"offers nothing covering {use.path}: QEMU on {dst.name} cannot open the disk "
                      f"({use.via})", **ev)
    v3 = bool(use.version) and use.version.startswith("3")
    if kind == "listed" and v3:
        from preflight.facts.exports import _within
        path, groups = next((p, g) for p, g in listed
                            if _within("/" + use.path.strip("/"), "/" + p.strip("/")))
        how = groups_admit(groups, dst)
        if how:
            return passed(f"disk {disk.target}: {use.server} offers {path} to {dst.name} ({how}; "
                          "nfs-ganesha lists only the exports the asking client may use). Read-write access "
                          f"and squashing are not visible from the client side: add {use.server} to "
                          "storage_hosts to check its export rules", **ev)
        return undecided(f"disk {disk.target}: {use.server} lists {path} for {', '.join(groups)} only; "
                         f"cannot tell whether {dst.name} is among them (add {use.server} to storage_hosts)",
                         **ev)
    view = (dst.nfs_showmount or {}).get(use.server.lower())
    if view is not None and view.status in ("error", "timeout") and v3:
        return undecided(f"disk {disk.target}: {use.server} is not in the inventory and gave {dst.name} no "
                         f"export list ({view.status}): NFSv3 clients need its MOUNT service; {text}", **ev)
    return replace(skip, message=f"{skip.message}; {text}", observed=skip.observed or text,
                   source=skip.source or ev["source"])


@check(
    id="nfs.export_allows_host", title="The NFS export of every NFS disk admits the destination read-write",
    category="nfs", severity=Severity.CRITICAL, scope=Scope.MIGRATION,
    requires=("domains", "mounts", "addresses"),
    verifies="Per disk on NFS at the destination (a file on an nfs/nfs4 mount, or a <disk type='network'> "
             "with protocol='nfs'): when the server is an inventory storage host, its export table "
             "(exportfs -v, else /etc/exports and exports.d; or the running nfs-ganesha's config) has "
             "an export covering the path, serving the NFS version used, whose client rules admit the "
             "destination (by its address toward the server, hostname, FQDN; CIDR, wildcard; knfsd "
             "precedence or ganesha's first matching CLIENT block) read-write (read-only suffices for "
             "a read-only disk). Then the destination's own view: `showmount -e SERVER` run FROM it in the "
             "pair phase's probe exec (nfs-ganesha lists only the exports the asking client may use): for "
             "an NFSv3 use (QEMU's own NFS client, vers=3 mounts; the MOUNT protocol is NFSv3's) a "
             "server that answers without an export covering the path is FAIL even when the export "
             "table admits it; for NFSv4 the list is evidence only; showmount not installed leaves the "
             "verdict to the export rules (said in the evidence). Servers not in the inventory are "
             "judged from that client-side list only, for NFSv3 uses: not offered FAIL, offered to "
             "everyone or to the destination by name/network PASS (read-write and squashing unseen), "
             "offered to other clients only ERROR, no export list ERROR; NFSv4 uses, showmount absent "
             "or not gathered SKIP (client side only).",
    rationale="The destination QEMU opens the guest's disks itself. An export that does not list the "
              "destination makes the incoming guest fail to start ('access denied by server'); a "
              "read-only export lets it start and then fail every write. A mount that works today may "
              "have been made before the export table changed.",
    remediation="Add the destination to the export with read-write access: knfsd `/vol0 "
                "10.0.0.0/24(rw,sync,no_subtree_check)` in /etc/exports then `exportfs -ra`; "
                "nfs-ganesha: a `CLIENT { Clients = 10.0.0.0/24; Access_Type = RW; }` block (or "
                "Access_Type = RW on the EXPORT) and `Protocols = 3, 4;`, then reload ganesha. Confirm from "
                "the destination: `showmount -e SERVER` must list the export.",
    references=(EXPORTS_MAN, GANESHA_EXPORT, LIBVIRT_DOMAIN_XML + "#hard-drives-floppy-disks-cdroms"),
)
def export_allows_host(ctx):
    dst = ctx.destination
    return unparsed(ctx.domain, ctx.source) or nfs_disks_or_skip(
        ctx.domain, dst, ctx.cluster, lambda d, info: _with_showmount(_judge_access(d, info, dst), d, info, dst),
        client_side=lambda d, use, skip: _client_side(d, use, skip, dst))


def _judge_squash(disk, info, dst):
    exp, sh = info["export"], info["sh"]
    adm = next((x for _, x in info["admissions"] if x.rule), None)
    if exp is None or adm is None:
        return undecided(f"disk {disk.target}: no export rule admits {dst.name} (see nfs.export_allows_host)",
                         **info["ev"])
    rule, user = adm.rule, dst.qemu_user
    ev = dict(info["ev"], observed=f"{_rule_text(adm)}, anonuid={rule.anonuid}; QEMU on {dst.name} runs as "
              f"{user}:{dst.qemu_group} ({dst.qemu_user_from}), dynamic_ownership="
              f"{'1' if dst.dynamic_ownership else '0'}", expected="QEMU's uid not squashed, or images owned "
              "by the squashed uid")
    if not user:
        return undecided(f"disk {disk.target}: the user QEMU runs as on {dst.name} is unknown", **ev)
    if rule.squash == "all":
        return warned(f"disk {disk.target}: export {exp.path} on {sh.name} squashes ALL users to uid "
                      f"{rule.anonuid}: QEMU ({user}) works only if the images are owned by (or writable "
                      f"for) uid {rule.anonuid}; libvirt cannot chown them there", **ev)
    if rule.squash in ("root", "root_id") and is_root_user(user) and str(rule.anonuid) != "0":
        # Measured in the lab (ganesha Squash = Root_Squash, QEMU as root, image root:root 0644):
        # the incoming QEMU's NFS open is refused ("NFS: ACCESS denied. Required access rw-.
        # Allowed access r--") and the migration fails. Image ownership on the server is not
        # gathered, so the one case where it works (owned by the anonymous uid or world-writable)
        # cannot be confirmed: FAIL, saying how to make it pass.
        return failed(f"disk {disk.target}: QEMU runs as root on {dst.name} and export {exp.path} on "
                      f"{sh.name} squashes root to uid {rule.anonuid}: the destination QEMU's read-write "
                      f"open of the image is denied (NFS ACCESS: rw- required, r-- allowed) unless the "
                      f"image is owned by uid {rule.anonuid} or world-writable, which preflight cannot "
                      "see on the server", **ev)
    if rule.squash in ("root", "root_id"):
        return passed(f"disk {disk.target}: QEMU runs as {user} (not squashed); the images must be owned by "
                      f"{user}'s uid, the same uid on every hypervisor"
                      + ("; libvirt (root, squashed) cannot chown them on this export" if dst.dynamic_ownership
                         else ""), **ev)
    return passed(f"disk {disk.target}: export {exp.path} on {sh.name} does not squash root "
                  f"(no_root_squash): QEMU as {user} keeps its uid", **ev)


@check(
    id="nfs.root_squash", title="NFS squashing lets QEMU on the destination use the guest's images",
    category="nfs", severity=Severity.HIGH, scope=Scope.MIGRATION,
    requires=("domains", "mounts", "addresses", "qemu_user"),
    verifies="Per NFS disk on an inventory storage host: the export rule admitting the destination "
             "(see nfs.export_allows_host) against the user QEMU runs as there (qemu.conf `user`, else "
             "the package's commented default). FAIL when QEMU runs as root and root is squashed "
             "(root_squash, the knfsd and ganesha default) to a non-zero anonymous uid; WARN when all "
             "users are squashed (all_squash, Squash = All); PASS for a non-root QEMU user or "
             "no_root_squash.",
    rationale="A squashed uid is mapped to the anonymous uid (65534 unless anonuid is set) on the "
              "server: QEMU then opens the image as nobody and gets 'Permission denied' on the "
              "destination unless the file is owned by that uid or world-writable, and libvirt's "
              "dynamic_ownership chown fails there. A guest already running on the source says "
              "nothing: its QEMU opened the image before the export changed, and a real migration "
              "to a root-squashing export fails ('NFS: ACCESS denied. Required access rw-').",
    remediation="Run QEMU as a dedicated user with the same uid on all hypervisors (qemu.conf `user = "
                "\"libvirt-qemu\"`, the Debian default) and own the images by it; or set `anonuid`/`anongid` "
                "(knfsd) / `Anonymous_Uid` (ganesha) to that uid; or, on a dedicated storage network only, "
                "`no_root_squash` / `Squash = No_Root_Squash`.",
    references=(EXPORTS_MAN, GANESHA_EXPORT, QEMU_CONF),
)
def root_squash(ctx):
    return unparsed(ctx.domain, ctx.source) or nfs_disks_or_skip(
        ctx.domain, ctx.destination, ctx.cluster, lambda d, info: _judge_squash(d, info, ctx.destination))


def _judge_ports(disk, dst, cluster):
    use = nfs_use(disk, dst)
    if use is None:
        return None
    sh, problem = storage_host(cluster, use)
    if problem is not None:
        return problem
    rows = [r for r in (dst.nfs_probes or ()) if r[0] == sh.name]
    v3 = use.version is None or use.version.startswith("3")
    need = ("nfs", "rpcbind", "mountd") if v3 else ("nfs",)
    ev = dict(disk=disk.target, source=f"{dst.name}: TCP connect probes (pair phase); {sh.name}: rpcinfo -p",
              observed="; ".join(f"{purpose} {target}:{port} {outcome}" for _, port, purpose, target, outcome, _ in rows)
              or "no probe", expected=f"{', '.join(need)} answer from {dst.name} ({use.via}, NFSv{use.version or '?'})")
    if dst.nfs_probes is None or not rows:
        return undecided(f"disk {disk.target}: the NFS ports of {sh.name} were not probed from {dst.name} "
                         "(pair phase not run, or a recording made before NFS probes existed)", **ev)
    skipped_rows = [r for r in rows if r[2] in need and r[4] == "not_probed"]   # the probe policy (W8)
    if skipped_rows:
        return undecided(f"disk {disk.target}: " + "; ".join(
            f"{purpose} port {port} on {target}: {detail}" for _, port, purpose, target, _, detail in skipped_rows),
            **ev)
    bad = [r for r in rows if r[2] in need and r[4] != "answered"]
    if bad:
        return failed(f"disk {disk.target}: from {dst.name}, " + "; ".join(
            f"{purpose} port {port} on {target}: {outcome}" + (f" ({detail})" if detail else "")
            for _, port, purpose, target, outcome, detail in bad), **ev)
    missing = [p for p in need if p not in {r[2] for r in rows}]
    if missing:
        return undecided(f"disk {disk.target}: {', '.join(missing)} of {sh.name} not probed ({sh.name}'s "
                         "rpcinfo -p did not list mountd?)", **ev)
    return passed(f"disk {disk.target}: {dst.name} reaches {sh.name}'s {', '.join(need)} ports", **ev)


@check(
    id="nfs.server_reachable", title="The destination reaches the NFS server's ports",
    category="nfs", severity=Severity.CRITICAL, scope=Scope.MIGRATION, requires=("domains", "mounts"),
    verifies="Per NFS disk whose server is an inventory storage host: a TCP connect made FROM the "
             "destination (in the pair phase's single probe exec) to the server's NFS port 2049 is "
             "answered, and for NFSv3 (QEMU's own NFS client, vers=3 mounts) also rpcbind 111 and "
             "mountd's TCP port as the server's `rpcinfo -p` lists it. A port that was not probed "
             "because the name leads to none of the server's own addresses (the probe policy): ERROR.",
    rationale="QEMU on the destination opens NFS network disks itself when the incoming guest starts; "
              "a firewall between the destination and the NFS server makes that fail (or hang until "
              "timeouts) after the source has started sending memory. NFSv3 also needs rpcbind and "
              "mountd to resolve the export.",
    remediation="Allow TCP 2049 (and for NFSv3 TCP/UDP 111 and a fixed mountd port, e.g. "
                "`mountd_port`/`MNT_Port` in ganesha's NFS_CORE_PARAM or `rpc.mountd --port`) from "
                "every hypervisor on the NFS server and any firewall between them.",
    references=("https://man7.org/linux/man-pages/man5/nfs.5.html", GANESHA_EXPORT,
                "https://man7.org/linux/man-pages/man8/rpcinfo.8.html"),
)
def server_reachable(ctx):
    problem = unparsed(ctx.domain, ctx.source)
    if problem:
        return problem
    found = [f for f in (_judge_ports(d, ctx.destination, ctx.cluster) for d in ctx.domain.disks
                         if not d.empty) if f is not None]
    return found or [skipped(f"no disk of {ctx.domain.name} is on NFS on {ctx.destination.name}")]
