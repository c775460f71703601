"""preflight.compat.machine on the lab's machine_type_missing / kvm_unusable recordings and on
Intel/AMD domain capabilities."""

from __future__ import annotations

from _fixtures import read

from preflight.compat.machine import judge_devices, judge_kvm_device, judge_lock_and_security, judge_machine
from preflight.facts.domcaps import parse_domcaps
from preflight.facts.guest_needs import parse_guest_needs
from preflight.facts.hostcaps import parse_hostcaps
from preflight.facts.kvmdev import parse_kvm_stat
from preflight.model import Status

Q35 = parse_guest_needs(read("compat/vm-q35.lab-migratable.xml"))


def error_line(name):
    return read(name).strip().splitlines()[-1].removeprefix("error: ")


def test_machine_offered():
    r = judge_machine(
        Q35,
        "hv3",
        parse_domcaps(read("compat/domcapabilities-q35.lab-hv1.xml")),
        None,
        parse_hostcaps(read("compat/capabilities.lab-hv1.xml")),
    )
    assert r.status is Status.PASS


def test_machine_removed_fails_with_libvirts_words():
    err = error_line("compat/domcapabilities-machine-removed.lab-hv3.stderr")
    r = judge_machine(Q35, "hv3", None, err)
    assert r.status is Status.FAIL and "pc-q35-7.2" in r.message and "not supported by emulator" in r.message
    # the same from the capabilities alone, when libvirt answered for another machine
    caps = parse_hostcaps(read("compat/capabilities-machine-removed.lab-hv3.xml"))
    r = judge_machine(Q35, "hv3", parse_domcaps(read("compat/domcapabilities-q35.lab-hv1.xml")), None, caps)
    assert r.status is Status.FAIL and "do not list machine type pc-q35-7.2" in r.message


def test_other_vendor_other_qemu():
    intel = parse_domcaps(read("compat/domcapabilities-q35.virt-manager-intel.xml"))
    r = judge_machine(Q35, "rhel", intel, None)
    assert r.status is Status.FAIL and "pc-q35-2.9" in r.message  # libvirt answered another machine/emulator


def test_missing_emulator_and_virt_type_messages():
    for f in (
        "compat/domcapabilities-missing-emulator.lab-hv1.stderr",
        "compat/domcapabilities-unknown-machine.lab-hv1.stderr",
    ):
        assert judge_machine(Q35, "x", None, error_line(f)).status is Status.FAIL
    assert judge_machine(Q35, "x", None, None).status is Status.ERROR


def test_devices():
    lab = parse_domcaps(read("libvirt/domcapabilities.lab-hv1.xml"))
    cdrom_guest = parse_guest_needs(read("domains/disk-cdrom.libvirt.xml"))
    assert all(f.status is Status.PASS for f in judge_devices(cdrom_guest, "hv2", lab))
    q35 = parse_domcaps(read("compat/domcapabilities-q35.lab-hv1.xml"))
    bad = [f for f in judge_devices(cdrom_guest, "hv2", q35) if f.status is Status.FAIL]
    assert bad and "ide" in bad[0].message  # q35 offers no IDE bus
    tpm = parse_guest_needs(
        read("compat/vm-q35.lab-migratable.xml").replace(
            "</devices>", "<tpm model='tpm-crb'><backend type='emulator' version='2.0'/></tpm></devices>"
        )
    )
    fails = [f for f in judge_devices(tpm, "hv2", q35) if f.status is Status.FAIL]
    assert len(fails) == 1 and "TPM backend emulator" in fails[0].message  # no swtpm on the lab hosts
    intel = parse_domcaps(read("compat/domcapabilities-q35.virt-manager-intel.xml"))
    assert all(f.status is Status.PASS for f in judge_devices(tpm, "rhel", intel))


def test_kvm_device():
    good = parse_kvm_stat(*read("compat/kvm-stat.lab-hv1.txt").splitlines())
    bad = parse_kvm_stat(*read("compat/kvm-stat.kvm-unusable.lab-hv3.txt").splitlines())
    assert judge_kvm_device("hv1", good, "kvm", qemu_user_can_open=True).status is Status.PASS
    assert judge_kvm_device("hv1", good, "kvm").status is Status.ERROR
    r = judge_kvm_device("hv3", bad, "kvm", qemu_user_can_open=True)
    assert r.status is Status.FAIL and "regular empty file" in r.message
    assert judge_kvm_device("hv3", bad, "qemu").status is Status.PASS
    assert judge_kvm_device("hv3", parse_kvm_stat("missing"), "kvm").status is Status.FAIL


def test_security_driver_and_lock_manager():
    lab = parse_hostcaps(read("compat/capabilities.lab-hv1.xml"))
    rhel = parse_hostcaps(read("compat/capabilities.virt-manager-rhel7-intel.xml"))
    same = judge_lock_and_security("hv1", "hv2", lab, lab, "nop", "nop")
    assert [f.status for f in same] == [Status.PASS, Status.PASS]
    diff = judge_lock_and_security("hv1", "rhel", lab, rhel, "nop", "lockd")
    assert [f.status for f in diff] == [Status.FAIL, Status.FAIL] and "selinux" in diff[0].message
    assert "different from target" in diff[1].message
    assert judge_lock_and_security("a", "b", None, lab, None, "nop")[1].status is Status.ERROR
