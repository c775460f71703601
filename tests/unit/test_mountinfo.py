import pytest

from _fixtures import read
from preflight.facts.mountinfo import (MountinfoError, find_mount, parse_mountinfo,
                                       parse_mountinfo_line, split_source, unescape)


def test_this_machine_root_and_super_options():
    mounts = parse_mountinfo(read("host/mountinfo.this-machine.txt"))
    root = find_mount(mounts, "/var/lib/libvirt/images/vm.qcow2")
    assert (root.mountpoint, root.fstype, root.source) == ("/", "ext4", "/dev/vda")
    assert "discard" in root.super_options and root.options[0] == "rw"
    assert find_mount(mounts, "/dev/shm/x").fstype == "tmpfs"


def test_octal_escapes_in_mountpoint_and_source():
    mounts = parse_mountinfo(read("host/mountinfo.unshare-escapes.txt"))
    vm = [m for m in mounts if m.mountpoint.endswith("/vm store")]
    assert len(vm) == 1 and vm[0].source == "my tmpfs" and vm[0].super_options[1] == "size=1024k"
    hit = find_mount(mounts, vm[0].mountpoint + "/disk.qcow2")
    assert hit == vm[0]


def test_stacked_mounts_last_wins_and_bind_mount_root():
    mounts = parse_mountinfo(read("host/mountinfo.unshare-escapes.txt"))
    stack = next(m.mountpoint for m in mounts if m.source == "first")
    assert find_mount(mounts, stack + "/x").source == "second"
    ro_point = next(m.mountpoint for m in mounts if m.source == "rosrc")
    top = find_mount(mounts, ro_point + "/file")
    assert top.root == "/sub" and top.source == "my tmpfs" and not top.readonly
    assert next(m for m in mounts if m.source == "rosrc").readonly


def test_util_linux_optional_fields_cifs_and_stacked_autofs():
    mounts = parse_mountinfo(read("host/mountinfo.util-linux.txt"))
    shared = next(m for m in mounts if m.mountpoint == "/mnt/test/foobar")
    assert shared.fstype == "tmpfs" and shared.options == ("rw", "relatime")
    cifs = find_mount(mounts, "/mnt/sounds/a.wav")
    assert (cifs.fstype, cifs.source) == ("cifs", "//foo.home/bar/")
    assert "addr=192.168.111.1" in cifs.super_options
    assert find_mount(mounts, "/dev/hugepages/x").fstype == "hugetlbfs"   # autofs below, hugetlbfs on top


def test_moby_fedora_escaped_cifs_source_and_spaces_in_super_options():
    mounts = parse_mountinfo(read("host/mountinfo.moby-fedora-excerpt.txt"))
    cifs = find_mount(mounts, "/DATA/foo_bla_bla/file")
    assert cifs.source == "//foo/BLA BLA BLA/"
    assert "unc=\\\\foo\\BLA BLA BLA" in cifs.super_options
    assert find_mount(mounts, "/var/lib/libvirt/images/a.img").source == "/dev/mapper/ssd-virt"


def test_nfs4_line_from_libvirts_recorded_proc_mounts():
    # tests/fixtures/host/proc-mounts.libvirt-mounts3.txt holds a real nfs4 line in /proc/mounts
    # format. It is rewritten here (not recorded!) into the mountinfo layout, fields unchanged.
    line = next(x for x in read("host/proc-mounts.libvirt-mounts3.txt").splitlines() if " nfs4 " in x)
    source, point, fstype, options, _, _ = line.split(" ")
    mount = parse_mountinfo_line(f"40 20 0:45 / {point} rw,relatime shared:30 - {fstype} {source} {options}")
    assert (mount.fstype, mount.source, mount.mountpoint) == ("nfs4", "host:/nfs", "/nfs")
    assert "vers=4.1" in mount.super_options and "proto=tcp6" in mount.super_options
    assert split_source(mount.source) == ("host", "/nfs")


def test_malformed_or_empty_input_raises():
    with pytest.raises(MountinfoError):
        parse_mountinfo("")
    with pytest.raises(MountinfoError):
        parse_mountinfo("27 1 254:0 / / rw,relatime ext4 /dev/vda rw\n")     # no separator
    with pytest.raises(MountinfoError):
        parse_mountinfo("27 1 254:0 / / rw - ext4")                           # truncated


def test_find_mount_edges():
    mounts = parse_mountinfo("1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"
                             "2 1 0:50 / /srv/vmstore rw - nfs4 nas:/vol0 rw\n")
    assert find_mount(mounts, "/srv/vmstore").mountpoint == "/srv/vmstore"
    assert find_mount(mounts, "/srv/vmstore2/a").mountpoint == "/"
    assert find_mount(mounts, "/srv/./vmstore/../vmstore/a").mountpoint == "/srv/vmstore"
    assert find_mount(mounts, "relative/path") is None


def test_unescape_and_split_source():
    assert unescape(r"/a\040b\011c\134d") == "/a b\tc\\d"
    assert split_source("nas:/vol0/") == ("nas", "/vol0")
    assert split_source("//Server/Share") == ("server", "/Share")
    assert split_source("10.0.0.1:6789,10.0.0.2:6789:/") == ("10.0.0.1:6789,10.0.0.2:6789", "/")
    assert split_source("/dev/sda1") == (None, "/dev/sda1")


def test_a_mount_hidden_by_a_later_mount_on_its_parent_dir_is_not_used():
    mounts = parse_mountinfo(read("host/mountinfo.unshare-overmount.txt"))
    share = next(m for m in mounts if m.source == "share")
    assert share.mountpoint.endswith("/srv/vmstore")
    # `cover` was mounted on .../srv after `share` on .../srv/vmstore: the share is invisible
    assert find_mount(mounts, share.mountpoint + "/vm.qcow2").source == "cover"


def test_root_listed_after_its_children_still_resolves():
    mounts = parse_mountinfo(read("host/mountinfo.this-machine.txt"))
    assert mounts[0].mountpoint == "/proc" and find_mount(mounts, "/proc/1/status").fstype == "proc"
    assert find_mount(mounts, "/sys/fs/cgroup/memory/x").source == "cgroup"
