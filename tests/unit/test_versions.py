"""preflight.facts.versions on real `virsh version` and `qemu --version` outputs."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from _fixtures import read
from preflight.facts.versions import Version, from_number, parse_qemu_version, parse_virsh_version


def test_virsh_version_lab():
    v = parse_virsh_version(read("compat/virsh-version.lab-hv1.txt"))
    assert v.libvirt == Version(9, 0, 0) and v.daemon is None
    assert v.hypervisor == "QEMU" and v.hypervisor_version == Version(7, 2, 22)
    assert parse_virsh_version(read("compat/virsh-version-daemon.lab-hv1.txt")).daemon == Version(9, 0, 0)


def test_qemu_version_lab():
    v = parse_qemu_version(read("compat/qemu-version.lab-hv1.txt"))
    assert v.hypervisor_version == Version(7, 2, 22) and v.package == "Debian 1:7.2+dfsg-7+deb12u18+b3"


def test_libvirt_numbers():
    assert from_number(7002022) == Version(7, 2, 22) and from_number(9000000).number == 9000000
    with pytest.raises(ValueError):
        from_number(-1)
    with pytest.raises(ValueError):
        from_number(True)


@given(st.integers(0, 999), st.integers(0, 999), st.integers(0, 999))
def test_number_round_trip_and_order(a, b, c):
    v = Version(a, b, c)
    assert from_number(v.number) == v
    assert (v < Version(a, b, c + 1)) and not (v < v)


@pytest.mark.parametrize(
    "text", ["", "error: failed to connect to the hypervisor", "qemu-img version 7.2.22"]
)
def test_not_a_version_output(text):
    with pytest.raises(ValueError):
        (parse_qemu_version if "qemu" in text else parse_virsh_version)(text)
