"""preflight.facts.hostcaps: secmodels, guests' machine types per virt type, page sizes."""

from __future__ import annotations

from _fixtures import read
from preflight.facts.hostcaps import parse_hostcaps


def test_lab_host():
    h = parse_hostcaps(read("compat/capabilities.lab-hv1.xml"))
    assert h.uuid == "c6030880-7bc2-50ef-96d3-aebb04b978b9"
    assert h.security_driver == "none" and [s.model for s in h.secmodels] == ["none", "dac"]
    assert h.page_sizes_kib == (4, 2048, 1048576)
    assert h.live_migration and h.uri_transports == ("tcp", "rdma")
    g = h.guest("x86_64")
    names = {m.name for m in g.machines_for("kvm")}
    assert {"pc-q35-7.2", "pc-i440fx-7.2"} <= names
    assert any(m.name == "q35" and m.canonical == "pc-q35-7.2" for m in g.machines_for("kvm"))
    assert g.emulator_for("kvm") == "/usr/bin/qemu-system-x86_64"
    assert g.machines_for("xen") is None


def test_machine_removed_from_the_cache_is_gone_from_capabilities():
    h = parse_hostcaps(read("compat/capabilities-machine-removed.lab-hv3.xml"))
    names = {m.name for m in h.guest("x86_64").machines_for("kvm")} | {
        m.canonical for m in h.guest("x86_64").machines_for("kvm") if m.canonical
    }
    assert "pc-q35-7.2" not in names and "pc-i440fx-7.2" in names


def test_cloned_uuid_recorded():
    a = parse_hostcaps(read("compat/capabilities.lab-hv2.xml"))
    b = parse_hostcaps(read("compat/capabilities-uuid-clone.lab-hv3.xml"))
    assert a.uuid == b.uuid


def test_intel_rhel7_selinux_and_its_own_emulator():
    h = parse_hostcaps(read("compat/capabilities.virt-manager-rhel7-intel.xml"))
    assert h.cpu_vendor == "Intel" and h.security_driver == "selinux"
    g = h.guest("x86_64")
    assert g.emulator_for("kvm") == "/usr/libexec/qemu-kvm"
    assert [m.name for m in g.machines_for("kvm")][:2] == ["pc-i440fx-rhel7.0.0", "pc"]
