"""preflight.facts.numa: sysfs (this machine), libvirt capabilities <topology> (lab, RHEL 7)."""

from __future__ import annotations

import pytest

from _fixtures import read
from preflight.facts.numa import NumaError, parse_caps_topology, parse_numactl_hardware, parse_sysfs_nodes


def test_sysfs_this_machine():
    t = parse_sysfs_nodes(read("compat/numa-sysfs.this-machine.txt"))
    assert t.node_ids == {0} and t.cpus == {0, 1} and t.node(0).distances == (10,)


def test_caps_topology():
    t = parse_caps_topology(read("compat/capabilities.virt-manager-rhel7-intel.xml"))
    assert t.cpus == set(range(8)) and t.node(0).memory_kib == 4193772 and t.node(0).pages[2048] == 0
    lab = parse_caps_topology(read("compat/capabilities.lab-hv1.xml"))
    assert lab.node_ids == {0} and lab.node(0).pages[1048576] == 0


def test_numactl_format():
    # numactl(8)'s --hardware layout; numactl is not installed on this machine
    t = parse_numactl_hardware(
        "available: 2 nodes (0-1)\nnode 0 cpus: 0 1 2 3\nnode 0 size: 7982 MB\n"
        "node 0 free: 512 MB\nnode 1 cpus: 4 5 6 7\nnode 1 size: 8063 MB\nnode 1 free: 7000 MB\n"
        "node distances:\nnode   0   1 \n  0:  10  21 \n  1:  21  10 \n"
    )
    assert t.node_ids == {0, 1} and t.node(1).free_kib == 7000 * 1024 and t.node(0).distances == (10, 21)


@pytest.mark.parametrize("text", ["", "/sys/devices/system/node/node0/cpulist:0-x\n", "hello\n"])
def test_malformed(text):
    with pytest.raises(NumaError):
        parse_sysfs_nodes(text)
