from factories import GuestInterface, HostDevice, as_list, cpu, domain, on_host, run_spec, statuses, host
from preflight.checks.domain import migration_blockers
from preflight.facts.models import Disk, Filesystem, Shmem


def test_clean_domain_passes():
    [f] = as_list(migration_blockers(on_host(domain())))
    assert f.status.value == "pass" and f.source == "hv1: domain XML of vm1"


def test_invtsc_without_tsc_frequency_fails():
    dom = domain(cpu=cpu(invtsc="require"))
    [f] = as_list(migration_blockers(on_host(dom)))
    assert f.status.value == "fail" and "invtsc" in f.message
    assert statuses(migration_blockers(on_host(domain(cpu=cpu(invtsc="force"))))) == ["fail"]


def test_invtsc_with_tsc_frequency_or_disabled_passes():
    assert statuses(migration_blockers(on_host(domain(cpu=cpu(invtsc="require"),
                                                      tsc_frequency=2_000_000_000)))) == ["pass"]
    assert statuses(migration_blockers(on_host(domain(cpu=cpu(invtsc="disable"))))) == ["pass"]


def test_host_devices_fail_except_transient_teaming_and_usb_is_undecided():
    devs = (HostDevice("subsystem", "pci", "0000:06:12.5"), HostDevice("subsystem", "mdev", "5376"),
            HostDevice("subsystem", "scsi", "scsi_host0 0:0:0"), HostDevice("capabilities", "storage"),
            HostDevice("subsystem", "pci", "0000:03:07.1", teaming="transient"),
            HostDevice("subsystem", "usb", "0x1234:0xbeef"))
    found = as_list(migration_blockers(on_host(domain(hostdevs=devs))))
    assert [f.status.value for f in found] == ["fail", "fail", "fail", "fail", "error"]
    assert "0000:06:12.5" in found[0].message


def test_other_hard_blockers():
    dom = domain(filesystems=(Filesystem(driver="virtiofs", source="/srv/share", target="share"),),
                 shmems=(Shmem(name="ivshmem0"),),
                 disks=(Disk(target="vda", path="/srv/vmstore/a.qcow2", transient=True),),
                 interfaces=(GuestInterface("vdpa", "/dev/vhost-vdpa-0", mac="52:54:00:00:00:01"),
                             GuestInterface("hostdev", None, mac="52:54:00:00:00:02")))
    found = as_list(migration_blockers(on_host(dom)))
    assert statuses(found) == ["fail"] * 5
    text = " ".join(f.message for f in found)
    assert "virtiofs" in text and "ivshmem0" in text and "transient" in text and "vdpa" in text


def test_shmem_master_is_fine():
    assert statuses(migration_blockers(on_host(domain(shmems=(Shmem("s", role="master"),))))) == ["pass"]


def test_unparsed_domain_is_error():
    assert statuses(migration_blockers(on_host(domain(error="bad XML")))) == ["error"]


def test_missing_domains_fact_makes_the_runner_say_error():
    dom = domain()
    h = host("hv1", domains=(dom,), fact_errors={"domains": "listAllDomains failed"})
    results = run_spec(migration_blockers, on_host(dom, h).cluster)
    assert results and all(r.status.value == "error" for r in results)


def test_host_passthrough_migratable_off_on_an_invtsc_host_fails():
    from dataclasses import replace

    dom = domain(cpu=replace(cpu("host-passthrough", model=None), migratable="off"))
    assert statuses(migration_blockers(on_host(dom, host("hv1", domains=(dom,))))) == ["fail"]
    no_invtsc = host("hv1", domains=(dom,), cpu_features=("vmx",))
    assert statuses(migration_blockers(on_host(dom, no_invtsc))) == ["pass"]
    unknown = host("hv1", domains=(dom,), cpu_features=None)
    assert statuses(migration_blockers(on_host(dom, unknown))) == ["error"]
    default_on = domain(cpu=cpu("host-passthrough", model=None))
    assert statuses(migration_blockers(on_host(default_on))) == ["pass"]


def test_unknown_hostdev_type_is_error():
    assert statuses(migration_blockers(on_host(domain(hostdevs=(HostDevice("subsystem", "ccw"),))))) == ["error"]
