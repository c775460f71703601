"""The destination's packet filters read for TCP from one source to the ports a migration needs,
and the port capacity of the migration range.

Ports (libvirt 9.x, src/qemu/qemu_migration.c):
- the libvirt connection: 22 for qemu+ssh, 16509 for qemu+tcp, 16514 for qemu+tls;
- the migration stream: the lowest free port of qemu.conf's migration_port_min..max (default
  49152-49215, virPortAllocatorAcquire in qemuMigrationDstPrepareDirect): with N migrations
  arriving at once, the first N free ports;
- disk copies (--copy-storage-*): qemuMigrationDstStartNBDServer takes ONE more port from the
  same range per incoming migration (not per disk), unless --disks-port / --disks-uri name one
  (NBD's registered 10809 is used only when asked for).
So a rule that blocks only the upper part of the range passes a single migration and fails the
next concurrent one (lab firewall_one_source: hv3 -> hv2 migrates on 49152, the rest rejected).
"""

from __future__ import annotations

from typing import Optional

from preflight.compat.finding import Finding, failed, passed, undecided, warned
from preflight.compat.packet import ACCEPT, UNDECIDED, HostFilters, Packet, Verdict, evaluate_host

CONTROL_PORTS = {"ssh": 22, "tcp": 16509, "tls": 16514}


def _ranges(ports) -> str:
    ports = sorted(ports)
    out, start, prev = [], None, None
    for p in ports:
        if start is None:
            start = prev = p
        elif p == prev + 1:
            prev = p
        else:
            out.append(f"{start}-{prev}" if start != prev else str(start))
            start = prev = p
    if start is not None:
        out.append(f"{start}-{prev}" if start != prev else str(start))
    return ", ".join(out)


def _verdict_text(v: Verdict) -> str:
    if v.outcome == UNDECIDED:
        return "; ".join(v.reasons[:3])
    return f"{v.outcome} by {v.rule}"


def judge_control_port(
    src_name: str,
    src_addr: str,
    dst_name: str,
    dst_addr: Optional[str],
    filters: HostFilters,
    transport: str = "ssh",
    port: Optional[int] = None,
) -> Finding:
    port = port or CONTROL_PORTS.get(transport)
    if port is None:
        return undecided(f"libvirt transport {transport} has no known port")
    v = evaluate_host(filters, Packet(saddr=src_addr, dport=port, daddr=dst_addr))
    exp = f"TCP {src_addr} -> {dst_name}:{port} accepted"
    if v.denied:
        return failed(
            f"{dst_name}'s firewall {v.outcome}s libvirt's {transport} connection from {src_name} "
            f"({src_addr}) to port {port}: {v.rule}",
            observed=_verdict_text(v),
            expected=exp,
            port=port,
            rule=v.rule,
            filter=v.source,
        )
    if v.outcome == UNDECIDED:
        return undecided(
            f"cannot tell whether {dst_name}'s firewall lets {src_name} reach port {port}: "
            f"{_verdict_text(v)}",
            observed=_verdict_text(v),
            expected=exp,
            port=port,
        )
    return passed(
        f"{dst_name}'s firewall accepts {src_name} on port {port} ({v.rule})",
        observed=_verdict_text(v),
        expected=exp,
        port=port,
    )


def judge_migration_ports(
    src_name: str,
    src_addr: str,
    dst_name: str,
    dst_addr: Optional[str],
    filters: HostFilters,
    port_range: tuple,
    needed: int = 1,
) -> Finding:
    """Every port of the range from `src_addr`. `needed`: ports the concurrent migrations into
    this destination take (see port_capacity); libvirt uses the lowest free ones."""
    lo, hi = port_range
    verdicts = {
        p: evaluate_host(filters, Packet(saddr=src_addr, dport=p, daddr=dst_addr)) for p in range(lo, hi + 1)
    }
    denied = [p for p, v in verdicts.items() if v.denied]
    unknown = [p for p, v in verdicts.items() if v.outcome == UNDECIDED]
    exp = f"TCP {src_addr} -> {dst_name}:{lo}-{hi} accepted (the first {needed} at least)"
    rules = sorted({verdicts[p].rule for p in denied if verdicts[p].rule})
    details = dict(
        blocked=_ranges(denied),
        undecided=_ranges(unknown),
        rules=rules,
        filter=", ".join(sorted({v.source for v in verdicts.values() if v.source})),
    )
    leading = 0
    for p in range(lo, hi + 1):
        if verdicts[p].outcome != ACCEPT:
            break
        leading += 1
    if denied and leading < needed:
        return failed(
            f"{dst_name}'s firewall blocks migration ports {_ranges(denied)} from {src_name} ({src_addr})"
            + (f"; only {leading} open port(s) from {lo} for {needed} needed" if leading else "")
            + f": {rules[0] if rules else 'policy'}",
            observed=f"blocked {_ranges(denied)}",
            expected=exp,
            **details,
        )
    if unknown and leading < needed:
        first = verdicts[unknown[0]]
        return undecided(
            f"cannot tell whether {dst_name}'s firewall lets {src_name} reach migration ports "
            f"{_ranges(unknown)}: {_verdict_text(first)}",
            observed=f"undecided {_ranges(unknown)}",
            expected=exp,
            **details,
        )
    if denied or unknown:
        what = (
            (f"blocks {_ranges(denied)}" if denied else "")
            + (" and " if denied and unknown else "")
            + (f"may block {_ranges(unknown)}" if unknown else "")
        )
        return warned(
            f"{dst_name}'s firewall {what} from {src_name}: the first {leading} port(s) from {lo} are "
            f"open, enough for {needed} migration stream(s) at a time; a further concurrent migration "
            f"or a port left in use moves to a blocked one",
            observed=what,
            expected=exp,
            **details,
        )
    return passed(
        f"{dst_name}'s firewall accepts {src_name} on migration ports {lo}-{hi}",
        observed=f"accepted {lo}-{hi}",
        expected=exp,
        **details,
    )


def ports_needed(concurrent: int, copies_disks: bool) -> int:
    """Ports of the migration range that `concurrent` migrations arriving at once take: one for
    the stream, plus one NBD server port each when they copy disks (one server per migration)."""
    return concurrent * (1 + (1 if copies_disks else 0))


def judge_port_capacity(
    dst_name: str, port_range: tuple, concurrent: int, copied_disks: int, ports_in_use=()
) -> Finding:
    """concurrent migrations x (1 + an NBD port if any disk is copied) fit the range, less the
    ports something already listens on. (The issue's "1 + copied disks" would over-count: libvirt
    starts one NBD server per migration for all its disks.)"""
    lo, hi = port_range
    size = hi - lo + 1
    busy = sorted(p for p in set(ports_in_use) if lo <= p <= hi)
    need = ports_needed(concurrent, copied_disks > 0)
    free = size - len(busy)
    obs = f"{free} free of {lo}-{hi}" + (f" (in use: {_ranges(busy)})" if busy else "")
    exp = f">= {need} ports ({concurrent} migration(s) x {1 + (1 if copied_disks else 0)})"
    if need > free:
        return failed(
            f"{dst_name}'s migration port range {lo}-{hi} has {free} free port(s); {concurrent} concurrent "
            f"migration(s) need {need}: libvirt fails the next one ('Unable to find an unused port')",
            observed=obs,
            expected=exp,
            needed=need,
            free=free,
        )
    if busy:
        return warned(
            f"{len(busy)} port(s) of {dst_name}'s migration range are in use ({_ranges(busy)}); "
            f"{free} remain for {need} needed",
            observed=obs,
            expected=exp,
            needed=need,
            free=free,
        )
    return passed(
        f"{dst_name}'s migration range {lo}-{hi} fits {concurrent} concurrent migration(s) ({need} ports)",
        observed=obs,
        expected=exp,
        needed=need,
        free=free,
    )
