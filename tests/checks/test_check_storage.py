from dataclasses import replace

from factories import (NFS, ROOT, as_list, domain, file_disk, host, migration, mount, net_disk,
                       run_spec, statuses)
from preflight.checks.storage import shared_storage
from preflight.facts.mountinfo import SHARED_FS_TYPES
from preflight.facts.models import Disk, DiskHost


def test_same_nfs_share_on_both_hosts_passes_with_evidence():
    [f] = as_list(shared_storage(migration()))
    assert f.status.value == "pass"
    assert f.disk == "vda"
    assert "hv1: /proc/self/mountinfo" in f.source and "hv2: /proc/self/mountinfo" in f.source
    assert "nas:/vol0" in f.expected


def test_local_disk_fails_naming_disk_and_path():
    dom = domain(disks=(file_disk("/var/lib/libvirt/images/vm1.qcow2"),))
    [f] = as_list(shared_storage(migration(dom)))
    assert f.status.value == "fail"
    assert "vda" in f.message and "/var/lib/libvirt/images/vm1.qcow2" in f.message
    assert "local storage" in f.message
    # the remedy names this disk, this guest and these hosts, not an example share
    remedy = f.details["remediation"]
    assert remedy.startswith("Move /var/lib/libvirt/images/vm1.qcow2 (vda of ")
    assert "hv1" in remedy and "hv2" in remedy and "pool for /var/lib/libvirt/images on hv2" in remedy


def test_share_missing_on_destination_fails():
    ctx = migration(dst=host("hv2", mounts=(ROOT,)))
    [f] = as_list(shared_storage(ctx))
    assert f.status.value == "fail"
    assert "not mounted at /srv/vmstore on hv2" in f.message


def test_different_export_at_same_path_fails():
    ctx = migration(dst=host("hv2", mounts=(ROOT, mount("/srv/vmstore", "nfs4", "nas:/vol1"))))
    [f] = as_list(shared_storage(ctx))
    assert f.status.value == "fail" and "different share" in f.message


def test_same_export_from_differently_named_server_is_undecided():
    ctx = migration(dst=host("hv2", mounts=(ROOT, mount("/srv/vmstore", "nfs4", "10.0.0.9:/vol0"))))
    assert statuses(shared_storage(ctx)) == ["error"]


def test_readonly_mount_of_writable_disk_fails_but_readonly_cdrom_passes():
    ro = host("hv2", mounts=(ROOT, mount("/srv/vmstore", "nfs4", "nas:/vol0", ro=True)))
    assert statuses(shared_storage(migration(dst=ro))) == ["fail"]
    iso = domain(disks=(Disk(target="sda", device="cdrom", path="/srv/vmstore/boot.iso", readonly=True),))
    assert statuses(shared_storage(migration(iso, dst=ro))) == ["pass"]


def test_readonly_mount_on_the_source_only_warns():
    # issue 6: a source mount remounted read-only under a running guest; the guest keeps its open
    # read-write file and the real migration succeeds, because the destination's mount decides.
    ro = host("hv1", mounts=(ROOT, mount("/srv/vmstore", "nfs4", "nas:/vol0", ro=True)))
    [f] = as_list(shared_storage(migration(src=ro)))
    assert f.status.value == "warn" and "hv1" in f.message and "read-only" in f.message
    dst_ro = host("hv2", mounts=(ROOT, mount("/srv/vmstore", "nfs4", "nas:/vol0", ro=True)))
    [f] = as_list(shared_storage(migration(dst=dst_ro)))
    assert f.status.value == "fail" and "hv2" in f.message


def test_local_cdrom_image_fails_too():
    iso = domain(disks=(Disk(target="sda", device="cdrom", path="/root/boot.iso", readonly=True),))
    assert statuses(shared_storage(migration(iso))) == ["fail"]


def test_stacked_mount_last_entry_wins():
    # a local tmpfs mounted over the share hides it: the disk is on tmpfs now
    src = host("hv1", mounts=(ROOT, NFS, mount("/srv/vmstore", "tmpfs", "tmpfs")))
    assert statuses(shared_storage(migration(src=src))) == ["fail"]


def test_longest_prefix_is_component_wise():
    dom = domain(disks=(file_disk("/srv/vmstore2/vm1.qcow2"),))
    assert statuses(shared_storage(migration(dom))) == ["fail"]   # on / (ext4), not on /srv/vmstore


def test_empty_cdrom_is_skipped_and_each_disk_gets_its_own_finding():
    dom = domain(disks=(file_disk(), Disk(target="sda", device="cdrom", empty=True)))
    findings = as_list(shared_storage(migration(dom)))
    assert [(f.disk, f.status.value) for f in findings] == [("vda", "pass"), ("sda", "skip")]


def test_network_disks_pass_unless_they_point_at_localhost():
    ok = domain(disks=(net_disk("iscsi", "nas", "iqn.2020-01.org.example:t/1", port=3260),))
    assert statuses(shared_storage(migration(ok))) == ["pass"]
    for server in ("localhost", "127.0.0.1", "::1"):
        bad = domain(disks=(net_disk("nfs", server),))
        [f] = as_list(shared_storage(migration(bad)))
        assert f.status.value == "fail" and server in f.message
    sock = domain(disks=(Disk(target="vdb", type="network", protocol="nbd",
                              hosts=(DiskHost(name="/run/nbd.sock", transport="unix",
                                              socket="/run/nbd.sock"),)),))
    assert statuses(shared_storage(migration(sock))) == ["fail"]


def test_block_and_volume_disks_are_undecided_never_pass():
    dom = domain(disks=(Disk(target="vda", type="block", path="/dev/mapper/vg-vm1"),
                        Disk(target="vdb", type="volume", pool="default", volume="vm1.img")))
    assert statuses(shared_storage(migration(dom))) == ["error", "error"]


def test_unparsed_domain_is_undecided():
    dom = replace(domain(), disks=(), error="not well-formed")
    assert statuses(shared_storage(migration(dom))) == ["error"]


def test_missing_mounts_fact_makes_the_runner_say_error():
    dom = domain()
    src = host("hv1", domains=(dom,))
    dst = host("hv2", mounts=(), fact_errors={"mounts": "`cat /proc/self/mountinfo` exited 1"})
    ctx = migration(dom, src, dst)
    results = run_spec(shared_storage, ctx.cluster)
    assert results and {r.status.value for r in results} == {"error"}
    assert "mounts" in results[0].message


def test_shared_types_follow_libvirt():
    assert {"nfs", "nfs4", "fuse.glusterfs", "ceph", "cifs", "gfs2", "ocfs2"} <= SHARED_FS_TYPES
    assert not {"ext4", "xfs", "tmpfs", "fuse.sshfs", "overlay"} & SHARED_FS_TYPES


def test_loopback_detection_is_not_fooled_by_lookalike_names():
    from preflight.checks._common import is_loopback, libvirt_refuses_hostname

    assert is_loopback("localhost") and is_loopback("127.0.1.1") and is_loopback("[::1]")
    assert not is_loopback("localhost-nas.example.org") and not is_loopback("nas")
    assert libvirt_refuses_hostname("localhost.localdomain") and not libvirt_refuses_hostname("hv2")
