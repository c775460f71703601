"""fstab/systemd units parsing, storage-host raw entries (recorded from the lab's nas) -> facts."""

import json

import pytest

from _fixtures import read
from preflight.facts.fstab import FstabError, parse_fstab, parse_unit_files, unit_to_path
from preflight.facts.parse import parse_record
from preflight.facts.raw import FORMAT
from preflight.facts.storage_hosts import (STORAGE_SHELL_FACTS, hypervisors_serving_nfs, parse_host_storage_fields,
                                           parse_storage_host, parse_storage_hosts)


def lab_nas():
    return json.loads(read("nfs/storage-entry.lab-nas.json"))


def test_fstab_of_this_machine_is_only_a_comment():
    assert parse_fstab(read("host/fstab.this-machine.txt")) == ()


def test_fstab_syntax():
    # written by us: one line per syntax rule of fstab(5)
    text = ("# <file system> <mount point> <type> <options> <dump> <pass>\n"
            "UUID=0a3407de-014b-458b-b5c1-848e92a327a3 /   ext4 errors=remount-ro 0 1\n"
            "LABEL=data /srv/vm\\040store xfs defaults 0 2\n"
            "nas:/vol0  /srv/vmstore/  nfs4 hard,vers=4.2,_netdev 0 0\n"
            "nas:/iso   /srv/iso  nfs  noauto,ro 0 0\n"
            "nas:/auto  /srv/auto nfs  noauto,x-systemd.automount\n")
    entries = {e.mountpoint: e for e in parse_fstab(text)}
    assert entries["/"].spec.startswith("UUID=")
    assert entries["/srv/vm store"].spec == "LABEL=data"
    assert entries["/srv/vmstore"].fstype == "nfs4" and entries["/srv/vmstore"].line == 4
    assert entries["/srv/iso"].noauto and not entries["/srv/iso"].automount
    assert entries["/srv/auto"].automount
    with pytest.raises(FstabError):
        parse_fstab("/dev/sda1 /mnt\n")


def test_systemd_unit_files_recorded_here():
    units = parse_unit_files(read("host/systemctl-list-unit-files-mount.this-machine.txt"))
    paths = {path for _, _, path in units}
    assert "/proc/sys/fs/binfmt_misc" in paths and "/var/lib/nfs/rpc_pipefs" in paths
    assert ("proc-sys-fs-binfmt_misc.automount", "static", "/proc/sys/fs/binfmt_misc") in units
    assert unit_to_path("srv-vm\\x2dstore.mount") == "/srv/vm-store" and unit_to_path("-.mount") == "/"


def test_host_fields_from_recorded_outputs():
    raw = {"shell": {"fstab": {"rc": 0, "out": read("host/fstab.this-machine.txt"), "err": ""},
                     "mount_units": {"rc": 0, "out": read("host/systemctl-list-unit-files-mount.this-machine.txt"),
                                     "err": ""},
                     "qemu_conf": {"rc": 0, "out": read("host/qemu.conf.debian12-default"), "err": ""}}}
    errors = {}
    fields = parse_host_storage_fields(raw, errors)
    assert errors == {}
    assert fields["fstab"] == () and len(fields["mount_units"]) == 12
    assert fields["qemu_user"] == "libvirt-qemu" and fields["dynamic_ownership"] is True
    assert "commented default" in fields["qemu_user_from"]


def test_host_fields_missing_and_failing():
    errors = {}
    raw = {"shell": {"fstab": {"rc": 1, "out": "", "err": "cat: /etc/fstab: No such file or directory"},
                     "mount_units": {"rc": 127, "out": "", "err": "systemctl: not found"},
                     "qemu_conf": {"rc": 0, "out": 'user = "+0"\n', "err": ""}}}
    fields = parse_host_storage_fields(raw, errors)
    assert fields["fstab"] == () and fields["mount_units"] == () and fields["qemu_user"] == "+0"
    assert errors == {}
    errors = {}
    fields = parse_host_storage_fields({"shell": {"fstab": {"rc": 1, "out": "", "err": "Permission denied"}}}, errors)
    assert set(errors) == {"fstab", "mount_units", "qemu_user"} and "fstab" not in fields


def test_lab_nas_entry_recorded_live():
    sh = parse_storage_host("nas", lab_nas())
    assert sh.fact_errors == {}
    assert sh.exports_from == ("/tmp/preflight-lab/nas/ganesha.conf",)
    (e,) = sh.exports
    assert e.server == "ganesha" and e.fallback.access == "rw"
    assert "10.251.7.20/24" in sh.addresses and sh.hostname == "nas"
    assert ("nfs", "3", "tcp", 2049) in sh.rpc_services and ("mountd", "3", "tcp", 40283) in sh.rpc_services


def test_old_ganesha_capture_without_daemon_config_is_an_error():
    raw = lab_nas()
    raw["shell"]["ganesha_conf"]["out"] = read("nfs/ganesha.conf.lab")       # plain `cat`, no markers
    assert "re-record" in parse_storage_host("nas", raw).fact_errors["exports"]


def test_no_export_config_at_all_is_an_error():
    raw = lab_nas()
    raw["shell"]["ganesha_conf"]["out"] = "# preflight-ganesha-running: no\n"
    assert "no NFS export configuration" in parse_storage_host("nas", raw).fact_errors["exports"]


def test_unreachable_storage_host():
    sh = parse_storage_host("nas", {"reachable": False, "error": "timed out"})
    assert not sh.reachable and "timed out" in sh.fact_errors["exports"]


def test_record_without_the_key_means_not_gathered():
    record = {"format": FORMAT, "cluster": "x", "hosts": {}, "pairs": [], "storage_hosts": ["nas"]}
    assert parse_storage_hosts(record) is None and parse_record(record).storage is None
    record["storage_hosts_facts"] = {"nas": lab_nas()}
    assert parse_record(record).storage["nas"].exports


def test_one_batched_exec_and_only_reads():
    assert set(STORAGE_SHELL_FACTS) >= {"exports", "exports_d", "exportfs", "ganesha_conf", "rpcinfo", "ip_addr"}
    text = json.dumps(STORAGE_SHELL_FACTS)
    for word in ("rm ", "mv ", "exportfs -r", "exportfs -a", "kill", ">"):
        assert word not in text.replace("2>/dev/null", "")


def test_hypervisor_named_as_nfs_server_is_found():
    mountinfo = "36 25 0:40 / /srv/vmstore rw,relatime shared:1 - nfs4 hv3:/vol0 rw,vers=4.2,addr=10.0.0.3\n"
    hosts = {"hv1": {"reachable": True, "address": "10.0.0.1",
                     "shell": {"mountinfo": {"rc": 0, "out": mountinfo, "err": ""}}},
             "hv3": {"reachable": True, "address": "10.0.0.3", "shell": {}}}
    assert hypervisors_serving_nfs(hosts, exclude=set()) == ["hv3"]
    assert hypervisors_serving_nfs(hosts, exclude={"hv3"}) == []


def test_nfs_probe_targets_from_recorded_nas():
    from preflight.facts.storage_hosts import nfs_probe_targets
    record = {"hosts": {}, "storage_hosts_facts": {"nas": lab_nas()}}
    t = nfs_probe_targets(record)["nas"]
    assert t["target"] == "10.251.7.20"          # no mount/disk names it: its address
    assert t["ports"] == [(2049, "nfs"), (111, "rpcbind"), (40283, "mountd")]


def test_an_include_preflight_refused_to_read_makes_the_exports_undecided():
    raw = lab_nas()
    raw["shell"]["ganesha_conf"]["out"] += "# preflight-skipped: /srv/x.conf (not a root-owned regular file)\n"
    assert "/srv/x.conf" in parse_storage_host("nas", raw).fact_errors["exports"]
