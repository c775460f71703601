"""host.kvm_device on the lab's recorded /dev/kvm stats (tests/fixtures/compat), through the runner."""

from dataclasses import replace
from pathlib import Path

from factories import domain, host, migration, statuses

from preflight.checks.machine import kvm_device
from preflight.facts.compat_facts import CompatFacts
from preflight.facts.kvmdev import parse_kvm_stat
from preflight.facts.models import QemuCredentials


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "compat"


def read(name: str) -> str:
    return (FIXTURES / name.split("/", 1)[1]).read_text()


def kvm(fixture: str, ids=(0, 0)) -> CompatFacts:
    stat, misc = read(f"compat/{fixture}").splitlines()[:2]
    return CompatFacts(kvm=parse_kvm_stat(stat, misc), kvm_ids=ids)


def qemu(uid=0, gid=0, groups=()):
    return QemuCredentials(user="root" if uid == 0 else "libvirt-qemu", uid=uid, gid=gid, groups=groups)


def test_the_real_kvm_device_passes_for_root_qemu():
    dst = host("hv2", compat=kvm("kvm-stat.lab-hv1.txt"), qemu_cred=qemu())
    assert statuses(kvm_device(migration(dst=dst))) == ["pass"]


def test_lab_kvm_unusable_fails_and_names_the_destination():
    dst = host("hv3", compat=kvm("kvm-stat.kvm-unusable.lab-hv3.txt"), qemu_cred=qemu())
    f = kvm_device(migration(dst=dst))
    assert f.status.value == "fail" and "hv3" in f.message and "not the KVM device" in f.message
    assert f.source.startswith("hv3:")


def test_qemu_user_outside_the_owner_and_group_cannot_open_0600():
    dst = host("hv2", compat=kvm("kvm-stat.lab-hv1.txt"), qemu_cred=qemu(uid=64055, gid=64055, groups=(64055,)))
    assert statuses(kvm_device(migration(dst=dst))) == ["fail"]


def test_unknown_qemu_user_is_error_and_tcg_needs_no_device():
    dst = host("hv2", compat=kvm("kvm-stat.lab-hv1.txt"))
    assert statuses(kvm_device(migration(dst=dst))) == ["error"]
    assert statuses(kvm_device(migration(dom=replace(domain(), type="qemu"), dst=dst))) == ["pass"]


def test_a_recording_without_the_fact_is_error_never_pass():
    from factories import cluster, run_spec

    dom = domain()
    src = host("hv1", domains=(dom,), compat=kvm("kvm-stat.lab-hv1.txt"), qemu_cred=qemu())
    dst = host("hv2", fact_errors={"kvm_device": "`sh -c stat ...` was not gathered"})
    results = [r for r in run_spec(kvm_device, cluster(src, dst)) if r.destination == "hv2"]
    assert [r.status.value for r in results] == ["error"] and "not gathered" in results[0].message
