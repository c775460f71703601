"""Room on the destination for the guest: memory, huge pages, vCPUs, NUMA pinning.

Rationale a check must state: libvirt does not check free memory before a migration, and QEMU
allocates guest RAM lazily (ordinary pages are faulted in as the incoming pages arrive), so a
destination short of memory accepts the migration and the kernel's OOM killer ends the guest (or
another one) later. Huge pages are different: QEMU maps the whole guest RAM from hugetlbfs at
start, so a destination without enough free huge pages of the guest's size makes the incoming
QEMU fail at once. NUMA pinning naming nodes or CPUs the destination lacks fails when libvirt
starts the incoming QEMU (numatune nodesets are checked against the host's nodes).
"""

from __future__ import annotations

from typing import Optional

from preflight.compat.finding import Finding, failed, passed, undecided, warned
from preflight.facts.guest_needs import GuestNeeds
from preflight.facts.hugepages import pool
from preflight.facts.meminfo import MemInfo
from preflight.facts.numa import NumaTopology

OVERHEAD_KIB = 256 * 1024  # QEMU's own memory beyond guest RAM (device state, buffers)
MARGIN = 0.10  # warn when less than this much would be left afterwards


def _mib(kib) -> str:
    return f"{kib / 1024:.0f} MiB" if kib is not None else "?"


def judge_memory(
    guest: GuestNeeds, dst_name: str, mem: Optional[MemInfo], hugepage_pools=None, incoming_kib: int = 0
) -> Finding:
    """`incoming_kib`: memory of other guests planned to land on the same destination first."""
    if guest.hugepages:
        return judge_hugepages(guest, dst_name, hugepage_pools, mem)
    need = guest.memory_kib
    if need is None:
        return undecided(f"{guest.name}'s memory size is unknown")
    if mem is None or mem.available_kib is None:
        return undecided(
            f"{dst_name}'s available memory (MemAvailable) is unknown", expected=f">= {_mib(need)}"
        )
    avail = mem.available_kib - incoming_kib
    want = need + OVERHEAD_KIB
    obs = f"MemAvailable {_mib(mem.available_kib)}" + (
        f" less {_mib(incoming_kib)} planned" if incoming_kib else ""
    )
    exp = f">= {_mib(want)} ({_mib(need)} guest + {_mib(OVERHEAD_KIB)} QEMU)"
    if avail < want:
        # a warning: the migration itself is accepted and may even complete (see the module docstring)
        return warned(
            f"{dst_name} has {_mib(avail)} available for {guest.name}'s {_mib(need)}: libvirt does not "
            "check and QEMU allocates lazily, so the migration is accepted and the OOM killer ends a guest "
            "later",
            observed=obs,
            expected=exp,
            short=True,   # does not fit at all (a drain plan places nothing there), not just a thin margin
        )
    if mem.total_kib and avail - want < MARGIN * mem.total_kib:
        return warned(
            f"{dst_name} would have {_mib(avail - want)} left after {guest.name} "
            f"({_mib(need)}), under {MARGIN:.0%} of its memory",
            observed=obs,
            expected=exp,
        )
    return passed(
        f"{dst_name} has {_mib(avail)} available for {guest.name}'s {_mib(need)}", observed=obs, expected=exp
    )


def judge_hugepages(guest: GuestNeeds, dst_name: str, pools, mem: Optional[MemInfo] = None) -> Finding:
    need_kib = guest.memory_kib
    if need_kib is None:
        return undecided(f"{guest.name}'s memory size is unknown")
    if pools is None:
        return undecided(f"{dst_name}'s huge page pools were not read")
    out = []
    for hp in guest.hugepages:
        size = hp.size_kib or (mem.hugepage_size_kib if mem else None)
        if size is None:
            return undecided(f"{guest.name} uses the default huge page size, and {dst_name}'s is unknown")
        p = pool(pools, size)
        pages = -(-need_kib // size)  # guest RAM rounded up to whole pages
        if p is None:
            return failed(
                f"{dst_name} has no {size} kB huge page pool; {guest.name} needs {pages} such pages",
                observed="no pool",
                expected=f"{pages} free {size} kB pages",
            )
        avail = p.available
        if avail is None:
            return undecided(f"{dst_name}'s free {size} kB huge pages are unknown")
        obs = f"{avail} of {p.nr} {size} kB pages free (reserved {p.reserved or 0})"
        if avail < pages:
            return failed(
                f"{dst_name} has {avail} free {size} kB huge pages, {guest.name} needs {pages}: QEMU maps "
                "guest RAM from hugetlbfs at start, so the incoming QEMU fails",
                observed=obs,
                expected=f">= {pages}",
            )
        out.append(obs)
    return passed(f"{dst_name} has enough free huge pages for {guest.name}", observed="; ".join(out))


def judge_vcpus(
    guest: GuestNeeds, dst_name: str, host_cpus: Optional[int], vcpu_max: Optional[int]
) -> Finding:
    """vcpu_max: the destination's domain capabilities <vcpu max> for the guest's machine type."""
    n = guest.vcpus
    if n is None:
        return undecided(f"{guest.name}'s vCPU count is unknown")
    if vcpu_max is not None and n > vcpu_max:
        return failed(
            f"{guest.name} has {n} vCPUs, more than {dst_name}'s QEMU allows for {guest.machine} "
            f"({vcpu_max})",
            observed=n,
            expected=f"<= {vcpu_max}",
        )
    if host_cpus is None:
        return undecided(f"{dst_name}'s CPU count is unknown", observed=n)
    if n > host_cpus:
        return warned(
            f"{guest.name} has {n} vCPUs, {dst_name} has {host_cpus} CPUs: it runs overcommitted there",
            observed=n,
            expected=f"<= {host_cpus}",
        )
    return passed(
        f"{guest.name}'s {n} vCPUs fit {dst_name}'s {host_cpus} CPUs", observed=n, expected=f"<= {host_cpus}"
    )


def judge_numa(guest: GuestNeeds, dst_name: str, topo: Optional[NumaTopology]) -> Finding:
    pins = [cs for _, cs in guest.vcpupins if cs is not None]
    if guest.emulatorpin:
        pins.append(guest.emulatorpin)
    if guest.cpuset:
        pins.append(guest.cpuset)
    nodesets = [guest.numatune_nodeset] if guest.numatune_nodeset else []
    nodesets += [ns for _, _, ns in guest.memnodes if ns]
    if not pins and not nodesets and not guest.hugepages:
        return passed(f"{guest.name} pins no CPUs or NUMA nodes")
    if topo is None:
        return undecided(f"{dst_name}'s NUMA topology is unknown; {guest.name} pins CPUs/nodes")
    cpus, nodes = topo.cpus, topo.node_ids
    missing_cpus = sorted(set().union(*pins) - cpus) if pins else []
    missing_nodes = sorted(set().union(*nodesets) - nodes) if nodesets else []
    obs = f"{dst_name}: nodes {sorted(nodes)}, CPUs {len(cpus)}"
    if missing_nodes:
        return failed(
            f"{guest.name}'s numatune names NUMA node(s) {missing_nodes} that {dst_name} does not have "
            "(libvirt: 'NUMA node N is unavailable')",
            observed=obs,
            expected=f"nodes {sorted(set().union(*nodesets))}",
        )
    if missing_cpus:
        return failed(
            f"{guest.name} is pinned to CPU(s) {missing_cpus} that {dst_name} does not have",
            observed=obs,
            expected=f"CPUs {sorted(set().union(*pins))}",
        )
    if guest.numatune_mode == "strict" and guest.numatune_nodeset and guest.memory_kib:
        free = [topo.node(n).free_kib for n in guest.numatune_nodeset if topo.node(n)]
        if free and all(f is not None for f in free) and sum(free) < guest.memory_kib:
            return failed(
                f"{guest.name} binds its {_mib(guest.memory_kib)} strictly to node(s) "
                f"{sorted(guest.numatune_nodeset)} of {dst_name}, which have {_mib(sum(free))} free",
                observed=obs,
                expected=f">= {_mib(guest.memory_kib)} free there",
            )
    return passed(f"{dst_name} has the CPUs and NUMA nodes {guest.name} is pinned to", observed=obs)
