"""storage.shared (backing chains, pools, block LUNs, NVRAM, TPM) and storage.cache_mode on typed facts."""

from dataclasses import replace

from factories import (NFS, ROOT, Disk, MultipathMap, PoolVolume, StoragePool, Tpm, as_list, block_disk,
                       block_facts, caps, chain, domain, file_disk, host, lun, migration, mount, net_disk,
                       on_host, statuses, volume_disk)
from preflight.checks.storage import LIBVIRT_CACHE_REFUSAL, cache_mode, shared_storage

TOP = "/srv/vmstore/vm1.qcow2"


def findings(ctx):
    return as_list(shared_storage(ctx))


# --- backing chains ---------------------------------------------------------------------------

def test_qcow2_on_shared_storage_with_local_backing_file_fails_naming_it():
    dom = domain(disks=(file_disk(TOP, backing=None),))
    src = host("hv1", domains=(dom,), disk_chains={TOP: chain(TOP, "/var/lib/libvirt/images/base.qcow2")})
    top, base = findings(migration(dom, src))
    assert top.status.value == "pass"
    assert base.status.value == "fail" and "/var/lib/libvirt/images/base.qcow2" in base.message
    assert "backing file" in base.message and base.disk == "vda"


def test_whole_chain_on_the_share_passes_element_by_element():
    dom = domain(disks=(file_disk(TOP, backing=None),))
    src = host("hv1", domains=(dom,), disk_chains={TOP: chain(TOP, "/srv/vmstore/mid.qcow2", "/srv/vmstore/base.raw")})
    assert statuses(shared_storage(migration(dom, src))) == ["pass", "pass", "pass"]


def test_relative_backing_names_are_normalised_before_the_mount_lookup():
    dom = domain(disks=(file_disk(TOP, backing=None),))
    src = host("hv1", domains=(dom,), disk_chains={TOP: chain(TOP, "/srv/vmstore/sub/../../../root/base.raw")})
    assert statuses(shared_storage(migration(dom, src))) == ["pass", "fail"]


def test_libvirt_backingstore_is_used_when_qemu_img_was_not_asked():
    dom = domain(disks=(file_disk(TOP, backing=("/root/base.qcow2",)),))
    src = host("hv1", domains=(dom,), fact_errors={"chains": "no qemu-img backing chain was gathered"})
    assert statuses(shared_storage(migration(dom, src))) == ["pass", "fail"]


def test_unknown_chain_of_a_qcow2_is_undecided_never_pass():
    dom = domain(disks=(file_disk(TOP, backing=None),))
    src = host("hv1", domains=(dom,), fact_errors={"chains": "no qemu-img backing chain was gathered"})
    top, unknown = findings(migration(dom, src))
    assert unknown.status.value == "error" and "no qemu-img backing chain was gathered" in unknown.message


def test_qemu_img_failure_is_undecided():
    dom = domain(disks=(file_disk(TOP, backing=None),))
    src = host("hv1", domains=(dom,), disk_chains={TOP: chain(TOP, error="Could not open backing file")})
    assert statuses(shared_storage(migration(dom, src))) == ["pass", "error"]


def test_raw_image_needs_no_chain():
    dom = domain(disks=(file_disk("/srv/vmstore/vm1.raw", format="raw", backing=None),))
    src = host("hv1", domains=(dom,), fact_errors={"chains": "not gathered"})
    assert statuses(shared_storage(migration(dom, src))) == ["pass"]


def test_nfs_network_qcow2_with_local_backing_file_fails():
    disk = replace(net_disk("nfs", "nas", "/export/vm1.qcow2", target="vda"), format="qcow2")
    dom = domain(disks=(disk,))
    src = host("hv1", domains=(dom,), disk_chains={"nfs://nas/export/vm1.qcow2": chain(
        "nfs://nas/export/vm1.qcow2", "/var/lib/libvirt/images/base.qcow2")})
    assert statuses(shared_storage(migration(dom, src))) == ["pass", "fail"]


def test_qcow2_network_disk_with_unknown_chain_is_undecided():
    disk = replace(net_disk("iscsi", "nas", "iqn.2026-11.lab:vmstore/1", target="vda"), format="qcow2")
    assert statuses(shared_storage(migration(domain(disks=(disk,))))) == ["pass", "error"]
    assert statuses(shared_storage(migration(domain(disks=(replace(disk, backing=()),))))) == ["pass"]


# --- pool volumes -----------------------------------------------------------------------------

NETFS = StoragePool(name="vmpool", type="netfs", target_path="/srv/vmstore", source_hosts=("nas",),
                    source_dir="/vol0", source_format="nfs")
VOL = {("vmpool", "vm1.qcow2"): PoolVolume("vmpool", "vm1.qcow2", path="/srv/vmstore/vm1.qcow2")}


def vol_ctx(src_pool=NETFS, dst_pools=None, volumes=VOL, **dst_kw):
    dom = domain(disks=(volume_disk(),))
    src = host("hv1", domains=(dom,), pools={src_pool.name: src_pool} if src_pool else {}, volumes=volumes)
    dst = host("hv2", pools={NETFS.name: NETFS} if dst_pools is None else dst_pools, **dst_kw)
    return migration(dom, src, dst)


def test_netfs_pool_volume_on_the_same_pool_passes():
    [f] = findings(vol_ctx())
    assert f.status.value == "pass" and "netfs pool vmpool" in f.message


def test_pool_missing_on_destination_fails():
    [f] = findings(vol_ctx(dst_pools={}))
    assert f.status.value == "fail" and "not defined on hv2" in f.message


def test_pool_with_other_source_on_destination_fails():
    other = replace(NETFS, source_dir="/vol1")
    [f] = findings(vol_ctx(dst_pools={"vmpool": other}))
    assert f.status.value == "fail" and "other storage" in f.message


def test_inactive_pool_on_destination_fails():
    [f] = findings(vol_ctx(dst_pools={"vmpool": replace(NETFS, active=False)}))
    assert f.status.value == "fail" and "not active" in f.message


def test_unresolvable_volume_is_undecided():
    assert statuses(shared_storage(vol_ctx(src_pool=None))) == ["error"]
    assert statuses(shared_storage(vol_ctx(volumes={}))) == ["error"]
    dom = domain(disks=(volume_disk(),))
    src = host("hv1", domains=(dom,), fact_errors={"pools": "the libvirt storage pool list was not gathered"})
    [f] = findings(migration(dom, src))
    assert f.status.value == "error" and "not gathered" in f.message


def test_dir_pool_on_a_share_mounted_elsewhere_on_the_destination_is_followed():
    share = StoragePool(name="vmpool", type="dir", target_path="/srv/vmstore")
    there = StoragePool(name="vmpool", type="dir", target_path="/mnt/vmstore")
    dst = host("hv2", pools={"vmpool": there}, mounts=(ROOT, mount("/mnt/vmstore", "nfs4", "nas:/vol0")))
    dom = domain(disks=(volume_disk(),))
    src = host("hv1", domains=(dom,), pools={"vmpool": share}, volumes=VOL)
    [f] = findings(migration(dom, src, dst))
    assert f.status.value == "pass"
    dst = host("hv2", pools={"vmpool": there}, mounts=(ROOT, mount("/mnt/vmstore", "nfs4", "nas:/vol1")))
    [f] = findings(migration(dom, src, dst))
    assert f.status.value == "fail" and "different share" in f.message


def test_dir_pool_on_local_disk_fails_and_logical_pool_is_host_local():
    local = StoragePool(name="vmpool", type="dir", target_path="/var/lib/libvirt/images")
    vols = {("vmpool", "vm1.qcow2"): PoolVolume("vmpool", "vm1.qcow2", path="/var/lib/libvirt/images/vm1.qcow2")}
    [f] = findings(vol_ctx(src_pool=local, dst_pools={"vmpool": local}, volumes=vols))
    assert f.status.value == "fail" and "local storage" in f.message
    lvm = StoragePool(name="vmpool", type="logical", target_path="/dev/vg0", source_name="vg0")
    vols = {("vmpool", "vm1.qcow2"): PoolVolume("vmpool", "vm1.qcow2", path="/dev/vg0/vm1")}
    [f] = findings(vol_ctx(src_pool=lvm, dst_pools={"vmpool": lvm}, volumes=vols))
    assert f.status.value == "fail" and "host-local block storage" in f.message


# --- block devices ----------------------------------------------------------------------------

WWN = "0x6001405b1629f80d52a4c898f8856e43"
BYID = "/dev/disk/by-id/wwn-0x6001405b1629f80d52a4c898f8856e43"


def blk(*devs, **kw):
    return block_facts(lun("vda", serial="boot", tran=None), *devs, **kw)


def blk_ctx(path, src_block, dst_block):
    dom = domain(disks=(file_disk(), block_disk(path)))
    return migration(dom, host("hv1", domains=(dom,), block=src_block), host("hv2", block=dst_block))


def test_same_lun_under_the_same_by_id_path_passes():
    b1 = blk(lun("sdb", wwn=WWN), by_id={"wwn-0x6001405b1629f80d52a4c898f8856e43": "sdb"})
    b2 = blk(lun("sdc", wwn=WWN), by_id={"wwn-0x6001405b1629f80d52a4c898f8856e43": "sdc"})
    vda, vdb = findings(blk_ctx(BYID, b1, b2))
    assert vdb.status.value == "pass" and "6001405b1629f80d52a4c898f8856e43" in vdb.message


def test_lun_absent_on_destination_fails():
    b1 = blk(lun("sdb", wwn=WWN), by_id={"wwn-0x6001405b1629f80d52a4c898f8856e43": "sdb"})
    _, vdb = findings(blk_ctx(BYID, b1, blk()))
    assert vdb.status.value == "fail" and "does not exist on hv2" in vdb.message


def test_iscsi_by_path_pointing_at_another_lun_fails():
    path = "/dev/disk/by-path/ip-10.0.0.5:3260-iscsi-iqn.2026-11.lab:vmstore-lun-1"
    name = path.rsplit("/", 1)[1]
    b1 = blk(lun("sdb", wwn=WWN), by_path={name: "sdb"})
    b2 = blk(lun("sdb", wwn="0x60014050000000000000000000000001"), by_path={name: "sdb"})
    _, vdb = findings(blk_ctx(path, b1, b2))
    assert vdb.status.value == "fail" and "different device" in vdb.message


def test_multipath_alias_with_the_same_wwid_passes_and_other_alias_fails():
    m1 = {"mpatha": MultipathMap("mpatha", "3" + WWN[2:], dm="dm-0", paths=("sdb", "sdc"))}
    m2 = {"mpathb": MultipathMap("mpathb", "3" + WWN[2:], dm="dm-3", paths=("sdd",))}
    b1, b2 = blk(multipath=m1), blk(multipath=m1)
    assert statuses(shared_storage(blk_ctx("/dev/mapper/mpatha", b1, b2))) == ["pass", "pass"]
    _, vdb = findings(blk_ctx("/dev/mapper/mpatha", b1, blk(multipath=m2)))
    assert vdb.status.value == "fail" and "dm-3" in vdb.message     # visible there, under another name


def test_plain_sdx_is_a_warning_even_when_it_matches():
    b = blk(lun("sdb", wwn=WWN))
    _, vdb = findings(blk_ctx("/dev/sdb", b, b))
    assert vdb.status.value == "warn" and "change" in vdb.message


def test_device_without_identity_or_inventory_is_undecided():
    b = blk(lun("sdb"))
    assert statuses(shared_storage(blk_ctx("/dev/sdb", b, b)))[1] == "error"
    dom = domain(disks=(block_disk("/dev/sdb"),))
    src = host("hv1", domains=(dom,), block=None, fact_errors={"block": "`lsblk ...` was not gathered"})
    [f] = findings(migration(dom, src))
    assert f.status.value == "error" and "not gathered" in f.message


# --- NVRAM and TPM ----------------------------------------------------------------------------

def test_local_nvram_warns_and_shared_nvram_passes():
    dom = domain(nvram="/var/lib/libvirt/qemu/nvram/vm1_VARS.fd")
    _, f = findings(migration(dom))
    assert f.status.value == "warn" and f.disk == "nvram" and "does not copy NVRAM" in f.message
    dom = domain(nvram="/srv/vmstore/nvram/vm1_VARS.fd")
    assert statuses(shared_storage(migration(dom))) == ["pass", "pass"]


def test_tpm_emulator_state_is_local_by_design_and_passthrough_fails():
    dom = domain(tpms=(Tpm(model="tpm-crb", state_path="/var/lib/libvirt/swtpm/u/tpm2"),))
    assert statuses(shared_storage(migration(dom))) == ["pass", "pass"]
    dom = domain(tpms=(Tpm(model="tpm-tis", backend="passthrough"),))
    assert statuses(shared_storage(migration(dom))) == ["pass", "fail"]


# --- cache mode -------------------------------------------------------------------------------

def cache_statuses(dom, h=None):
    return statuses(cache_mode(on_host(dom, h)))


def test_cache_none_and_directsync_pass():
    dom = domain(disks=(file_disk(cache="none"), file_disk("/srv/vmstore/b.qcow2", "vdb", cache="directsync")))
    assert cache_statuses(dom) == ["pass", "pass"]


def test_writeback_passes_only_with_drop_cache():
    dom = domain(disks=(file_disk(cache="writeback"),))
    assert cache_statuses(dom) == ["pass"]
    old = host("hv1", domains=(dom,), qemu_caps={"/usr/bin/qemu-system-x86_64": caps(drop_cache=False)})
    [f] = as_list(cache_mode(on_host(dom, old)))
    assert f.status.value == "fail" and LIBVIRT_CACHE_REFUSAL in f.message
    assert "capabilities" in f.source


def test_default_cache_counts_as_not_none():
    dom = domain(disks=(file_disk(cache=None),))
    old = host("hv1", domains=(dom,), qemu_caps={"/usr/bin/qemu-system-x86_64": caps(drop_cache=False)})
    assert cache_statuses(dom, old) == ["fail"]


def test_missing_capabilities_cache_is_undecided():
    dom = domain(disks=(file_disk(cache="writeback"),))
    h = host("hv1", domains=(dom,), qemu_caps={}, fact_errors={"qemu_caps": "cache could not be read"})
    [f] = as_list(cache_mode(on_host(dom, h)))
    assert f.status.value == "error" and "cache could not be read" in f.message
    h = host("hv1", domains=(dom,), qemu_caps={"/usr/bin/other": caps("/usr/bin/other")})
    assert cache_statuses(dom, h) == ["error"]


def test_cache_rule_exemptions():
    dom = domain(disks=(file_disk("/var/lib/libvirt/images/x.qcow2", cache="writeback"),        # local: storage.shared
                        Disk(target="sda", device="cdrom", path="/srv/vmstore/boot.iso", readonly=True),
                        replace(net_disk(), cache="writeback"),
                        file_disk("/srv/gfs/x.qcow2", "vdc", cache="unsafe"),
                        file_disk("/srv/vmstore/s.raw", "vdd", cache="writeback", shareable=True)))
    h = host("hv1", domains=(dom,), mounts=(ROOT, NFS, mount("/srv/gfs", "gfs2", "/dev/mapper/clustervg-lv")),
             qemu_caps={"/usr/bin/qemu-system-x86_64": caps(drop_cache=False)})
    assert cache_statuses(dom, h) == ["skip", "skip", "pass", "pass", "pass"]


def test_cache_of_a_netfs_volume_is_judged_on_its_path():
    dom = domain(disks=(volume_disk(cache="writeback"),))
    h = host("hv1", domains=(dom,), pools={"vmpool": NETFS}, volumes=VOL,
             qemu_caps={"/usr/bin/qemu-system-x86_64": caps(drop_cache=False)})
    assert cache_statuses(dom, h) == ["fail"]


def test_writeback_on_glusterfs_fuse_is_coherent_with_libvirt_9():
    """Lab oracle (libvirt 9.0.0, QEMU capabilities cache without migration-file-drop-cache): a
    cache='writeback' disk on a fuse.glusterfs mount really migrates (virFileIsClusterFS counts
    GlusterFS and CephFS). Older libvirt: the drop-cache rule applies (fail closed)."""
    dom = domain(disks=(file_disk("/srv/gl/x.qcow2", cache="writeback"),))
    gl = mount("/srv/gl", "fuse.glusterfs", "nas:/vol0")
    nodrop = caps(drop_cache=False)
    h = host("hv1", domains=(dom,), mounts=(ROOT, NFS, gl), qemu_caps={nodrop.emulator: nodrop})
    [f] = as_list(cache_mode(on_host(dom, h)))
    assert f.status.value == "pass" and "fuse.glusterfs" in f.message and "9.0.0" in f.message
    old = replace(nodrop, libvirt_version=8000000)
    h = host("hv1", domains=(dom,), mounts=(ROOT, NFS, gl), qemu_caps={old.emulator: old})
    assert cache_statuses(dom, h) == ["fail"]
    # the NFS share of the factories is not coherent: still the drop-cache rule
    dom = domain(disks=(file_disk(cache="writeback"),))
    h = host("hv1", domains=(dom,), qemu_caps={nodrop.emulator: nodrop})
    assert cache_statuses(dom, h) == ["fail"]
