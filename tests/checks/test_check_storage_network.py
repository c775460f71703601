"""storage.portal_reachable on built facts: every network-disk server answers from the destination."""

from preflight.checks.storage_network import portal_reachable
from factories import as_list, domain, file_disk, host, migration, net_disk, statuses
from preflight.facts.models import Disk, DiskHost


def iscsi(port=3260, target="vdb"):
    return net_disk("iscsi", "nas", "iqn.2026-11.lab:vmstore/1", target=target, port=port)


def row(target="nas", port=3260, protocol="iscsi", outcome="answered", detail=None):
    return (target, port, protocol, outcome, detail)


def mig(disks, probes):
    dom = domain(disks=disks)
    return migration(dom=dom, src=host("hv1", domains=(dom,)), dst=host("hv2", portal_probes=probes))


def only(produced):
    (f,) = as_list(produced)
    return f


def test_answered_portal_passes_with_evidence():
    f = only(portal_reachable(mig((iscsi(),), (row(),))))
    assert f.status.value == "pass" and f.disk == "vdb"
    assert "nas:3260" in f.observed and "hv2" in f.message


def test_refused_portal_fails_naming_the_portal_and_remediation_exists():
    f = only(portal_reachable(mig((iscsi(),), (row(outcome="refused", detail="10.0.0.20:3260 refused"),))))
    assert f.status.value == "fail" and "nas:3260" in f.message and "refused" in f.message
    assert f.disk == "vdb"


def test_timeout_and_unreachable_fail():
    for outcome in ("timeout", "unreachable"):
        assert statuses(portal_reachable(mig((iscsi(),), (row(outcome=outcome),)))) == ["fail"]


def test_default_port_used_when_disk_gives_none():
    assert statuses(portal_reachable(mig((iscsi(port=None),), (row(port=3260),)))) == ["pass"]
    # a row for another port of the same server is not evidence for this one
    assert statuses(portal_reachable(mig((iscsi(port=None),), (row(port=3261),)))) == ["error"]


def test_not_probed_is_error_never_pass():
    assert statuses(portal_reachable(mig((iscsi(),), None))) == ["error"]     # old recording
    assert statuses(portal_reachable(mig((iscsi(),), ()))) == ["error"]       # server missing from probes


def test_one_finding_per_network_disk_and_file_disks_ignored():
    disks = (file_disk(), iscsi(target="vdb"),
             net_disk("gluster", "gl1", "vol0/vm1.qcow2", target="vdc"))
    found = as_list(portal_reachable(mig(disks, (row(), row("gl1", 24007, "gluster", "refused")))))
    assert {(f.disk, f.status.value) for f in found} == {("vdb", "pass"), ("vdc", "fail")}


def test_no_network_disk_is_skip():
    assert statuses(portal_reachable(mig((file_disk(),), ()))) == ["skip"]


def test_ceph_any_monitor_port_and_partial_reachability():
    rbd = Disk(target="vdb", type="network", protocol="rbd", name="pool/img",
               hosts=(DiskHost("mon1"), DiskHost("mon2")))
    ok = (row("mon1", 3300, "rbd", "refused"), row("mon1", 6789, "rbd"),
          row("mon2", 3300, "rbd"), row("mon2", 6789, "rbd", "refused"))
    assert statuses(portal_reachable(mig((rbd,), ok))) == ["pass"]
    half = (row("mon1", 3300, "rbd"), row("mon1", 6789, "rbd"),
            row("mon2", 3300, "rbd", "timeout"), row("mon2", 6789, "rbd", "timeout"))
    f = only(portal_reachable(mig((rbd,), half)))
    assert f.status.value == "warn" and "mon2" in f.message
    dead = tuple(r[:3] + ("refused", None) for r in half)
    assert statuses(portal_reachable(mig((rbd,), dead))) == ["fail"]


def test_unix_socket_no_host_and_unknown_protocol_are_errors():
    nbd_unix = Disk(target="vdb", type="network", protocol="nbd", name="x",
                    hosts=(DiskHost("/run/nbd.sock", transport="unix", socket="/run/nbd.sock"),))
    assert statuses(portal_reachable(mig((nbd_unix,), ()))) == ["error"]
    rbd_conf = Disk(target="vdb", type="network", protocol="rbd", name="pool/img", hosts=())
    assert statuses(portal_reachable(mig((rbd_conf,), ()))) == ["error"]
    odd = net_disk("tftp", "srv", "img", target="vdb")
    assert statuses(portal_reachable(mig((odd,), ()))) == ["error"]


def test_unparsed_domain_is_error():
    dom = domain(disks=(), error="bad xml")
    ctx = migration(dom=dom, src=host("hv1", domains=(dom,)), dst=host("hv2", portal_probes=()))
    assert statuses(portal_reachable(ctx)) == ["error"]


def test_W8_a_server_the_probe_policy_refused_is_error_not_fail():
    why = "not probed: nas resolves to 127.0.0.1 here; 127.0.0.1 is a loopback address"
    f = only(portal_reachable(mig((iscsi(),), (row(outcome="not_probed", detail=why),))))
    assert f.status.value == "error" and "loopback" in f.message
