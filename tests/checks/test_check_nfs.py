"""nfs.export_allows_host and nfs.root_squash on built facts."""

from preflight.checks.nfs import export_allows_host, root_squash
from factories import ROOT, as_list, domain, file_disk, net_disk, run_spec, statuses
from storage_factories import hv, mig, nas, nfs_mount


def only(produced):
    (f,) = as_list(produced)
    return f


def test_good_export_passes_with_evidence():
    f = only(export_allows_host(mig()))
    assert f.status.value == "pass"
    assert "10.0.0.2" in f.observed and "/etc/exports:1" in f.observed and "nas: /etc/exports" in f.source


def test_export_not_admitting_destination_fails():
    f = only(export_allows_host(mig(storage={"nas": nas("/vol0 10.0.0.1(rw)\n")})))
    assert f.status.value == "fail" and "does not admit hv2" in f.message and "/vol0" in f.message


def test_read_only_export_fails_for_writable_disk_passes_for_readonly_disk():
    ro = {"nas": nas("/vol0 10.0.0.0/24(ro)\n")}
    assert statuses(export_allows_host(mig(storage=ro))) == ["fail"]
    dom = domain(disks=(file_disk(readonly=True),))
    assert statuses(export_allows_host(mig(dom=dom, src=hv("hv1", domains=(dom,)), storage=ro))) == ["pass"]


def test_no_export_covering_the_path_fails():
    f = only(export_allows_host(mig(storage={"nas": nas("/other *(rw)\n")})))
    assert f.status.value == "fail" and "exports nothing covering /vol0/vm1.qcow2" in f.message


def test_netgroup_that_may_apply_is_an_error_not_a_pass():
    f = only(export_allows_host(mig(storage={"nas": nas("/vol0 @hypervisors(rw)\n")})))
    assert f.status.value == "error"


def test_address_chosen_by_subnet_ignores_virbr0():
    # 192.168.122.1 (virbr0) is not admitted, but hv2 reaches nas from 10.0.0.2 on nas's subnet
    f = only(export_allows_host(mig(storage={"nas": nas("/vol0 10.0.0.2(rw)\n")})))
    assert f.status.value == "pass" and "subnet" in f.observed


def test_routing_unknown_and_mixed_answer_is_an_error():
    dst = hv("hv2", addr="172.16.0.2/24")           # no address on nas's subnet
    f = only(export_allows_host(mig(dst=dst, storage={"nas": nas("/vol0 172.16.0.2(rw)\n")})))
    assert f.status.value == "error" and "unknown" in f.message


def test_clientaddr_of_nfs4_mount_is_used():
    dst = hv("hv2", addr="172.16.0.2/24", mounts=(ROOT, nfs_mount(clientaddr="172.16.0.2")))
    assert statuses(export_allows_host(mig(dst=dst, storage={"nas": nas("/vol0 172.16.0.0/16(rw)\n")}))) == ["pass"]


def test_hostname_and_wildcard_rules():
    assert statuses(export_allows_host(mig(storage={"nas": nas("/vol0 hv2(rw)\n")}))) == ["pass"]
    assert statuses(export_allows_host(mig(storage={"nas": nas("/vol0 *.example.org(rw)\n")}))) == ["pass"]


def test_network_disk_ganesha_client_block_and_protocols():
    conf = ('EXPORT { Export_Id = 1; Path = "/exports/vm"; Pseudo = "/vm"; Access_Type = None;\n'
            '  Protocols = 3, 4; FSAL { Name = VFS; }\n'
            '  CLIENT { Clients = 10.0.0.1, 10.0.0.3; Access_Type = RW; } }\n')
    dom = domain(disks=(net_disk(name="/exports/vm/vm1.qcow2", target="vda"),))
    ctx = mig(dom=dom, src=hv("hv1", domains=(dom,), mounts=(ROOT,)), storage={"nas": nas(ganesha=conf)})
    f = only(export_allows_host(ctx))
    assert f.status.value == "fail" and "does not admit hv2" in f.message
    v4only = conf.replace("Protocols = 3, 4;", "Protocols = 4;").replace("10.0.0.3", "10.0.0.2")
    ctx = mig(dom=dom, src=hv("hv1", domains=(dom,), mounts=(ROOT,)), storage={"nas": nas(ganesha=v4only)})
    f = only(export_allows_host(ctx))
    assert f.status.value == "fail" and "NFSv3" in f.message


def test_server_not_in_inventory_is_skip_judged_client_side():
    f = only(export_allows_host(mig(storage={}, storage_hosts=())))
    assert f.status.value == "skip" and "client side only" in f.message


def test_recording_without_storage_facts_is_error_for_declared_storage_host():
    f = only(export_allows_host(mig(storage=None)))
    assert f.status.value == "error" and "not gathered" in f.message
    f = only(export_allows_host(mig(storage=None, storage_hosts=())))
    assert f.status.value == "skip"


def test_unreachable_or_unknown_exports_are_errors():
    from preflight.facts.models import StorageHostFacts
    down = StorageHostFacts(name="nas", reachable=False, error="timed out", addresses=("10.0.0.20/24",))
    assert statuses(export_allows_host(mig(storage={"nas": down}))) == ["error"]
    broken = nas(fact_errors={"exports": "could not parse"})
    assert statuses(export_allows_host(mig(storage={"nas": broken}))) == ["error"]


def test_local_disks_are_skip():
    dom = domain(disks=(file_disk("/var/lib/libvirt/images/a.qcow2"),))
    assert statuses(export_allows_host(mig(dom=dom, src=hv("hv1", domains=(dom,))))) == ["skip"]


def test_missing_addresses_fact_is_error_through_the_runner():
    dst = hv("hv2", fact_errors={"addresses": "ip addr failed"})
    ctx = mig(dst=dst)
    results = run_spec(export_allows_host, ctx.cluster)
    assert results and all(r.status.value == "error" for r in results if r.destination == "hv2")


# --- nfs.root_squash ------------------------------------------------------------------

def test_root_squash_with_non_root_qemu_passes():
    f = only(root_squash(mig()))
    assert f.status.value == "pass" and "libvirt-qemu" in f.message and "anonuid=65534" in f.observed


def test_root_squash_with_root_qemu_fails():
    # the lab's real migration with Root_Squash + QEMU as root fails: "NFS: ACCESS denied.
    # Required access rw-. Allowed access r--" -- a WARN would be a false warn
    dst = hv("hv2", qemu_user="root", qemu_group="root")
    f = only(root_squash(mig(dst=dst)))
    assert f.status.value == "fail" and "65534" in f.message and "denied" in f.message
    anon0 = {"nas": nas("/vol0 10.0.0.0/24(rw,root_squash,anonuid=0)\n")}
    assert statuses(root_squash(mig(dst=dst, storage=anon0))) == ["pass"]


def test_all_squash_warns_and_names_anonuid():
    f = only(root_squash(mig(storage={"nas": nas("/vol0 10.0.0.0/24(rw,all_squash,anonuid=107)\n")})))
    assert f.status.value == "warn" and "107" in f.message


def test_no_root_squash_passes_for_root():
    dst = hv("hv2", qemu_user="+0")
    assert statuses(root_squash(mig(dst=dst, storage={"nas": nas("/vol0 10.0.0.0/24(rw,no_root_squash)\n")}))) \
        == ["pass"]


def test_unknown_qemu_user_is_error():
    dst = hv("hv2", qemu_user=None, fact_errors={"qemu_user": "qemu.conf unavailable"})
    results = run_spec(root_squash, mig(dst=dst).cluster)
    assert any(r.status.value == "error" and r.destination == "hv2" for r in results)


def test_soft_mount_is_not_this_checks_business():
    dst = hv("hv2", mounts=(ROOT, nfs_mount(soft=True)))
    assert statuses(root_squash(mig(dst=dst))) == ["pass"]


# --- nfs.server_reachable -------------------------------------------------------------

from preflight.checks.nfs import server_reachable   # noqa: E402


def probes(nfs="answered", rpcbind="answered", mountd="answered", server="nas"):
    return ((server, 2049, "nfs", "nas", nfs, None if nfs == "answered" else f"10.0.0.20:2049 {nfs}"),
            (server, 111, "rpcbind", "nas", rpcbind, None),
            (server, 20048, "mountd", "nas", mountd, None))


def test_nfs4_mount_needs_only_2049():
    dst = hv("hv2", nfs_probes=probes(rpcbind="refused", mountd="timeout"))
    f = only(server_reachable(mig(dst=dst)))
    assert f.status.value == "pass" and "nfs ports" in f.message


def test_blocked_2049_fails_with_outcome():
    dst = hv("hv2", nfs_probes=probes(nfs="timeout"))
    f = only(server_reachable(mig(dst=dst)))
    assert f.status.value == "fail" and "port 2049" in f.message and "timeout" in f.message


def test_nfsv3_network_disk_needs_rpcbind_and_mountd():
    dom = domain(disks=(net_disk(name="/vol0/vm1.qcow2", target="vda"),))
    dst = hv("hv2", mounts=(ROOT,), nfs_probes=probes(mountd="refused"))
    f = only(server_reachable(mig(dom=dom, src=hv("hv1", domains=(dom,)), dst=dst)))
    assert f.status.value == "fail" and "mountd" in f.message


def test_not_probed_is_error():
    assert statuses(server_reachable(mig())) == ["error"]          # nfs_probes None: not probed
    dst = hv("hv2", nfs_probes=probes(server="other"))
    assert statuses(server_reachable(mig(dst=dst))) == ["error"]


def test_server_not_in_inventory_is_skip():
    assert statuses(server_reachable(mig(storage={}, storage_hosts=()))) == ["skip"]


def test_W8_ports_the_probe_policy_refused_are_error_not_fail():
    rows = ((("nas", 2049, "nfs", "nas", "not_probed",
              "not probed: nas resolves to 10.9.0.2 here; 10.9.0.2 is none of nas's own addresses (10.0.0.20)")),)
    f = only(server_reachable(mig(dst=hv("hv2", nfs_probes=rows))))
    assert f.status.value == "error" and "none of nas's own addresses" in f.message
