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


# --- domain.machine_type on the lab's recorded capabilities and migratable XML -------------------

def needs_of(fixture: str):
    from preflight.facts.domain_xml import parse_domain_xml

    return parse_domain_xml(read(f"compat/{fixture}"), name=fixture.split(".")[0], active=True, state="running")


def caps_of(fixture: str):
    from preflight.facts.hostcaps import parse_hostcaps

    return parse_hostcaps(read(f"compat/{fixture}"))


def test_the_lab_destination_offers_the_guests_machine_type():
    from preflight.checks.machine import machine_type

    for guest in ("vm-q35.lab-migratable.xml", "vm-gluster.lab-migratable.xml"):
        dom = needs_of(guest)
        f = machine_type(migration(dom=dom, dst=host("hv2", hostcaps=caps_of("capabilities.lab-hv2.xml"))))
        assert f.status.value == "pass", f
        assert dom.needs.machine in f.message and f.source.startswith("hv2:")


def test_machine_type_removed_from_the_destinations_qemu_fails_naming_it():
    """Lab machine_type_missing: hv3's QEMU capabilities lack pc-q35-7.2; the real migration says
    "Emulator '/usr/bin/qemu-system-x86_64' does not support machine type 'pc-q35-7.2'"."""
    from preflight.checks.machine import machine_type

    dst = host("hv3", hostcaps=caps_of("capabilities-machine-removed.lab-hv3.xml"))
    f = machine_type(migration(dom=needs_of("vm-q35.lab-migratable.xml"), dst=dst))
    assert f.status.value == "fail"
    assert "pc-q35-7.2" in f.message and "hv3" in f.message and "pc-q35-7.1" in f.observed
    # an i440fx guest still goes there
    g = machine_type(migration(dom=needs_of("vm-gluster.lab-migratable.xml"), dst=dst))
    assert g.status.value == "pass"


def test_another_emulator_than_the_destination_lists_is_error_never_pass():
    """RHEL's capabilities list /usr/libexec/qemu-kvm for x86_64 kvm; a Debian guest names
    /usr/bin/qemu-system-x86_64, which the capabilities say nothing about."""
    from preflight.checks.machine import machine_type

    dst = host("hv2", hostcaps=caps_of("capabilities.virt-manager-rhel7-intel.xml"))
    f = machine_type(migration(dom=needs_of("vm-gluster.lab-migratable.xml"), dst=dst))
    assert f.status.value == "error" and "/usr/libexec/qemu-kvm" in f.message


def test_unknown_virt_type_or_arch_fails_and_unread_needs_are_error():
    from preflight.checks.machine import machine_type

    dom = needs_of("vm-gluster.lab-migratable.xml")
    caps = caps_of("capabilities.lab-hv2.xml")
    xen = replace(dom, needs=replace(dom.needs, virt_type="xen"))
    assert statuses(machine_type(migration(dom=xen, dst=host("hv2", hostcaps=caps)))) == ["fail"]
    arm = replace(dom, needs=replace(dom.needs, arch="aarch64", emulator="/usr/bin/qemu-system-aarch64"))
    assert statuses(machine_type(migration(dom=arm, dst=host("hv2", hostcaps=caps)))) == ["fail"]
    blind = replace(dom, needs=None, needs_error="could not read it")
    assert statuses(machine_type(migration(dom=blind, dst=host("hv2", hostcaps=caps)))) == ["error"]
    assert statuses(machine_type(migration(dom=dom, dst=host("hv2")))) == ["error"]


def test_parse_host_keeps_the_capabilities_machines_and_a_broken_document_is_a_fact_error():
    from preflight.facts.parse import parse_host

    raw = {"reachable": True, "libvirt": {"capabilities": read("compat/capabilities.lab-hv1.xml")}}
    h = parse_host("hv1", raw)
    assert h.hostcaps is not None and h.hostcaps.guest("x86_64").machines_for("kvm")
    broken = parse_host("hv1", {"reachable": True, "libvirt": {"capabilities": "<capabilities><host>"}})
    assert broken.hostcaps is None and "capabilities" in broken.fact_errors
