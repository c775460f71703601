"""Storage fact parsers on recorded real outputs (tests/fixtures/SOURCES.md, storage/)."""

import pytest

from _fixtures import read
from preflight.facts.blockdev import (lun_identity, normalize_wwid, parse_fc_ports, parse_iscsi_sessions,
                                      parse_lsblk, parse_multipath, parse_symlink_listing, resolve_block_path)
from preflight.facts.models import BlockFacts
from preflight.facts.qemu_img import parse_backing_chain, parse_qemu_caps_grep
from preflight.facts.storage_parse import parse_storage_fields
from preflight.facts.storage_pool import parse_pool_xml

S = "storage/"


def test_qemu_img_three_image_chain_top_first_with_full_backing_names():
    top = "/tmp/pfx/img/top/vm.qcow2"
    chain = parse_backing_chain(top, read(S + "qemu-img-chain3.this-machine.json"))
    assert [i.format for i in chain.images] == ["qcow2", "qcow2", "raw"]
    # the relative backing name ../base/mid.qcow2 comes back resolved against the overlay
    assert chain.images[0].backing == "/tmp/pfx/img/top/../base/mid.qcow2"
    assert chain.backing_files == ("/tmp/pfx/img/top/../base/mid.qcow2", "/tmp/pfx/img/base/base.raw")
    assert chain.images[-1].backing is None and chain.error is None


def test_qemu_img_single_image_on_the_lab_gluster_mount():
    chain = parse_backing_chain("/srv/vmstore/vm-gluster.qcow2", read(S + "qemu-img-chain1.lab-gluster.json"))
    assert chain.backing_files == () and chain.images[0].filename == "/srv/vmstore/vm-gluster.qcow2"


def test_qemu_img_garbage_is_an_error():
    with pytest.raises(ValueError):
        parse_backing_chain("/x", "qemu-img: Could not open '/x'")


def test_missing_backing_file_becomes_a_chain_error_not_a_crash():
    err = read(S + "qemu-img-missing-backing.this-machine.stderr")
    fields = parse_storage_fields({"chains": {"/tmp/pfx/img/top/broken.qcow2": {"rc": 1, "out": "", "err": err}}},
                                  errors := {})
    chain = fields["disk_chains"]["/tmp/pfx/img/top/broken.qcow2"]
    assert chain.images == () and "gone.qcow2" in chain.error and "exited 1" in chain.error
    assert "chains" not in errors


def test_qemu_caps_cache_grep_from_a_lab_host():
    caps = parse_qemu_caps_grep(read(S + "qemu-caps-cache-grep.lab-hv1.txt"))
    x86 = caps["/usr/bin/qemu-system-x86_64"]
    assert x86.drop_cache and x86.libvirt_version == 9000000 and x86.qemu_version == 7002022
    assert x86.cache_file.endswith(".xml") and set(caps) == {"/usr/bin/qemu-system-x86_64",
                                                              "/usr/bin/qemu-system-i386"}


def test_qemu_caps_without_the_flag_line_means_no_drop_cache():
    text = "\n".join(line for line in read(S + "qemu-caps-cache-grep.lab-hv1.txt").splitlines()
                     if "drop-cache" not in line)
    assert not parse_qemu_caps_grep(text)["/usr/bin/qemu-system-x86_64"].drop_cache


def test_lsblk_this_machine():
    devs = parse_lsblk(read(S + "lsblk.this-machine.json"))
    assert devs["vda"].path == "/dev/vda" and devs["vda"].type == "disk" and devs["vda"].wwn is None
    assert lun_identity(BlockFacts(devices=devs), "vda") is None       # a virtio disk: no WWN, no serial


def test_by_id_listing_maps_links_to_kernel_names():
    links = parse_symlink_listing(read(S + "ls-l-disk-by-id.pve-blog-excerpt.txt"))
    assert links["wwn-0x5000c500474cd7eb"] == "sda" and links["scsi-35000c500474cd7eb"] == "sda"
    assert links["nvme-INTEL_SSDPE2KX020T8_BTLJ039307142P0BGN"] == "nvme2n1"
    assert "." not in links and ".." not in links


def test_multipath_ll_real_capture_with_log_lines_and_pathless_maps():
    maps = parse_multipath(read(S + "multipath-ll.multipath-tools-issue12.txt"))
    assert list(maps) == ["36006016040203100d2fba8d4190de711", "36006016022f04400e3e62561e0efe3a6",
                          "36006016022f0440013d6296107dfe3c7"]
    m = maps["36006016040203100d2fba8d4190de711"]
    assert (m.dm, m.vendor_product, m.size) == ("dm-6", "DGC,VRAID", "10G")
    assert m.paths == ("sdg", "sdc", "sds", "sdu")
    assert maps["36006016022f0440013d6296107dfe3c7"].paths == ()


def test_iscsiadm_session_p3_real_capture():
    [s] = parse_iscsi_sessions(read(S + "iscsiadm-session-P3.flatcar-issue349.txt"))
    assert s.target == "iqn.1992-04.com.emc:cx.apm00191923511.a4"
    assert s.portal == "10.1.53.160:3260" and s.state == "LOGGED_IN" and s.disks == ((0, "sdb"),)


def test_wwid_spellings_meet():
    assert normalize_wwid("36006016040203100d2fba8d4190de711") == normalize_wwid("0x6006016040203100d2fba8d4190de711")
    assert normalize_wwid("wwn-0x5000c500474cd7eb") == "5000c500474cd7eb"


def test_multipath_map_resolves_to_its_wwid_and_alias_path():
    block = BlockFacts(devices={}, multipath=parse_multipath(read(S + "multipath-ll.multipath-tools-issue12.txt")))
    kname, how = resolve_block_path(block, "/dev/mapper/36006016040203100d2fba8d4190de711")
    assert (kname, how) == ("dm-6", "multipath map")
    assert lun_identity(block, kname) == ("wwid", "6006016040203100d2fba8d4190de711")


def test_fc_port_lines():
    assert parse_fc_ports("/sys/class/fc_host/host5/port_state Online\n") == {"host5": "Online"}


@pytest.mark.parametrize("name,ptype,identity_bits", [
    ("pool-netfs.libvirt.xml", "netfs", ("localhost", "/var/lib/libvirt/images")),
    ("pool-dir.libvirt.xml", "dir", ()),
    ("pool-iscsi.libvirt.xml", "iscsi", ("iscsi.example.com", "demo-target")),
    ("pool-rbd.libvirt.xml", "rbd", ("localhost", "rbd")),
    ("pool-gluster.libvirt.xml", "gluster", ("localhost", "volume")),
])
def test_pool_xml_from_libvirt_tests(name, ptype, identity_bits):
    pool = parse_pool_xml(read(S + name))
    assert pool.type == ptype
    flat = repr(pool.source_identity)
    assert all(bit in flat for bit in identity_bits)


def test_pool_dir_target_path_is_normalised():
    assert parse_pool_xml(read(S + "pool-dir.libvirt.xml")).target_path == "/var/lib/libvirt/images"


def test_storage_fields_of_an_old_recording_are_named_missing():
    errors = {}
    fields = parse_storage_fields({"shell": {}, "libvirt": {"domains": []}}, errors)
    assert fields == {} and set(errors) == {"block", "qemu_caps", "pools", "chains"}


def test_block_fact_without_optional_tools():
    shell = {"lsblk": {"rc": 0, "out": read(S + "lsblk.this-machine.json"), "err": ""},
             "disk_by_id": {"rc": 2, "out": "", "err": "ls: cannot access '/dev/disk/by-id': No such file or directory\n"},
             "disk_by_path": {"rc": 0, "out": read(S + "ls-l-disk-by-id.pve-blog-excerpt.txt"), "err": ""},
             "multipath": {"rc": 127, "out": "", "err": "timeout: failed to run command 'multipath'"},
             "iscsi_sessions": {"rc": 21, "out": "", "err": "iscsiadm: No active sessions.\n"},
             "fc_hosts": {"rc": 0, "out": "", "err": ""}}
    errors = {}
    block = parse_storage_fields({"shell": shell}, errors)["block"]
    assert "block" not in errors and block.errors == {}
    assert block.by_id == {} and block.multipath is None and block.iscsi == ()
