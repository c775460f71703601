"""Shared by the NFS checks: the storage host serving a disk's export, or the SKIP/ERROR that says
why the server side cannot be judged; the per-NFS-disk loop. Not a check module (discovery skips
_names). The NFS facts they rest on are derived in preflight.derive.nfs.
"""

from __future__ import annotations

from preflight.derive.nfs import NfsUse, client_addresses, client_names, nfs_use, parse_ip, storage_host_ids
from preflight.engine.registry import skipped, undecided
from preflight.facts.exports import admit, covering_export

from ._common import where


def storage_host(cluster, use: NfsUse):
    """(StorageHostFacts, None) for the inventory storage host serving `use`, or (None, Finding)
    when it cannot be judged from the server side."""
    server = use.server.lower().rstrip(".")
    keys = {server, server.split(".")[0] if not parse_ip(server) else server}
    if use.server_addr:
        keys.add(use.server_addr.lower())
    declared = {n.lower() for n in cluster.storage_hosts}
    if cluster.storage is None:
        if keys & declared:
            return None, undecided(f"{use.server} is an inventory storage host but its exports were not "
                                   "gathered (recording made before storage hosts were contacted)",
                                   observed="no storage_hosts_facts in the record",
                                   expected="the storage host's export table")
        return None, skipped(f"NFS server {use.server} is not in the inventory (or was not gathered): "
                             "judged from the client side only (storage.shared)")
    for sh in cluster.storage.values():
        if keys & storage_host_ids(sh):
            return sh, None
    return None, skipped(f"NFS server {use.server} is not in the inventory: judged from the client side "
                         "only (storage.shared); add it to storage_hosts to check its exports")


def resolve(disk, host, cluster):
    """For one disk as `host` would open it: (info dict, None) or (None, Finding).

    info: use, sh (StorageHostFacts), export, server_path, admissions [(address, Admission)],
    addr_how, names, ev (evidence kwargs)."""
    use = nfs_use(disk, host)
    if use is None:
        return None, None
    sh, problem = storage_host(cluster, use)
    ev = dict(disk=disk.target, source=where(host, "/proc/self/mountinfo, domain XML")
              + f"; {use.server}: export table")
    if problem is not None:
        return None, _with(problem, ev, observed=use.via)
    if not sh.reachable:
        return None, undecided(f"disk {disk.target}: storage host {sh.name} was not reached: {sh.error}",
                               observed=use.via, **ev)
    if "exports" in sh.fact_errors:
        return None, undecided(f"disk {disk.target}: the export table of {sh.name} is unknown: "
                               f"{sh.fact_errors['exports']}", observed=use.via, **ev)
    ev["source"] = where(host, "/proc/self/mountinfo, domain XML") + f"; {sh.name}: " + \
        ", ".join(sh.exports_from)
    export, server_path = covering_export(sh.exports, use.path, use.version)
    names = client_names(host)
    addresses, how = client_addresses(host, sh, use)
    admissions = [(a, admit(export, names, a)) for a in (addresses or (None,))] if export else []
    return dict(use=use, sh=sh, export=export, server_path=server_path, admissions=admissions,
                addr_how=how, names=names, ev=ev), None


def _with(finding, ev, **more):
    from dataclasses import replace
    kw = {k: v for k, v in {**ev, **more}.items() if getattr(finding, k, None) in (None, {}, ())}
    return replace(finding, **kw)


def nfs_disks_or_skip(domain, host, cluster, judge, client_side=None):
    """Run `judge(disk, info)` for every NFS disk of `domain` as `host` opens it.
    `client_side(disk, use, skip_finding)`: the verdict for a server that is not an inventory
    storage host (where the server side cannot be judged), else that SKIP stands."""
    from preflight.model import Status
    findings = []
    for disk in domain.disks:
        if disk.empty:
            continue
        info, problem = resolve(disk, host, cluster)
        if problem is not None and client_side is not None and problem.status == Status.SKIP:
            findings.append(client_side(disk, nfs_use(disk, host), problem))
        elif problem is not None:
            findings.append(problem)
        elif info is not None:
            findings.append(judge(disk, info))
    if not findings:
        return [skipped(f"no disk of {domain.name} is on NFS on {host.name}")]
    return findings
