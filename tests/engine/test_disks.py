"""The per-domain disk inventory (preflight.engine.disks): kinds, identities, verdict aggregation."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "checks"))

from factories import (NFS, ROOT, MultipathMap, block_disk, block_facts, cluster, domain,  # noqa: E402
                       file_disk, host, lun, net_disk, pair)

from preflight.engine.disks import build_disk_inventory, disk_verdict  # noqa: E402
from preflight.engine.registry import discover  # noqa: E402
from preflight.engine.runner import Selection, run_checks, select  # noqa: E402
from preflight.model import Evidence, Result, Status  # noqa: E402

WWID = "36001405aaaabbbbccccddddeeeeffff0"
SAN = ("/dev/mapper/mpatha", "/dev/disk/by-id/dm-uuid-mpath-" + WWID)


def san(present=True, wwid=WWID):
    """Block facts with multipath map mpatha (over two iSCSI paths) when `present`."""
    if not present:
        return block_facts(lun("vda", serial="boot", tran=None))
    return block_facts(lun("vda", serial="boot", tran=None),
                       lun("sdb", wwn="0x" + wwid[1:], tran="iscsi"), lun("sdc", wwn="0x" + wwid[1:], tran="iscsi"),
                       lun("dm-0", type="mpath", tran=None),
                       multipath={"mpatha": MultipathMap("mpatha", wwid, dm="dm-0", paths=("sdb", "sdc"))})


def run(facts, only=("storage.shared", "storage.cache_mode")):
    selected, _ = select(discover(include_plugins=False), Selection(only=only))
    results = run_checks(facts, selected)
    return build_disk_inventory(facts, results), results


def facts_for(*disks, dst_block=None, dst_mounts=None, hv3_down=False):
    dom = domain("vm1", disks=disks)
    hv1 = host("hv1", domains=(dom,), block=san())
    hv2 = host("hv2", block=dst_block if dst_block is not None else san(),
               mounts=dst_mounts if dst_mounts is not None else (ROOT, NFS))
    hosts = [hv1, hv2]
    if hv3_down:
        from preflight.facts.models import HostFacts
        hosts.append(HostFacts("hv3", reachable=False, error="ssh: timed out"))
    return cluster(*hosts, pairs=[pair("hv1", "hv2"), pair("hv2", "hv1")])


def disk_of(inventory, target, domain_name="vm1"):
    item = next(i for i in inventory if i["domain"] == domain_name)
    return next(d for d in item["disks"] if d["target"] == target)


def dest(disk, name):
    return next(d for d in disk["destinations"] if d["host"] == name)


# --- kinds and identities ------------------------------------------------------------------------

def test_file_on_shared_fs_shows_the_mount_on_both_hosts():
    inv, _ = run(facts_for(file_disk("/srv/vmstore/vm1.qcow2", cache="none")))
    vda = disk_of(inv, "vda")
    assert vda["kind"] == "file on nfs4 nas:/vol0"
    assert vda["identity"]["state"] == "found"
    assert vda["identity"]["mount"] == {"fstype": "nfs4", "source": "nas:/vol0", "mountpoint": "/srv/vmstore",
                                        "root": "/", "readonly": False, "server": "nas", "export": "/vol0"}
    there = dest(vda, "hv2")
    assert there["identity"]["text"] == "nfs4 nas:/vol0 at /srv/vmstore"
    assert {"check": "storage.shared", "status": "pass"} in there["results"]
    assert there["verdict"] == "pass"
    assert vda["source"] == "/srv/vmstore/vm1.qcow2" and vda["format"] == "qcow2" and vda["cache"] == "none"


def test_local_file_is_local_and_fails_on_every_destination():
    inv, _ = run(facts_for(file_disk("/var/lib/libvirt/images/vm1.qcow2")))
    vda = disk_of(inv, "vda")
    assert vda["kind"] == "local file on ext4"
    there = dest(vda, "hv2")
    assert there["identity"]["text"].startswith("ext4 /dev/vda1 at /")
    assert there["verdict"] == "fail"
    assert there["reason"].startswith("storage.shared: ") and "local storage" in there["reason"]


def test_network_disk_names_protocol_server_and_image():
    inv, _ = run(facts_for(net_disk("iscsi", "san1", "iqn.2026-01.lab:t/1", target="vdb", port=3260)))
    vdb = disk_of(inv, "vdb")
    assert vdb["kind"] == "network iscsi (san1:3260)"
    assert vdb["identity"]["server"] == ["san1:3260"] and vdb["identity"]["name"] == "iqn.2026-01.lab:t/1"
    assert "same server and image" in dest(vdb, "hv2")["identity"]["text"]


def test_block_lun_with_wwid_present_on_destination():
    inv, _ = run(facts_for(block_disk(SAN[0])))
    vdb = disk_of(inv, "vdb")
    assert vdb["kind"] == "block multipath iSCSI LUN"
    assert vdb["identity"]["lun"]["by"] == "wwid" and vdb["identity"]["lun"]["id"] == WWID[1:]
    there = dest(vdb, "hv2")
    assert there["identity"]["state"] == "found" and there["identity"]["lun"]["id"] == WWID[1:]
    assert there["verdict"] == "pass"


def test_block_lun_absent_on_destination_is_absent_and_fails():
    inv, _ = run(facts_for(block_disk(SAN[0]), dst_block=san(present=False)))
    there = dest(disk_of(inv, "vdb"), "hv2")
    assert there["identity"]["state"] == "absent"
    assert "no device with WWID" in there["identity"]["text"]
    assert there["verdict"] == "fail"


def test_block_lun_of_another_wwid_on_destination_shows_it():
    other = "360014059999999999999999999999999"
    inv, _ = run(facts_for(block_disk(SAN[0]), dst_block=san(wwid=other)))
    there = dest(disk_of(inv, "vdb"), "hv2")
    assert there["identity"]["lun"]["id"] == other[1:]
    assert there["verdict"] == "fail"


def test_unreachable_destination_is_unknown_never_pass():
    inv, _ = run(facts_for(file_disk(), hv3_down=True))
    there = dest(disk_of(inv, "vda"), "hv3")
    assert there["verdict"] == "unknown" and there["identity"]["state"] == "unknown"
    assert "hv3" in there["reason"]


def test_backing_chain_is_listed_under_its_disk_with_identities():
    d = file_disk("/srv/vmstore/top.qcow2", backing=("/var/lib/libvirt/images/base.qcow2",))
    inv, _ = run(facts_for(d))
    vda = disk_of(inv, "vda")
    assert [b["path"] for b in vda["backing"]] == ["/var/lib/libvirt/images/base.qcow2"]
    assert vda["backing"][0]["identity"]["mount"]["fstype"] == "ext4"
    assert vda["backing"][0]["destinations"]["hv2"]["state"] == "found"
    assert dest(vda, "hv2")["verdict"] == "fail"          # the local backing file blocks the disk


def test_inventory_covers_running_domains_only_and_holds_no_secret():
    from dataclasses import replace

    rbd = replace(net_disk("rbd", "mon1", "pool/img"), has_auth=True, auth_secret="ceph-secret-uuid")
    dom = domain("vm1", disks=(rbd,))
    off = domain("off", disks=(file_disk(),))
    off = off.__class__(**{**off.__dict__, "active": False})
    facts = cluster(host("hv1", domains=(dom, off)), host("hv2"))
    inv, _ = run(facts)
    assert [i["domain"] for i in inv] == ["vm1"]
    assert "ceph-secret-uuid" not in repr(inv)


# --- verdict aggregation -------------------------------------------------------------------------

def res(check, status, disk="vda", destination="hv2", domain="vm1", source="hv1"):
    return Result(check=check, status=Status(status), message=f"{check} said {status}", subject="s",
                  host=source, evidence=Evidence(), domain=domain,
                  source=source if destination else None, destination=destination, disk=disk)


def test_a_fail_makes_the_disk_fail_on_that_destination_only():
    rs = [res("storage.shared", "pass"), res("nfs.root_squash", "fail"),
          res("storage.shared", "pass", destination="hv3")]
    assert disk_verdict(rs, "vm1", "hv1", "hv2", "vda")["verdict"] == "fail"
    assert disk_verdict(rs, "vm1", "hv1", "hv2", "vda")["reason"] == "nfs.root_squash: nfs.root_squash said fail"
    assert disk_verdict(rs, "vm1", "hv1", "hv3", "vda")["verdict"] == "pass"


def test_no_result_is_unknown_never_pass():
    v = disk_verdict([], "vm1", "hv1", "hv2", "vda")
    assert v["verdict"] == "unknown" and v["results"] == []
    # only another disk's, another domain's or a non-storage check's results: still unknown
    rs = [res("storage.shared", "pass", disk="vdb"), res("storage.shared", "pass", domain="vm2"),
          res("cpu.model", "pass")]
    assert disk_verdict(rs, "vm1", "hv1", "hv2", "vda")["verdict"] == "unknown"


def test_domain_scope_results_apply_to_every_destination_but_cannot_pass_alone():
    cache_fail = res("storage.cache_mode", "fail", destination=None)
    assert disk_verdict([cache_fail, res("storage.shared", "pass")], "vm1", "hv1", "hv2", "vda")["verdict"] == "fail"
    assert disk_verdict([res("storage.cache_mode", "pass", destination=None)],
                        "vm1", "hv1", "hv2", "vda")["verdict"] == "unknown"


def test_error_is_unknown_and_warn_and_skip_rank_below_it():
    assert disk_verdict([res("storage.shared", "pass"), res("nfs.server_reachable", "error")],
                        "vm1", "hv1", "hv2", "vda")["verdict"] == "unknown"
    assert disk_verdict([res("storage.shared", "pass"), res("storage.mount_options", "warn")],
                        "vm1", "hv1", "hv2", "vda")["verdict"] == "warn"
    assert disk_verdict([res("storage.shared", "skip")], "vm1", "hv1", "hv2", "vda")["verdict"] == "skip"


def test_results_without_a_disk_count_only_when_they_are_not_pass():
    whole = res("storage.shared", "error", disk=None)
    assert disk_verdict([whole], "vm1", "hv1", "hv2", "vda")["verdict"] == "unknown"
    no_nfs = res("nfs.root_squash", "skip", disk=None)
    v = disk_verdict([no_nfs, res("storage.shared", "pass")], "vm1", "hv1", "hv2", "vda")
    assert v["verdict"] == "pass" and v["results"] == [{"check": "storage.shared", "status": "pass"}]


def test_pipeline_emits_domains_in_the_canonical_json():
    import json

    from preflight.engine.pipeline import evaluate
    from preflight.reports.json_report import validate

    record = json.loads((Path(__file__).resolve().parents[2] / "preflight" / "demo" / "demo-facts.json")
                        .read_text())
    report = evaluate(record, discover(include_plugins=False), Selection(), cluster="demo",
                      started="2026-11-26T00:00:00+00:00", source="replay:demo")
    doc = report.to_dict()
    validate(doc)
    kinds = {d["kind"] for item in doc["domains"] for d in item["disks"]}
    assert "local file on ext4" in kinds
    for item in doc["domains"]:
        for disk in item["disks"]:
            for there in disk["destinations"]:
                if there["verdict"] == "pass":
                    assert any(r["status"] == "pass" for r in there["results"])


def test_pool_volume_shows_the_pool_on_both_hosts_and_absent_pool_fails():
    from factories import volume_disk
    from preflight.facts.models import PoolVolume, StoragePool

    netfs = StoragePool(name="vmpool", type="netfs", target_path="/srv/vmstore", source_hosts=("nas",),
                        source_dir="/vol0", source_format="nfs")
    vol = {("vmpool", "vm1.qcow2"): PoolVolume("vmpool", "vm1.qcow2", path="/srv/vmstore/vm1.qcow2")}
    dom = domain("vm1", disks=(volume_disk(),))
    facts = cluster(host("hv1", domains=(dom,), pools={"vmpool": netfs}, volumes=vol),
                    host("hv2", pools={"vmpool": netfs}), host("hv3", pools={}))
    inv, _ = run(facts)
    vdc = disk_of(inv, "vdc")
    assert vdc["kind"] == "pool volume (netfs pool vmpool), file on nfs4 nas:/vol0"
    assert vdc["identity"]["pool"]["source"] == "netfs pool vmpool (nas:/vol0)"
    assert vdc["identity"]["path"] == "/srv/vmstore/vm1.qcow2"
    assert dest(vdc, "hv2")["identity"]["pool"]["name"] == "vmpool"
    assert dest(vdc, "hv2")["verdict"] == "pass"
    assert dest(vdc, "hv3")["identity"]["state"] == "absent"
    assert dest(vdc, "hv3")["verdict"] == "fail"


def test_nvram_and_tpm_state_are_listed_under_the_labels_storage_shared_uses():
    from preflight.facts.models import Tpm

    dom = domain("vm1", disks=(), nvram="/var/lib/libvirt/qemu/nvram/vm1_VARS.fd",
                 tpms=(Tpm(model="tpm-crb", backend="emulator", version="2.0",
                           state_path="/var/lib/libvirt/swtpm/x/tpm2"),))
    inv, _ = run(cluster(host("hv1", domains=(dom,)), host("hv2")))
    nvram, tpm = disk_of(inv, "nvram"), disk_of(inv, "tpm")
    assert nvram["kind"] == "UEFI NVRAM local file on ext4"
    assert dest(nvram, "hv2")["verdict"] == "warn"           # storage.shared: libvirt does not copy NVRAM
    assert tpm["kind"].startswith("TPM state (swtpm)")
    assert dest(tpm, "hv2")["verdict"] == "pass"             # local by design: carried in the stream


def test_a_domain_whose_xml_could_not_be_parsed_is_listed_with_its_error_and_no_disks():
    dom = domain("vm1", error="XMLSyntaxError: line 3")
    inv, _ = run(cluster(host("hv1", domains=(dom,)), host("hv2")))
    assert inv == [{"domain": "vm1", "host": "hv1", "error": "XMLSyntaxError: line 3", "disks": []}]
