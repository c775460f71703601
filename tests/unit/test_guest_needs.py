"""preflight.facts.guest_needs on recorded domain XML: the lab's q35 guest and libvirt's own test
documents (NUMA, hugepages, pinning are in libvirt's qemuxmlconfdata)."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from _fixtures import read
from preflight.facts.guest_needs import parse_cpuset, parse_guest_needs, to_kib


def test_lab_q35_guest():
    g = parse_guest_needs(read("compat/vm-q35.lab-migratable.xml"))
    assert (g.virt_type, g.arch, g.machine) == ("kvm", "x86_64", "pc-q35-7.2")
    assert g.emulator == "/usr/bin/qemu-system-x86_64" and g.memory_kib == 128 * 1024 and g.vcpus == 1
    (nic,) = g.nics
    assert (nic.type, nic.source, nic.model, nic.mtu) == ("bridge", "br0", "virtio", None)


def test_lab_mtu_guest():
    g = parse_guest_needs(read("compat/vm-mtu.lab-migratable.xml"))
    assert g.nics[0].source == "br-app" and g.nics[0].mtu == 1500


def test_hugepages_and_guest_numa_cells():
    g = parse_guest_needs(read("compat/hugepages-numa-nodeset.libvirt.xml"))
    assert [(h.size_kib, h.nodeset) for h in g.hugepages] == [(2048, {1}), (1048576, {0, 2, 3})]
    assert [c[0] for c in g.guest_numa_cells] == [0, 1, 2, 3] and g.memory_kib == 4194304


def pinned_q35() -> str:
    """The recorded lab guest with numatune/cputune added here (no recorded guest pins)."""
    return read("compat/vm-q35.lab-migratable.xml").replace(
        "</vcpu>",
        "</vcpu><cputune><vcpupin vcpu='0' cpuset='2-3'/><emulatorpin cpuset='0'/></cputune>"
        "<numatune><memory mode='strict' nodeset='1'/>"
        "<memnode cellid='0' mode='preferred' nodeset='0'/></numatune>",
        1,
    )


def test_pinning():
    g = parse_guest_needs(pinned_q35())
    assert g.vcpupins == ((0, frozenset({2, 3})),) and g.emulatorpin == {0}
    assert (g.numatune_mode, g.numatune_nodeset) == ("strict", {1}) and g.memnodes == ((0, "preferred", {0}),)


def test_disk_buses_and_tpm():
    g = parse_guest_needs(read("domains/disk-cdrom.libvirt.xml"))
    assert ("hdc", "ide", "cdrom") in g.disk_buses


@pytest.mark.parametrize(
    "text,expected", [("0-3,^2,8", {0, 1, 3, 8}), ("5", {5}), ("", set()), ("3-1", None), ("a", None)]
)
def test_cpuset(text, expected):
    got = parse_cpuset(text)
    assert (got is None) if expected is None else (got == expected)


@given(st.sets(st.integers(0, 255), max_size=40))
def test_cpuset_round_trip(cpus):
    assert parse_cpuset(",".join(str(c) for c in sorted(cpus))) == cpus


def test_units():
    assert to_kib(1, "GiB") == 1024 * 1024 and to_kib(2048, None) == 2048 and to_kib(1, "parsec") is None
