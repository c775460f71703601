"""Host identity across a cluster, and the name a source uses to reach a destination.

The migration name rule, as libvirt 9.x decides it (src/qemu/qemu_migration.c,
qemuMigrationDstPrepareDirect; src/util/virutil.c, virGetHostname; src/rpc/virnetsocket.c,
virNetSocketNewConnectTCP) and as the lab confirmed with real migrations:

1. Unless the caller gave a migration URI, the DESTINATION picks the host of the URI it hands
   back: qemu.conf `migration_host` if set, else virGetHostname(): gethostname() as-is when it
   contains a dot or starts with "localhost"; otherwise getaddrinfo(AI_CANONNAME) of it on the
   destination, whose canonical name is used unless it is missing or starts with "localhost"
   (then the short name is kept). virConnectGetHostname() runs the same function in the same
   daemon, so it tells preflight exactly this name (unless migration_host is set).
2. The destination refuses a result starting with "localhost": "hostname on destination resolved
   to localhost, but migration requires an FQDN".
3. The SOURCE libvirtd resolves that name with its own resolver and connects to each address in
   turn (virNetSocketNewConnectTCP), the first that answers wins.

Hence an /etc/hosts alias of the destination's own name on a loopback line is harmless when that
line's first name starts with "localhost" ("127.0.0.1 localhost hv2": canonical name discarded,
short name kept; lab hosts_alias_localhost migrates), and it is a failure when its first name is
something else that the sources cannot resolve to the destination ("127.0.1.1 hv2.lab.example
hv2", Debian's installer layout: libvirt hands back hv2.lab.example; lab hosts_alias_fqdn: "Unable
to resolve address 'hv2.lab.example' service '49152'"), or that a source resolves to loopback
only (lab migration_name_loopback: "unable to connect to server at 'hv2.lab.example:49152':
Connection refused" — the source's own loopback). A loopback address listed BEFORE a real one is
survivable (the next address is tried) but connects to the source itself first.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from typing import Optional

from preflight.compat.finding import Finding, failed, passed, undecided, warned
from preflight.facts.resolve import Resolution

LOCALHOST_REFUSAL = "hostname on destination resolved to localhost, but migration requires an FQDN"


def duplicates(values: dict) -> dict:
    """{host: value} -> {value: [hosts]} for values more than one host has (None ignored)."""
    seen = defaultdict(list)
    for host, value in values.items():
        if value:
            seen[str(value).strip().lower()].append(host)
    return {v: sorted(h) for v, h in seen.items() if len(h) > 1}


def judge_unique(kind: str, values: dict, severity_fail: bool, why: str) -> list:
    """One finding per host: its `kind` (libvirt host UUID, machine-id, SMBIOS UUID) is unique in
    the cluster. Unknown values are ERROR for that host only."""
    dup = duplicates(values)
    out = []
    for host, value in sorted(values.items()):
        if not value:
            out.append(
                undecided(f"{host}'s {kind} is unknown", expected=f"a {kind} no other host has", host=host)
            )
            continue
        others = [h for h in dup.get(str(value).strip().lower(), []) if h != host]
        if others:
            f = failed if severity_fail else warned
            out.append(
                f(
                    f"{host} shares {kind} {value} with {', '.join(others)}: {why}",
                    observed=value,
                    expected=f"a {kind} no other host has",
                    host=host,
                    shared_with=others,
                )
            )
        else:
            out.append(passed(f"{host}'s {kind} is unique", observed=value, host=host))
    return out


def judge_identity(host_uuids: dict, machine_ids: dict, smbios_uuids: dict) -> list:
    return (
        judge_unique(
            "libvirt host UUID",
            host_uuids,
            True,
            "libvirt refuses ('Attempt to migrate guest to the same host'); set host_uuid in libvirtd.conf",
        )
        + judge_unique(
            "machine-id", machine_ids, False, "cloned hosts: systemd, DHCP and logging confuse them"
        )
        + judge_unique(
            "SMBIOS UUID",
            smbios_uuids,
            False,
            "libvirt derives its host UUID from it unless host_uuid is set",
        )
    )


def judge_hostname(
    dst_name: str, libvirt_hostname: Optional[str], migration_host: Optional[str] = None
) -> Finding:
    """The name the destination will hand back (rule 1) must not start with localhost (rule 2)."""
    name = migration_host or libvirt_hostname
    src = "qemu.conf migration_host" if migration_host else "virConnectGetHostname"
    if not name:
        return undecided(
            f"{dst_name}'s migration host name is unknown", expected="a name other than localhost*"
        )
    if name.startswith("localhost"):
        return failed(
            f"{dst_name} would hand back '{name}' ({src}): libvirt refuses ('{LOCALHOST_REFUSAL}')",
            observed=name,
            expected="a name other than localhost*",
            source=src,
        )
    return passed(f"{dst_name} hands back '{name}' ({src})", observed=name, source=src)


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
        return True
    except ValueError:
        return False


def judge_name_resolution(
    src_name: str,
    dst_name: str,
    name: Optional[str],
    resolution: Optional[Resolution],
    dst_addresses: Optional[set],
    what: str = "migration URI host",
) -> Finding:
    """`name` as the source will use it (the migration URI host of rule 1, or the libvirt URI
    host), `resolution` its `getent ahosts` answer ON THE SOURCE, `dst_addresses` the addresses
    configured on the destination (ip -j addr). Rule 3."""
    expected = f"{name} resolves on {src_name} to an address of {dst_name} that is not loopback"
    if not name:
        return undecided(f"the {what} {src_name} would use for {dst_name} is unknown", expected=expected)
    if _is_ip(name):
        addrs = (name.strip("[]"),)
        res = Resolution(name=name, addresses=addrs)
    elif resolution is None:
        return undecided(f"how {src_name} resolves {name} was not gathered", expected=expected)
    else:
        res = resolution
    if not res.found or not res.addresses:
        return failed(
            f"{src_name} cannot resolve {name} (the {what} for {dst_name}): libvirt fails with "
            f"'Unable to resolve address '{name}' ...'",
            observed="not resolvable",
            expected=expected,
        )
    real = res.non_loopback
    if not real:
        return failed(
            f"{src_name} resolves {name} (the {what} for {dst_name}) to loopback only "
            f"({', '.join(res.addresses)}): the migration connects to {src_name} itself",
            observed=", ".join(res.addresses),
            expected=expected,
        )
    if dst_addresses is None:
        return undecided(
            f"{src_name} resolves {name} to {', '.join(real)}, but {dst_name}'s own addresses are unknown",
            observed=", ".join(res.addresses),
            expected=expected,
        )
    ours = [a for a in real if a in dst_addresses]
    if not ours:
        return failed(
            f"{src_name} resolves {name} to {', '.join(real)}, none of which is an address of {dst_name}",
            observed=", ".join(res.addresses),
            expected=expected,
        )
    if res.loopback and res.addresses.index(res.loopback[0]) < res.addresses.index(ours[0]):
        return warned(
            f"{src_name} resolves {name} to {', '.join(res.addresses)}: libvirt tries the loopback "
            f"address first (a listener on {src_name} itself would take the migration), then "
            f"{ours[0]}",
            observed=", ".join(res.addresses),
            expected=expected,
        )
    if [a for a in real if a not in dst_addresses] and real[0] not in dst_addresses:
        return warned(
            f"{src_name} resolves {name} first to {real[0]}, not an address of {dst_name}; "
            f"{ours[0]} comes later",
            observed=", ".join(res.addresses),
            expected=expected,
        )
    return passed(
        f"{src_name} resolves {name} to {ours[0]}, an address of {dst_name}",
        observed=", ".join(res.addresses),
        expected=expected,
    )
