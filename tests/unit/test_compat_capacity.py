"""preflight.compat.capacity on this machine's /proc/meminfo, sysfs pools and NUMA nodes, and the
lab's and libvirt's guest definitions. The non-empty huge page pool is built in code here: the
machine is shared and its pools were not resized for a recording (SOURCES.md)."""

from __future__ import annotations

from _fixtures import read

from preflight.compat.capacity import judge_hugepages, judge_memory, judge_numa, judge_vcpus
from preflight.facts.guest_needs import parse_guest_needs
from preflight.facts.hugepages import HugepagePool, parse_hugepages
from preflight.facts.meminfo import parse_meminfo
from preflight.facts.numa import parse_sysfs_nodes
from preflight.model import Status

MEM = parse_meminfo(read("compat/proc-meminfo.this-machine.txt"))
Q35 = parse_guest_needs(read("compat/vm-q35.lab-migratable.xml"))
BIG = parse_guest_needs(read("compat/hugepages-numa-nodeset.libvirt.xml"))


def test_memory():
    assert judge_memory(Q35, "here", MEM).status is Status.PASS
    r = judge_memory(Q35, "here", MEM, incoming_kib=MEM.available_kib - 200 * 1024)
    assert r.status is Status.WARN and "OOM killer" in r.message   # libvirt does not check; lazy RAM
    w = judge_memory(Q35, "here", MEM, incoming_kib=int(MEM.available_kib * 0.95))
    assert w.status in (Status.WARN, Status.FAIL)
    node = parse_meminfo(read("compat/node0-meminfo.this-machine.txt"))
    assert judge_memory(Q35, "here", node).status is Status.ERROR  # no MemAvailable in a node's file


def test_hugepages_on_an_empty_pool_fail():
    pools = parse_hugepages(read("compat/hugepages-sysfs.this-machine.txt"))
    r = judge_memory(BIG, "here", MEM, hugepage_pools=pools)
    assert r.status is Status.FAIL and "fails" in r.message
    assert judge_hugepages(BIG, "here", None).status is Status.ERROR


def test_hugepages_enough():
    pools = (
        HugepagePool(2048, None, nr=4096, free=4096, reserved=0),
        HugepagePool(1048576, None, nr=8, free=4, reserved=0),
    )
    assert judge_hugepages(BIG, "here", pools).status is Status.PASS
    short = (HugepagePool(2048, None, nr=4096, free=4096, reserved=3000), pools[1])
    assert judge_hugepages(BIG, "here", short).status is Status.FAIL  # reserved pages are not available


def test_vcpus():
    assert judge_vcpus(BIG, "here", 2, 255).status is Status.WARN  # 4 vCPUs on 2 CPUs: overcommitted
    assert judge_vcpus(BIG, "here", 8, 2).status is Status.FAIL
    assert judge_vcpus(Q35, "here", None, None).status is Status.ERROR


def test_numa():
    topo = parse_sysfs_nodes(read("compat/numa-sysfs.this-machine.txt"))
    assert judge_numa(Q35, "here", topo).status is Status.PASS
    pinned = parse_guest_needs(
        read("compat/vm-q35.lab-migratable.xml").replace(
            "</vcpu>",
            "</vcpu><cputune><vcpupin vcpu='0' cpuset='1'/></cputune>"
            "<numatune><memory mode='strict' nodeset='1'/></numatune>",
            1,
        )
    )
    r = judge_numa(pinned, "here", topo)
    assert r.status is Status.FAIL and "NUMA node(s) [1]" in r.message
    cpu_only = parse_guest_needs(
        read("compat/vm-q35.lab-migratable.xml").replace(
            "</vcpu>", "</vcpu><cputune><vcpupin vcpu='0' cpuset='5'/></cputune>", 1
        )
    )
    assert judge_numa(cpu_only, "here", topo).status is Status.FAIL
    assert judge_numa(pinned, "here", None).status is Status.ERROR
