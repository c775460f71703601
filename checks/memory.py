"""memory.capacity: room on the destination for the guest (memory, huge pages, vCPUs, NUMA pinning).

Judged on the destination's recorded facts (preflight.facts.compat_facts: /proc/meminfo, the huge
page pools of sysfs, NUMA nodes, nproc), one migration at a time: two guests planned onto the same
destination are not added up here.
"""

from __future__ import annotations

from preflight.compat.capacity import judge_memory, judge_numa, judge_vcpus
from preflight.engine.registry import Finding, check, undecided
from preflight.model import Scope, Severity

from ._common import LIBVIRT_DOMAIN_XML, guest_needs, where


@check(
    id="memory.capacity", title="The destination has room for the guest's memory, huge pages, vCPUs and pinning",
    category="memory", severity=Severity.MEDIUM, scope=Scope.MIGRATION, requires=("domains", "memory", "numa"),
    verifies="On the destination: MemAvailable covers the guest's <memory> plus QEMU's overhead (256 MiB) "
             "(short: WARN; under 10 % of its memory left afterwards: WARN); for a guest backed by huge "
             "pages, the free pages of its page size cover its memory (short: FAIL); its vCPUs do not "
             "exceed the host's CPUs (WARN: overcommitted); the CPUs and NUMA nodes its <vcpupin>, "
             "<emulatorpin>, <vcpu cpuset> and <numatune> name exist there (missing: FAIL). Each "
             "migration is judged alone.",
    rationale="libvirt does not check free memory before a migration and QEMU allocates guest RAM "
              "lazily (pages are faulted in as they arrive), so a destination short of memory accepts "
              "the migration and the kernel's OOM killer ends the guest, or another one, later: a "
              "warning, since the migration itself starts and may even finish. Huge pages are taken "
              "from hugetlbfs when the incoming QEMU maps guest RAM at start, so too few free pages "
              "fail the migration at once; pinning to CPUs or NUMA nodes the destination lacks is "
              "refused when libvirt starts the incoming QEMU.",
    remediation="Free memory on the destination (migrate other guests away first) or choose another "
                "destination; reserve huge pages of the guest's size there "
                "(`echo N > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages`, or the kernel "
                "command line); migrate pinned guests only between hosts of the same topology, or "
                "give `virsh migrate --xml` a definition pinned to the destination's CPUs and nodes.",
    references=(LIBVIRT_DOMAIN_XML + "#memory-backing", LIBVIRT_DOMAIN_XML + "#numa-node-tuning",
                "https://www.kernel.org/doc/html/latest/admin-guide/mm/hugetlbpage.html"),
)
def capacity(ctx):
    guest, problem = guest_needs(ctx)
    if problem:
        return problem
    dst = ctx.destination
    compat = dst.compat
    if compat is None:
        return undecided(f"{dst.name}'s memory and CPU facts were not read")
    judged = (
        ("memory", judge_memory(guest, dst.name, compat.meminfo, compat.hugepages),
         "/proc/meminfo; /sys/kernel/mm/hugepages"),
        ("vcpus", judge_vcpus(guest, dst.name, compat.host_cpus, None), "nproc --all"),
        ("numa", judge_numa(guest, dst.name, compat.numa), "/sys/devices/system/node"),
    )
    out = []
    for item, f, read in judged:
        out.append(Finding(f.status, f.message, observed=f.observed, expected=f.expected,
                           source=where(dst, read), details=dict(f.details or {}), item=item))
    return out
