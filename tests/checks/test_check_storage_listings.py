"""nfs.export_allows_host with the destination's `showmount -e`, and storage.iscsi_lun, on built
facts (views built by the real parser from the lab's recorded outputs where one exists)."""

from pathlib import Path

from preflight.checks.nfs import export_allows_host
from preflight.checks.storage_network import iscsi_lun
from factories import ROOT, as_list, domain, net_disk, statuses
from preflight.facts.listings import CHAP_SKIP, parse_listing_rows
from preflight.facts.models import Disk, DiskHost, IscsiSession
from storage_factories import hv, mig, nas, nfs_mount

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
LAB_IQN = "iqn.2026-11.lab.pfl:vmstore"
INIT = "iqn.2008-11.org.linux-kvm:5f0c9a52-0000-0000-0000-000000000001"   # factories.domain()'s uuid


def read(rel):
    return (FIXTURES / rel).read_text(encoding="utf-8")


def only(produced):
    (f,) = as_list(produced)
    return f


def showmount(server="nas", rc=0, out="/vol0 10.0.0.0/24\n", err=""):
    return parse_listing_rows({"nfs_showmount": [{"server": server, "rc": rc, "out": out, "err": err}]})[
        "nfs_showmount"]


def iscsi_view(rc=0, out=None, err="", host="nas", port=3260, initiator=INIT, skipped=None):
    row = {"host": host, "port": port, "initiator": initiator}
    if skipped:
        row["skipped"] = skipped
    else:
        row.update(rc=rc, out=read("storage/iscsi-ls-s.lab-hv1.txt") if out is None else out, err=err)
    return parse_listing_rows({"iscsi_lists": [row]})["iscsi_lists"]


# --- nfs.export_allows_host + showmount -------------------------------------------------------

def test_inventory_server_listed_stays_pass_with_showmount_evidence():
    f = only(export_allows_host(mig(dst=hv("hv2", nfs_showmount=showmount()))))
    assert f.status.value == "pass" and "showmount -e nas` from hv2 lists /vol0" in f.observed
    assert "showmount" in f.source


def test_inventory_server_answering_without_the_export_fails_even_if_rules_admit():
    # NFSv3 mount: the MOUNT protocol's list is decisive
    v3 = (ROOT, nfs_mount(vers="3", fstype="nfs"))
    f = only(export_allows_host(mig(dst=hv("hv2", mounts=v3, nfs_showmount=showmount(out="/other *\n")))))
    assert f.status.value == "fail" and "does not offer export /vol0 to hv2" in f.message
    assert "/other" in f.observed


def test_inventory_server_nfs4_mount_not_listed_is_evidence_only():
    f = only(export_allows_host(mig(dst=hv("hv2", nfs_showmount=showmount(out="/other *\n")))))
    assert f.status.value == "pass" and "not decisive for NFSv4.2" in f.observed


def test_inventory_server_showmount_absent_or_not_gathered_leaves_rules_verdict_and_says_so():
    absent = showmount(rc=127, out="", err="preflight: tool absent: showmount is not installed\n")
    f = only(export_allows_host(mig(dst=hv("hv2", nfs_showmount=absent))))
    assert f.status.value == "pass" and "verdict from the server-side export rules only" in f.observed
    f = only(export_allows_host(mig()))                      # old recording: no nfs_showmount at all
    assert f.status.value == "pass" and "not gathered" in f.observed
    bad_rules = {"nas": nas("/vol0 10.0.0.1(rw)\n")}
    assert statuses(export_allows_host(mig(dst=hv("hv2", nfs_showmount=absent), storage=bad_rules))) == ["fail"]


def test_inventory_server_showmount_error_is_evidence_only():
    err = showmount(rc=1, out="", err=read("nfs/showmount-unable-to-receive.lab-hv1.stderr"))
    f = only(export_allows_host(mig(dst=hv("hv2", nfs_showmount=err))))
    assert f.status.value == "pass" and "Unable to receive" in f.observed


def _v3_network_disk_ctx(view, storage=None):
    dom = domain(disks=(net_disk(name="/tmp/preflight-lab/nas/export/vm.qcow2", target="vda"),))
    return mig(dom=dom, src=hv("hv1", domains=(dom,)), dst=hv("hv2", nfs_showmount=view),
               storage={} if storage is None else storage, storage_hosts=())


def test_outside_inventory_lab_ganesha_listing_passes_client_side():
    view = showmount(out=read("nfs/showmount-e-no-headers.lab-hv1.txt"))
    f = only(export_allows_host(_v3_network_disk_ctx(view)))
    assert f.status.value == "pass" and "/tmp/preflight-lab/nas/export ((everyone))" in f.observed
    assert "listed for everyone" in f.message
    assert "not visible from the client side" in f.message


def test_outside_inventory_not_offered_fails():
    view = showmount(out="/srv/other (everyone)\n")
    f = only(export_allows_host(_v3_network_disk_ctx(view)))
    assert f.status.value == "fail" and "offers nothing covering /tmp/preflight-lab/nas/export/vm.qcow2" in f.message


def test_outside_inventory_offered_to_other_clients_only_is_error():
    view = showmount(out="/tmp/preflight-lab/nas/export 10.9.9.0/24,hv7\n")
    assert statuses(export_allows_host(_v3_network_disk_ctx(view))) == ["error"]
    view = showmount(out="/tmp/preflight-lab/nas/export 10.0.0.0/24,hv7\n")   # hv2 is 10.0.0.2/24
    # hv2 also has virbr0 192.168.122.1 outside that network: which address it uses is unknown
    assert statuses(export_allows_host(_v3_network_disk_ctx(view))) == ["error"]
    view = showmount(out="/tmp/preflight-lab/nas/export hv2.example.org\n")
    assert statuses(export_allows_host(_v3_network_disk_ctx(view))) == ["pass"]


def test_outside_inventory_no_list_for_nfsv3_is_error_absent_or_old_record_is_skip():
    err = showmount(rc=1, out="", err=read("nfs/showmount-unable-to-receive.lab-hv1.stderr"))
    assert statuses(export_allows_host(_v3_network_disk_ctx(err))) == ["error"]
    absent = showmount(rc=127, out="", err="preflight: tool absent: showmount is not installed\n")
    f = only(export_allows_host(_v3_network_disk_ctx(absent)))
    assert f.status.value == "skip" and "client side only" in f.message and "not installed" in f.message
    f = only(export_allows_host(_v3_network_disk_ctx(None)))
    assert f.status.value == "skip" and "not gathered" in f.message


def test_outside_inventory_nfs4_mount_not_listed_is_not_a_fail():
    # nfs4 mount nas:/vol0 (pseudo path); the MOUNT protocol lists real paths only
    view = showmount(out="/exports/real (everyone)\n")
    f = only(export_allows_host(mig(dst=hv("hv2", nfs_showmount=view), storage={}, storage_hosts=())))
    assert f.status.value == "skip" and "not decisive for NFSv4.2" in f.message


# --- storage.iscsi_lun ------------------------------------------------------------------------

def iscsi_mig(view, disk=None, dst_kw=None):
    disk = disk or net_disk("iscsi", "nas", f"{LAB_IQN}/1", target="vda", port=3260)
    dom = domain(disks=(disk,))
    return mig(dom=dom, src=hv("hv1", domains=(dom,)), dst=hv("hv2", iscsi_lists=view, **(dst_kw or {})))


def test_iscsi_lun_listed_from_destination_passes_with_evidence():
    f = only(iscsi_lun(iscsi_mig(iscsi_view())))
    assert f.status.value == "pass" and f.disk == "vda" and "LUN 1" in f.message
    assert LAB_IQN in f.observed and INIT in f.source


def test_iscsi_target_or_lun_not_presented_fails():
    f = only(iscsi_lun(iscsi_mig(iscsi_view(), disk=net_disk("iscsi", "nas", f"{LAB_IQN}/3", target="vda",
                                                                    port=3260))))
    assert f.status.value == "fail" and "not LUN 3" in f.message
    f = only(iscsi_lun(iscsi_mig(iscsi_view(out=""))))           # portal answered, target hidden by ACL
    assert f.status.value == "fail" and "does not present target" in f.message


def test_iscsi_not_gathered_absent_or_no_answer_is_error():
    assert statuses(iscsi_lun(iscsi_mig(None))) == ["error"]
    absent = iscsi_view(rc=127, out="", err="preflight: tool absent: iscsi-ls is not installed\n")
    f = only(iscsi_lun(iscsi_mig(absent)))
    assert f.status.value == "error" and "not installed" in f.message
    refused = iscsi_view(rc=10, out="", err=read("storage/iscsi-ls-refused.lab-hv1.stderr"))
    f = only(iscsi_lun(iscsi_mig(refused)))
    assert f.status.value == "error" and "refused" in f.observed
    other_initiator = iscsi_view(initiator="iqn.someone:else")
    assert statuses(iscsi_lun(iscsi_mig(other_initiator))) == ["error"]


def test_iscsi_absent_tool_but_kernel_session_proves_it():
    from factories import block_facts, lun
    absent = iscsi_view(rc=127, out="", err="preflight: tool absent: iscsi-ls is not installed\n")
    sess = IscsiSession(target=LAB_IQN, portal="10.0.0.20:3260", state="LOGGED_IN", disks=((1, "sdb"),))
    blk = block_facts(lun("sdb"), iscsi=(sess,))
    f = only(iscsi_lun(iscsi_mig(absent, dst_kw={"block": blk})))
    assert f.status.value == "pass" and "logged-in iSCSI session" in f.message


def test_iscsi_chap_disk_is_skipped_never_listed():
    disk = Disk(target="vda", type="network", protocol="iscsi", name=f"{LAB_IQN}/1",
                hosts=(DiskHost("nas", 3260),), has_auth=True, auth_secret="s")
    f = only(iscsi_lun(iscsi_mig(iscsi_view(skipped=CHAP_SKIP), disk=disk)))
    assert f.status.value == "skip" and "CHAP" in f.message


def test_iscsi_disk_initiator_is_the_one_looked_up():
    disk = Disk(target="vda", type="network", protocol="iscsi", name=f"{LAB_IQN}/1",
                hosts=(DiskHost("nas", 3260),), initiator="iqn.2026-11.example:mine")
    assert statuses(iscsi_lun(iscsi_mig(iscsi_view(initiator="iqn.2026-11.example:mine"), disk=disk))) == ["pass"]
    assert statuses(iscsi_lun(iscsi_mig(iscsi_view(), disk=disk))) == ["error"]


def test_no_iscsi_disk_is_skip():
    assert statuses(iscsi_lun(mig())) == ["skip"]


def test_outside_inventory_nfs4_mount_listed_is_not_a_pass():
    # nfs4 mount nas:/vol0: the MOUNT protocol's list proves nothing about NFSv4 access
    view = showmount(out="/vol0 (everyone)\n")
    f = only(export_allows_host(mig(dst=hv("hv2", nfs_showmount=view), storage={}, storage_hosts=())))
    assert f.status.value == "skip" and "/vol0" in f.message
