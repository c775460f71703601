"""Parsers of storage.cluster_fs / qemu_write_access / disk_secrets facts, on outputs recorded on this
machine (tests/fixtures/SOURCES.md), and the guarantee that no secret value reaches the record."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace as NS

from preflight.facts.blockdev import parse_lsblk
from preflight.facts.gather import _gather_secrets, image_access_plan
from preflight.facts.models import HostFacts
from preflight.facts.mountinfo import parse_mountinfo
from preflight.facts.parse import parse_host
from preflight.facts.storage_access import (access_keys, access_paths, ancestors, parse_access_fields,
                                            parse_blkid_export, parse_cluster_stack, parse_stat_output,
                                            parse_write_test_output)

FIX = Path(__file__).resolve().parents[1] / "fixtures"


def read(name):
    return (FIX / name).read_text()


def ok(out):
    return {"rc": 0, "out": out, "err": ""}


def test_cluster_stack_this_machine_nothing_running_and_no_systemd():
    st = parse_cluster_stack(read("storage/cluster-stack.this-machine.txt"))
    assert st.proc_readable and st.processes == ()
    assert st.units == {"dlm": "unknown", "corosync": "unknown", "pacemaker": "unknown", "o2cb": "unknown"}
    assert st.ocfs2_stack is None and st.o2cb_clusters == ()


def test_cluster_stack_lines():
    st = parse_cluster_stack("proc hidden\nproc corosync\nproc dlm_controld\nunit - no-systemctl\n"
                             "ocfs2_stack o2cb\no2cb_cluster ocfs2\n")
    assert not st.proc_readable and st.processes == ("corosync", "dlm_controld")
    assert st.units == {} and st.ocfs2_stack == "o2cb" and st.o2cb_clusters == ("ocfs2",)


def test_stat_lines_real_capture():
    stats = parse_stat_output(read("storage/stat-image-path.this-machine.txt"))
    img = stats["/tmp/pf-fix/mnt/images/vm1.qcow2"]
    assert (img.uid, img.gid, img.mode, img.kind) == (64055, 64055, 0o600, "regular empty file")
    assert stats["/tmp/pf-fix/mnt/images"].mode == 0o711 and stats["/tmp"].mode == 0o1777
    assert list(stats)[-1] == "/"


def test_stat_missing_file_keeps_the_others():
    stats = parse_stat_output(read("storage/stat-missing.this-machine.txt"))
    assert list(stats) == ["/tmp/pf-fix/mnt/images"]
    assert "No such file" in read("storage/stat-missing.this-machine.stderr")


def test_lsblk_majmin_and_blkid_map_a_mount_to_its_uuid():
    devs = parse_lsblk(read("storage/lsblk-loop-ext4.this-machine.json"))
    loop = devs["loop0"]
    assert loop.maj_min == "7:0" and loop.uuid is None          # no udev here: lsblk has no UUID
    ids = parse_blkid_export(read("storage/blkid-export.this-machine.txt"))
    assert ids["/dev/loop0"] == ("ext4", "8c3fb912-acd5-4736-9400-a51e12ccde15")
    (m,) = parse_mountinfo(read("storage/mountinfo-loop-ext4.this-machine.txt"))
    from preflight.derive.access import fs_identity
    from preflight.facts.models import BlockFacts
    host = HostFacts(name="h", block=BlockFacts(devices=devs), fs_ids=ids)
    assert fs_identity(host, m) == ("8c3fb912-acd5-4736-9400-a51e12ccde15", "/dev/loop0", None)
    uuid, _, why = fs_identity(HostFacts(name="h", block=BlockFacts(devices=devs),
                                         fact_errors={"blkid": "`blkid -o export` exited 127"}), m)
    assert uuid is None and "blkid" in why and "127" in why


def test_lsblk_this_machine_still_parses_without_new_columns():
    devs = parse_lsblk(read("storage/lsblk.this-machine.json"))
    assert all(d.maj_min is None and d.uuid is None for d in devs.values())


def acc_entry(**kw):
    e = {"user": "libvirt-qemu", "group": "libvirt-qemu", "dynamic_ownership": True, "keeps_caps": False,
         "uid": ok(read("storage/id-u-libvirt-qemu.this-machine.txt")),
         "gid": ok(read("storage/id-g-libvirt-qemu.this-machine.txt")),
         "groups": ok(read("storage/id-G-libvirt-qemu.this-machine.txt")),
         "group_ent": ok(read("storage/getent-group-libvirt-qemu.this-machine.txt")),
         "stats": {"stat_0": ok(read("storage/stat-image-path.this-machine.txt"))}}
    e.update(kw)
    return e


def test_qemu_credentials_debian_user_real_id_outputs():
    errors = {}
    f = parse_access_fields({"image_access": acc_entry(), "shell": {}, "libvirt": {"secrets": []}}, errors)
    c = f["qemu_cred"]
    # libvirt: uid of the user, gid of qemu.conf's group, the user's supplementary groups + that gid
    assert (c.user, c.uid, c.gid, c.groups) == ("libvirt-qemu", 64055, 64055, (108, 64055))
    assert "/tmp/pf-fix/mnt/images/vm1.qcow2" in f["file_stats"]
    assert "image_access" not in errors and errors["cluster_stack"] and errors["blkid"]


def test_unknown_user_or_failed_id_is_a_fact_error():
    errors = {}
    parse_access_fields({"image_access": acc_entry(uid={"rc": 1, "out": "", "err": "id: 'x': no such user"})}, errors)
    assert "no such user" in errors["image_access"]
    errors = {}
    parse_access_fields({"image_access": {"user": None, "why": "qemu.conf unreadable"}}, errors)
    assert errors["image_access"] == "qemu.conf unreadable"
    errors = {}
    parse_access_fields({}, errors)                          # an older recording: all three missing
    assert {"image_access", "cluster_stack", "secrets", "blkid"} <= set(errors)


def test_access_plan_reads_qemu_conf_and_only_writable_running_images():
    lv = {"domains": [{"name": "a", "active": True, "xml":
                       "<domain><devices>"
                       "<disk type='file'><source file='/srv/vmstore/a.qcow2'/><target dev='vda'/></disk>"
                       "<disk type='file'><source file='/srv/vmstore/ro.iso'/><readonly/><target dev='vdb'/></disk>"
                       "<disk type='file' device='cdrom'><source file='/srv/x.iso'/><target dev='sda'/></disk>"
                       "<disk type='volume'><source pool='p' volume='v'/><target dev='vdc'/></disk>"
                       "</devices></domain>"},
                      {"name": "off", "active": False, "xml": "<domain><devices><disk type='file'>"
                       "<source file='/never.qcow2'/><target dev='vda'/></disk></devices></domain>"}],
          "volumes": [{"pool": "p", "volume": "v", "path": "/srv/pool/v.qcow2"}]}
    assert access_paths(lv) == ["/srv/vmstore/a.qcow2", "/srv/pool/v.qcow2"]
    shell = {"qemu_conf": ok(read("host/qemu.conf.debian12-default")),
             "mountinfo": ok(read("storage/mountinfo-loop-ext4.this-machine.txt"))}
    acc, keys = image_access_plan(shell, lv)
    assert (acc["user"], acc["group"], acc["dynamic_ownership"], acc["keeps_caps"]) == \
        ("libvirt-qemu", "libvirt-qemu", True, False)
    assert keys["qemu_uid"] == ["id", "-u", "--", "libvirt-qemu"]
    assert keys["qemu_group_ent"] == ["getent", "group", "--", "libvirt-qemu"]
    assert keys["stat_0"][-4:] == ancestors("/srv/vmstore/a.qcow2")
    assert "stat_mounts" not in keys                              # ext4 is not shared
    assert access_keys([], ["/srv/vmstore"], None, None) == {
        "stat_mounts": ["stat", "-L", "-c", "%u:%g:%a:%F:%n", "--", "/srv/vmstore", "/srv", "/"]}


def test_write_test_output():
    wt = parse_write_test_output("/srv/vmstore", "libvirt-qemu", ok(
        "created\nremoved\naccess ok /srv/vmstore/a b.qcow2\naccess denied /srv/vmstore/c.qcow2\n"))
    assert wt.created and wt.removed and wt.error is None
    assert wt.images_writable == {"/srv/vmstore/a b.qcow2": True, "/srv/vmstore/c.qcow2": False}
    wt = parse_write_test_output("/d", "u", ok("error creating /d/.preflight-write-test-1 as u: Permission denied\n"))
    assert not wt.created and "Permission denied" in wt.error


class Secret:
    """A libvirt secret stand-in whose value must never be asked for."""

    def __init__(self, uuid, kind, usage, xml):
        self._u, self._k, self._id, self._x = uuid, kind, usage, xml

    def UUIDString(self):
        return self._u

    def usageType(self):
        return self._k

    def usageID(self):
        return self._id

    def XMLDesc(self, flags):
        return self._x

    def value(self, flags=0):                           # virSecretGetValue
        raise AssertionError("preflight asked for a secret's VALUE")


class Bridge:
    def __init__(self, secrets):
        self.calls = 0
        self.conn = NS(listAllSecrets=lambda flags: secrets)

    def call(self, what, fn, *args):
        self.calls += 1
        return fn(*args)


def test_secrets_identity_only_never_a_value():
    xml = ("<secret ephemeral='no' private='yes'><uuid>0a81f5b2-8403-7b23-c8d6-21ccc2f80d6f</uuid>"
           "<description>cephx key AQBpftSecrValue== for client.libvirt</description>"
           "<usage type='ceph'><name>client.libvirt secret</name></usage></secret>")
    bridge = Bridge([Secret("0a81f5b2-8403-7b23-c8d6-21ccc2f80d6f", 2, "client.libvirt secret", xml),
                     Secret("1b81f5b2-8403-7b23-c8d6-21ccc2f80d6f", 3, "iscsi-chap", "<secret ephemeral='yes'/>")])
    out, errors = {}, {}
    _gather_secrets(bridge, out, errors)
    assert errors == {} and bridge.calls == 1 + 2 * 4                 # bounded: 4 calls per secret
    assert out["secrets"][0] == {"uuid": "0a81f5b2-8403-7b23-c8d6-21ccc2f80d6f", "usage_type": "ceph",
                                 "usage_id": "client.libvirt secret", "ephemeral": False, "private": True}
    assert out["secrets"][1]["usage_type"] == "iscsi" and out["secrets"][1]["ephemeral"] is True
    dumped = json.dumps(out)
    assert "AQBpftSecrValue" not in dumped and "description" not in dumped
    h = parse_host("hv1", {"reachable": True, "libvirt": out})
    assert [s.usage_type for s in h.secrets] == ["ceph", "iscsi"] and "secrets" not in h.fact_errors


def test_secret_list_failure_is_an_error():
    from preflight.transport.errors import TransportError

    def boom(flags):
        raise TransportError("hv1", "listAllSecrets: access denied")
    out, errors = {}, {}
    _gather_secrets(NS(calls=0, conn=NS(listAllSecrets=boom), call=lambda w, fn, *a: fn(*a)), out, errors)
    assert "secrets" not in out and "access denied" in errors["secrets"]
