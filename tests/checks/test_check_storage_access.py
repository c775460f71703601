"""storage.cluster_fs, storage.qemu_write_access, storage.disk_secrets on typed facts built in code."""

from __future__ import annotations

from dataclasses import replace

from factories import ROOT, Disk, block_facts, domain, file_disk, host, lun, migration, mount, run_spec, statuses, cluster

from preflight.checks.storage_access import disk_secrets, qemu_write_access
from preflight.checks.storage_cluster import cluster_fs
from preflight.facts.models import ClusterStack, FileStat, LibvirtSecret, QemuCredentials, WriteTest

UUID = "8c3fb912-acd5-4736-9400-a51e12ccde15"
OTHER = "11111111-2222-3333-4444-555555555555"
IMG = "/srv/vmstore/vm1.qcow2"


# --- storage.cluster_fs ------------------------------------------------------------------

def gfs2(fstype="gfs2"):
    return replace(mount("/srv/vmstore", fstype, "/dev/mapper/mpatha"), major_minor="253:3")


def dm_dev(uuid=UUID, fstype="gfs2"):
    d = lun("dm-3", wwn="0x600", type="mpath")
    return replace(d, path="/dev/mapper/mpatha", maj_min="253:3", uuid=uuid, fstype=fstype)


RUNNING = ClusterStack(proc_readable=True, processes=("corosync", "dlm_controld"))


def cfs_host(name, uuid=UUID, stack=RUNNING, fstype="gfs2", **kw):
    kw.setdefault("mounts", (ROOT, gfs2(fstype)))
    kw.setdefault("block", block_facts(dm_dev(uuid, fstype)))
    return host(name, cluster_stack=stack, fs_ids={}, **kw)


def cfs_mig(src=None, dst=None):
    dom = domain(disks=(file_disk(IMG),))
    src = src or cfs_host("hv1", domains=(dom,))
    return migration(dom, src, dst or cfs_host("hv2"))


def test_same_gfs2_and_stack_running_passes():
    assert statuses(cluster_fs(cfs_mig())) == ["pass", "pass"]


def test_other_uuid_fails():
    found = cluster_fs(cfs_mig(dst=cfs_host("hv2", uuid=OTHER)))
    assert statuses(found) == ["fail", "pass"] and OTHER in found[0].message


def test_stack_stopped_fails_and_names_the_daemon():
    found = cluster_fs(cfs_mig(dst=cfs_host("hv2", stack=ClusterStack(proc_readable=True, processes=("corosync",)))))
    assert statuses(found) == ["pass", "fail"] and "dlm_controld" in found[1].message


def test_stack_unknown_warns_absent_tool_is_not_stopped():
    hidden = ClusterStack(proc_readable=False, units={})          # hidepid and no systemctl
    assert statuses(cluster_fs(cfs_mig(dst=cfs_host("hv2", stack=hidden)))) == ["pass", "warn"]
    by_units = ClusterStack(proc_readable=False, units={"dlm": "active", "corosync": "inactive"})
    assert statuses(cluster_fs(cfs_mig(dst=cfs_host("hv2", stack=by_units)))) == ["pass", "fail"]


def test_ocfs2_o2cb_stack():
    online = ClusterStack(proc_readable=True, ocfs2_stack="o2cb", o2cb_clusters=("ocfs2",))
    assert statuses(cluster_fs(cfs_mig(cfs_host("hv1", fstype="ocfs2", domains=(domain(disks=(file_disk(IMG),)),)),
                                       cfs_host("hv2", fstype="ocfs2", stack=online)))) == ["pass", "pass"]
    offline = replace(online, o2cb_clusters=())
    found = cluster_fs(cfs_mig(cfs_host("hv1", fstype="ocfs2", domains=(domain(disks=(file_disk(IMG),)),)),
                               cfs_host("hv2", fstype="ocfs2", stack=offline)))
    assert statuses(found) == ["pass", "fail"] and "o2cb" in found[1].message


def test_uuid_unknown_or_stack_not_gathered_is_error():
    no_uuid = cfs_host("hv2", block=block_facts(dm_dev(uuid=None)), fact_errors={"blkid": "not gathered"})
    assert statuses(cluster_fs(cfs_mig(dst=no_uuid))) == ["error", "pass"]
    no_stack = cfs_host("hv2", stack=None, fact_errors={"cluster_stack": "the cluster stack was not gathered"})
    assert statuses(cluster_fs(cfs_mig(dst=no_stack))) == ["pass", "error"]


def test_readonly_image_on_gfs2_is_judged_too():
    dom = domain(disks=(file_disk(IMG, readonly=True),))
    assert statuses(cluster_fs(migration(dom, cfs_host("hv1", domains=(dom,)), cfs_host("hv2", uuid=OTHER)))) \
        == ["fail", "pass"]


def test_not_a_cluster_fs_skips_and_other_fs_on_destination_fails():
    assert statuses(cluster_fs(migration())) == ["skip"]          # nfs4
    dst = cfs_host("hv2", mounts=(ROOT, mount("/srv/vmstore", "nfs4", "nas:/vol0")))
    assert statuses(cluster_fs(cfs_mig(dst=dst))) == ["fail"]


# --- storage.qemu_write_access -------------------------------------------------------------

QEMU = QemuCredentials(user="libvirt-qemu", uid=64055, gid=64055, groups=(108, 64055), group="libvirt-qemu")


def st(path, uid=0, gid=0, mode=0o755, kind="directory"):
    return FileStat(path=path, uid=uid, gid=gid, mode=mode, kind=kind)


def stats(img_uid=64055, img_mode=0o600, dir_mode=0o711):
    return {IMG: st(IMG, img_uid, img_uid, img_mode, "regular file"), "/srv/vmstore": st("/srv/vmstore", mode=dir_mode),
            "/srv": st("/srv"), "/": st("/")}


def wa_mig(src_stats=None, dst_stats=None, cred=QEMU, write_tests=None, fstype="glusterfs", **dkw):
    m = mount("/srv/vmstore", "fuse.glusterfs" if fstype == "glusterfs" else fstype, "nas:/vol0")
    dom = domain(disks=(file_disk(IMG, **dkw),))
    src = host("hv1", domains=(dom,), mounts=(ROOT, m), file_stats=stats() if src_stats is None else src_stats)
    dst = host("hv2", mounts=(ROOT, m), qemu_cred=cred, write_tests=write_tests,
               file_stats=stats() if dst_stats is None else dst_stats)
    return migration(dom, src, dst)


def test_owned_by_qemu_passes_and_says_so():
    found = qemu_write_access(wa_mig())
    assert statuses(found) == ["pass"] and "64055:64055 0600" in found[0].observed


def test_root_owned_0600_with_dynamic_ownership_passes_without_it_fails():
    assert statuses(qemu_write_access(wa_mig(src_stats=stats(img_uid=0)))) == ["pass"]
    no_dyn = replace(QEMU, dynamic_ownership=False)
    assert statuses(qemu_write_access(wa_mig(src_stats=stats(img_uid=0), cred=no_dyn))) == ["fail"]


def test_owner_bits_without_write_fail_even_with_dynamic_ownership():
    assert statuses(qemu_write_access(wa_mig(src_stats=stats(img_uid=0, img_mode=0o444)))) == ["fail"]


def test_group_access_today_is_lost_after_libvirts_chown():
    """0660-like access through the group only: libvirt chowns to QEMU's uid, keeps the mode 0060."""
    group_only = stats(img_uid=0, img_mode=0o060)
    group_only[IMG] = replace(group_only[IMG], gid=108)                 # kvm: one of QEMU's groups
    assert statuses(qemu_write_access(wa_mig(src_stats=group_only))) == ["fail"]
    assert statuses(qemu_write_access(wa_mig(src_stats=group_only, cred=replace(QEMU, dynamic_ownership=False)))) \
        == ["pass"]
    assert statuses(qemu_write_access(wa_mig(src_stats=group_only, fstype="nfs4"))) == ["warn"]


def test_nfs_root_owned_relies_on_chown_warns():
    assert statuses(qemu_write_access(wa_mig(src_stats=stats(img_uid=0), fstype="nfs4"))) == ["warn"]


def test_directory_not_searchable_fails():
    found = qemu_write_access(wa_mig(src_stats=stats(dir_mode=0o700), dst_stats=stats(dir_mode=0o700)))
    assert statuses(found) == ["fail"] and "/srv/vmstore" in found[0].message
    dst = stats()
    dst["/srv"] = st("/srv", mode=0o700)            # above the mount point: the destination's own /srv
    found = qemu_write_access(wa_mig(dst_stats=dst))
    assert statuses(found) == ["fail"] and "cannot search /srv" in found[0].message


def test_root_qemu_judged_by_bits_unless_capabilities_kept():
    root = QemuCredentials(user="root", uid=0, gid=0, groups=(0,), dynamic_ownership=False)
    assert statuses(qemu_write_access(wa_mig(cred=root))) == ["fail"]        # 64055-owned 0600, caps dropped
    assert statuses(qemu_write_access(wa_mig(cred=replace(root, keeps_caps=True)))) == ["pass"]


def test_missing_facts_are_errors_never_pass():
    missing = qemu_write_access(wa_mig(cred=None))
    assert statuses(missing) == ["error"]
    assert statuses(qemu_write_access(wa_mig(src_stats={}))) == ["error"]
    dst = stats()
    del dst["/srv"]
    assert statuses(qemu_write_access(wa_mig(dst_stats=dst))) == ["error"]


def test_readonly_and_local_disks_are_not_judged():
    assert statuses(qemu_write_access(wa_mig(readonly=True))) == ["skip"]
    dom = domain(disks=(file_disk("/var/lib/libvirt/images/x.qcow2"),))
    assert statuses(qemu_write_access(migration(dom))) == ["skip"]


def test_write_test_outcome_is_the_verdict():
    ok = WriteTest(directory="/srv/vmstore", user="libvirt-qemu", created=True, removed=True,
                   images_writable={IMG: True})
    assert statuses(qemu_write_access(wa_mig(src_stats={}, write_tests={"/srv/vmstore": ok}))) == ["pass"]
    ro = WriteTest(directory="/srv/vmstore", user="libvirt-qemu",
                   error="creating ... as libvirt-qemu: Read-only file system", images_writable={IMG: False})
    found = qemu_write_access(wa_mig(write_tests={"/srv/vmstore": ro}))
    assert statuses(found) == ["fail"]
    denied_dir = WriteTest(directory="/srv/vmstore", user="libvirt-qemu", error="... Permission denied",
                           images_writable={IMG: True})
    assert statuses(qemu_write_access(wa_mig(write_tests={"/srv/vmstore": denied_dir}))) == ["warn"]
    nospace = replace(denied_dir, error="... No space left on device", images_writable={})
    assert statuses(qemu_write_access(wa_mig(write_tests={"/srv/vmstore": nospace}))) == ["fail"]


# --- storage.disk_secrets ------------------------------------------------------------------

SUUID = "0a81f5b2-8403-7b23-c8d6-21ccc2f80d6f"


def rbd(by="uuid", ref=SUUID):
    return Disk(target="vdb", type="network", protocol="rbd", name="pool/img", has_auth=True, auth_secret=ref,
                auth_secret_by=by, auth_secret_type="ceph")


def sec_mig(secrets, disk=None, **kw):
    dom = domain(disks=(disk or rbd(),))
    return migration(dom, host("hv1", domains=(dom,)), host("hv2", secrets=secrets, **kw))


CEPH = LibvirtSecret(uuid=SUUID, usage_type="ceph", usage_id="client.libvirt secret", ephemeral=False, private=True)


def test_secret_present_by_uuid_or_usage_passes():
    found = disk_secrets(sec_mig((CEPH,)))
    assert statuses(found) == ["pass"] and "private" in found[0].message
    assert statuses(disk_secrets(sec_mig((CEPH,), rbd("usage", "client.libvirt secret")))) == ["pass"]


def test_secret_missing_fails_naming_it():
    found = disk_secrets(sec_mig((replace(CEPH, uuid=OTHER),)))
    assert statuses(found) == ["fail"] and SUUID in found[0].message
    iscsi_same_usage = replace(CEPH, usage_type="iscsi")
    assert statuses(disk_secrets(sec_mig((iscsi_same_usage,), rbd("usage", "client.libvirt secret")))) == ["fail"]


def test_ephemeral_warns():
    assert statuses(disk_secrets(sec_mig((replace(CEPH, ephemeral=True),)))) == ["warn"]


def test_secret_list_unknown_or_partial_is_error():
    assert statuses(disk_secrets(sec_mig(None, fact_errors={"secrets": "listAllSecrets failed"}))) == ["error"]
    assert statuses(disk_secrets(sec_mig((LibvirtSecret(uuid="?"),)))) == ["error"]


def test_no_auth_skips():
    assert statuses(disk_secrets(migration())) == ["skip"]


def test_runner_never_passes_on_an_old_recording():
    """Through the runner, with the facts an old recording lacks: ERROR, not PASS, not a crash."""
    dom = domain(disks=(file_disk(IMG), rbd()))
    m = mount("/srv/vmstore", "fuse.glusterfs", "nas:/vol0")
    gaps = {"image_access": "not gathered", "secrets": "not gathered", "cluster_stack": "not gathered",
            "blkid": "not gathered"}
    src = host("hv1", domains=(dom,), mounts=(ROOT, m), fact_errors=gaps)
    dst = host("hv2", mounts=(ROOT, m), fact_errors=gaps)
    facts = cluster(src, dst)
    for func, want in ((qemu_write_access, {"error"}), (disk_secrets, {"error"}), (cluster_fs, {"skip"})):
        results = run_spec(func, facts)
        assert {r.status.value for r in results} == want, (func.__name__, results)
