"""preflight.facts.resolve (`getent ahosts`) and preflight.facts.kvmdev (`stat /dev/kvm`), on
outputs recorded in the lab's name and KVM scenarios."""

from __future__ import annotations

import pytest

from _fixtures import read
from preflight.facts.kvmdev import parse_kvm_stat
from preflight.facts.resolve import parse_getent_ahosts


def test_getent_clean_and_loopback_only():
    r = parse_getent_ahosts("hv2", read("compat/getent-ahosts-hv2.clean.lab-hv1.txt"))
    assert r.addresses == ("10.251.81.12",) and r.canonical == "hv2" and not r.loopback
    lo = parse_getent_ahosts("hv2.lab.example", read("compat/getent-ahosts-fqdn.name-loopback.lab-hv1.txt"))
    assert lo.addresses == ("127.0.1.1",) and lo.non_loopback == ()


def test_getent_alias_on_localhost_line():
    r = parse_getent_ahosts("hv2", read("compat/getent-ahosts-hv2.alias-localhost.lab-hv2.txt"))
    assert r.addresses == ("127.0.0.1", "10.251.81.12") and r.canonical == "localhost"


def test_getent_not_found():
    text = read("compat/getent-ahosts-fqdn.alias-fqdn.lab-hv1.txt")
    rc = int(text.strip().rsplit("rc=", 1)[1])
    r = parse_getent_ahosts("hv2.lab.example", text.split("rc=")[0], rc=rc)
    assert rc == 2 and not r.found


def test_getent_garbage():
    with pytest.raises(ValueError):
        parse_getent_ahosts("x", "getent: command not found\n")


def test_kvm_device_good():
    stat, misc = read("compat/kvm-stat.lab-hv1.txt").splitlines()
    d = parse_kvm_stat(stat, misc)
    assert d.is_char_device and (d.major, d.minor) == (10, 232) and d.misc_dev == "10:232" and d.mode == "600"


def test_kvm_device_covered_by_a_file():
    d = parse_kvm_stat(read("compat/kvm-stat.kvm-unusable.lab-hv3.txt").splitlines()[0])
    assert d.exists and not d.is_char_device and d.kind == "regular empty file"


def test_kvm_device_missing():
    assert parse_kvm_stat("missing").exists is False and parse_kvm_stat(None).exists is False
