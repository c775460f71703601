"""storage.mount_options on built facts."""

from preflight.checks.storage_mounts import mount_options
from factories import ROOT, as_list, domain, file_disk, mount, net_disk, run_spec, statuses
from storage_factories import fstab, hv, mig, nfs_mount


def only(produced):
    (f,) = as_list(produced)
    return f


def test_hard_mount_in_fstab_passes_with_nfs_options_as_evidence():
    f = only(mount_options(mig()))
    assert f.status.value == "pass"
    for opt in ("vers=4.2", "hard", "proto=tcp", "timeo=600", "retrans=2", "addr=10.0.0.20", "sec=sys"):
        assert opt in f.observed


def test_soft_mount_warns_with_the_corruption_reason():
    dst = hv("hv2", mounts=(ROOT, nfs_mount(soft=True)))
    f = only(mount_options(mig(dst=dst)))
    assert f.status.value == "warn" and "hv2: soft NFS mount" in f.message and "corruption" in f.message
    assert "soft" in f.observed and "timeo=600" in f.observed


def test_mount_not_in_fstab_warns_it_will_not_survive_reboot():
    dst = hv("hv2", fstab=())
    f = only(mount_options(mig(dst=dst)))
    assert f.status.value == "warn" and "will not survive the host's reboot" in f.message
    assert f.message.count("hv2:") == 1 and "hv1:" not in f.message


def test_noauto_fstab_entry_warns_unless_automount():
    dst = hv("hv2", fstab=(fstab(options=("noauto",)),))
    assert statuses(mount_options(mig(dst=dst))) == ["warn"]
    dst = hv("hv2", fstab=(fstab(options=("noauto", "x-systemd.automount")),))
    assert statuses(mount_options(mig(dst=dst))) == ["pass"]


def test_systemd_unit_or_autofs_counts_as_persistent():
    dst = hv("hv2", fstab=(), mount_units=(("srv-vmstore.mount", "enabled", "/srv/vmstore"),))
    assert statuses(mount_options(mig(dst=dst))) == ["pass"]
    dst = hv("hv2", fstab=(), mounts=(ROOT, mount("/srv", "autofs", "/etc/auto.srv"), nfs_mount()))
    assert statuses(mount_options(mig(dst=dst))) == ["pass"]


def test_unknown_units_when_not_in_fstab_is_error():
    dst = hv("hv2", fstab=(), fact_errors={"mount_units": "systemctl exited 1"})
    assert statuses(mount_options(mig(dst=dst))) == ["error"]


def test_glusterfs_fuse_mount_is_judged_for_persistence():
    m = mount("/srv/vmstore", "fuse.glusterfs", "nas:/vol0")
    dst = hv("hv2", mounts=(ROOT, m), fstab=())
    f = only(mount_options(mig(dst=dst, src=hv("hv1", mounts=(ROOT, m), fstab=(), domains=(domain(),)))))
    assert f.status.value == "warn" and "hv1:" in f.message and "hv2:" in f.message


def test_local_and_network_disks_are_skip():
    dom = domain(disks=(file_disk("/var/lib/libvirt/images/a.qcow2"), net_disk()))
    assert statuses(mount_options(mig(dom=dom, src=hv("hv1", domains=(dom,))))) == ["skip"]


def test_missing_fstab_fact_is_error_through_the_runner():
    dst = hv("hv2", fact_errors={"fstab": "cat /etc/fstab: Permission denied"})
    results = run_spec(mount_options, mig(dst=dst).cluster)
    assert results and all(r.status.value == "error" for r in results)
