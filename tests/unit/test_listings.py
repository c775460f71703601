"""showmount -e / iscsi-ls -s: what is listed, from which hypervisor, and how recorded rows are read.

Tool outputs are real captures (tests/fixtures/SOURCES.md): the lab's nfs-ganesha and tgt asked
from its hypervisors, and the tools' real error messages. The domain XML and the one knfsd-style
showmount line below are written by us (syntax cases), not recordings."""

import os
import shutil
import subprocess

import pytest

from _fixtures import read
from preflight.facts.gather import parse_facts_output
from preflight.facts.listings import (CHAP_SKIP, LISTS_SH, TOOL_ABSENT, list_targets, lists_argv,
                                      parse_iscsi_ls, parse_listing_rows, parse_showmount, qemu_initiator,
                                      rows_from_output)
from preflight.facts.parse import parse_host

LAB_IQN = "iqn.2026-11.lab.pfl:vmstore"

XML = """<domain type='kvm'><name>{name}</name><uuid>{uuid}</uuid><devices>
<disk type='network' device='disk'><source protocol='iscsi' name='{iqn}/1'><host name='nas' port='3260'/></source><target dev='vda'/></disk>
<disk type='network' device='disk'><source protocol='iscsi' name='iqn.x:chap/0'><host name='san2'/>
  <auth username='u'><secret type='iscsi' usage='s'/></auth></source><target dev='vdb'/></disk>
<disk type='network' device='disk'><source protocol='iscsi' name='iqn.x:own/2'><host name='san3' port='3261'/>
  <initiator><iqn name='iqn.2026-11.example:hv-any'/></initiator></source><target dev='vdc'/></disk>
<disk type='network' device='disk'><source protocol='nfs' name='/export/vm.qcow2'><host name='nas'/></source><target dev='vdd'/></disk>
<disk type='network' device='disk'><source protocol='gluster' name='vol0/x.qcow2'><host name='gl1'/></source><target dev='vde'/></disk>
</devices></domain>"""

NFS_MOUNT = ("36 25 0:45 / /srv/vmstore rw,relatime shared:1 - nfs4 nfs2:/vol0 "
             "rw,vers=4.2,addr=10.0.0.21,clientaddr=10.0.0.2\n")


def test_parse_showmount_on_the_lab_ganesha_answer():
    assert parse_showmount(read("nfs/showmount-e-no-headers.lab-hv1.txt")) == \
        (("/tmp/preflight-lab/nas/export", ("(everyone)",)),)
    # with the header line (plain `showmount -e`) the result is the same
    assert parse_showmount(read("nfs/showmount-e.lab-hv1.txt")) == \
        parse_showmount(read("nfs/showmount-e-no-headers.lab-hv1.txt"))


def test_parse_showmount_client_lists_and_garbage():
    # written by us after showmount's layout (path padded, comma-separated client list)
    assert parse_showmount("/vol0     10.0.0.0/24,hv1.example.org\n/pub *\n") == \
        (("/vol0", ("10.0.0.0/24", "hv1.example.org")), ("/pub", ("*",)))
    assert parse_showmount("") == ()
    with pytest.raises(ValueError):
        parse_showmount("clnt_create: RPC: Unable to receive\n")


def test_parse_iscsi_ls_on_the_lab_tgt_answer():
    for f in ("storage/iscsi-ls-s.lab-hv1.txt", "storage/iscsi-ls-i-s.lab-hv2.txt"):
        t = parse_iscsi_ls(read(f))
        assert list(t) == [LAB_IQN]
        assert t[LAB_IQN] == ((0, "STORAGE_ARRAY_CONTROLLER"), (1, "DIRECT_ACCESS (Size:63M)"))
    assert parse_iscsi_ls("") == {}
    with pytest.raises(ValueError):
        parse_iscsi_ls(read("storage/iscsi-ls-refused.lab-hv1.stderr"))


def test_targets_from_mounts_and_disks_chap_portal_not_asked():
    hosts = {"hv1": {"shell": {"mountinfo": {"rc": 0, "out": NFS_MOUNT, "err": ""}},
                     "libvirt": {"domains": [{"name": "a", "xml": XML.format(name="a", uuid="u-1", iqn=LAB_IQN)},
                                             {"name": "bad", "xml": "<domain"}]}},
             "hv2": {"reachable": False}}
    t = list_targets(hosts)
    assert t["showmount"] == ["nas", "nfs2"]
    rows = {(r["host"], r["port"]): r for r in t["iscsi"]}
    assert rows[("nas", 3260)] == {"host": "nas", "port": 3260, "initiator": "iqn.2008-11.org.linux-kvm:u-1",
                                   "chap": False}
    assert rows[("san2", 3260)]["chap"] is True
    assert rows[("san3", 3261)]["initiator"] == "iqn.2026-11.example:hv-any"
    argv = lists_argv(t, "PFLx", 7)
    assert argv[:3] == ["sh", "-c", LISTS_SH] and argv[4:6] == ["PFLx", "7"]
    assert "san2" not in " ".join(argv[8:]) and "san2:3260" not in argv   # CHAP portal never asked
    assert not any("@" in a or "%" in a for a in argv[8:])                  # no credentials in a URL
    assert lists_argv({"showmount": [], "iscsi": []}, "PFLx") is None


def test_qemu_initiator_default_follows_qemu():
    assert qemu_initiator(None, "683ee5ba-5585-56df-a6b0-6078331f0e2d", "vm") == \
        "iqn.2008-11.org.linux-kvm:683ee5ba-5585-56df-a6b0-6078331f0e2d"
    assert qemu_initiator("iqn.x:mine", "u", "vm") == "iqn.x:mine"


def _raw_row(rc, out="", err=""):
    return {"rc": rc, "out": out, "err": err}


def test_recorded_rows_become_views_with_real_outputs():
    raw = {"reachable": True, "shell": {},
           "nfs_showmount": [
               {"server": "nas", **_raw_row(0, read("nfs/showmount-e-no-headers.lab-hv1.txt"))},
               {"server": "hv2", **_raw_row(1, err=read("nfs/showmount-unable-to-receive.lab-hv1.stderr"))},
               {"server": "gone", **_raw_row(1, err=read("nfs/showmount-unknown-host.lab-hv1.stderr"))},
               {"server": "nfs2", **_raw_row(127, err="preflight: tool absent: showmount is not installed\n")},
               {"server": "slow", **_raw_row(124)},
               {"server": "lost", **_raw_row(None, err="probe exec failed: channel closed")}],
           "iscsi_lists": [
               {"host": "nas", "port": 3260, "initiator": "iqn.i:1", **_raw_row(0, read("storage/iscsi-ls-s.lab-hv1.txt"))},
               {"host": "hv2", "port": 3260, "initiator": "iqn.i:1",
                **_raw_row(10, err=read("storage/iscsi-ls-refused.lab-hv1.stderr"))},
               {"host": "x.invalid", "port": 3260, "initiator": "iqn.i:1",
                **_raw_row(10, err=read("storage/iscsi-ls-unresolvable.lab-hv1.stderr"))},
               {"host": "san2", "port": 3260, "initiator": "iqn.i:1", "skipped": CHAP_SKIP}]}
    f = parse_listing_rows(raw)
    sm = f["nfs_showmount"]
    assert sm["nas"].status == "listed" and sm["nas"].exports[0][0] == "/tmp/preflight-lab/nas/export"
    assert sm["hv2"].status == "error" and "Unable to receive" in sm["hv2"].detail
    assert sm["gone"].status == "error" and "Unknown host" in sm["gone"].detail
    assert sm["nfs2"].status == "absent" and sm["slow"].status == "timeout" and sm["lost"].status == "error"
    il = f["iscsi_lists"]
    assert il[("nas", 3260, "iqn.i:1")].targets[LAB_IQN][1][0] == 1
    assert il[("hv2", 3260, "iqn.i:1")].status == "error" and "refused" in il[("hv2", 3260, "iqn.i:1")].detail
    assert il[("x.invalid", 3260, "iqn.i:1")].status == "error"
    assert il[("san2", 3260, "iqn.i:1")].status == "skipped"
    # absent keys = not gathered (older recordings): fields stay None
    h = parse_host("hv1", {"reachable": True, "shell": {}})
    assert h.nfs_showmount is None and h.iscsi_lists is None
    assert parse_host("hv1", raw).nfs_showmount["nas"].status == "listed"


def test_rows_from_output_keeps_order_and_marks_failed_exec():
    t = {"showmount": ["nas"], "iscsi": [{"host": "san2", "port": 3260, "initiator": "i", "chap": True},
                                         {"host": "nas", "port": 3260, "initiator": "i", "chap": False}]}
    show, isc = rows_from_output(t, {"0": _raw_row(0, "/x *\n"), "1": _raw_row(0, "")}, None)
    assert show == [{"server": "nas", "rc": 0, "out": "/x *\n", "err": ""}]
    assert isc[0]["skipped"] == CHAP_SKIP and isc[1]["rc"] == 0
    show, isc = rows_from_output(t, {}, "probe exec failed: x")
    assert show[0]["rc"] is None and isc[1]["err"] == "probe exec failed: x" and "rc" not in isc[0]


def test_lists_script_records_a_missing_tool_as_absent_not_failure(tmp_path):
    """The real script, run locally with a PATH that has sh and coreutils but neither tool."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("sh", "timeout", "mktemp", "cat", "rm", "mkdir"):
        os.symlink(shutil.which(tool), bindir / tool)
    t = {"showmount": ["127.0.0.1"], "iscsi": [{"host": "127.0.0.1", "port": 9, "initiator": "i", "chap": False}]}
    argv = lists_argv(t, "PFLtest", 5)
    res = subprocess.run(argv, capture_output=True, env={"PATH": str(bindir)}, timeout=30)
    parsed, errors = parse_facts_output(res.stdout, "PFLtest", ["0", "1"])
    assert not errors
    show, isc = rows_from_output(t, parsed, None)
    assert show[0]["rc"] == 127 and TOOL_ABSENT in show[0]["err"]
    f = parse_listing_rows({"nfs_showmount": show, "iscsi_lists": isc})
    assert f["nfs_showmount"]["127.0.0.1"].status == "absent"
    assert f["iscsi_lists"][("127.0.0.1", 9, "i")].status == "absent"
