"""End to end on the lab: `preflight check` against real libvirt/KVM hosts, judged by the oracle.

For each scenario the fault is applied, preflight runs (read-only), then every guest is really
live-migrated to every other hypervisor. A migration that really fails must never be reported
pass or warn; one that really succeeds must be reported pass or warn (unknown only with a
stated reason). Each fault must also FAIL the check that names it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lab import lab as L

pytestmark = pytest.mark.lab

def _cpu_feature_missing() -> list:
    """While cpu_feature_missing is applied: hv3 lacks F for host-model and host-passthrough
    guests (named in the FAIL, with the CPU definition compared); qemu64 guests still pass."""
    f, bad = L.cpu_missing_feature(), L.CPU_FAULT_HOST
    out = [("cpu.compatible", "fail", {"domain": dom, "source": src, "destination": dst,
                                       "message~": f"lacks {f}"})
           for dom, src, dst in L.STRICTER_BY_DESIGN["cpu_feature_missing"]]
    out.append(("cpu.compatible", "fail", {"domain": "vm-hostmodel", "source": "hv2", "destination": bad,
                                           "message~": "live CPU kvm64"}))
    out.append(("cpu.compatible", "fail", {"domain": L.PASSTHROUGH_GUEST.name, "source": "hv1",
                                           "destination": bad,
                                           "message~": "does not check host-passthrough"}))
    out += [("cpu.compatible", "pass", {"domain": g.name, "source": g.home, "destination": bad})
            for g in L.GUESTS if g.cpu == "qemu64" and g.home != bad]
    out += [("cpu.compatible", "pass", {"domain": L.PASSTHROUGH_GUEST.name, "source": "hv1",
                                        "destination": d})
            for d in L.HYPERVISORS if d not in ("hv1", bad)]
    return out


# scenario -> [(check id, status, {field: value}...)] that preflight must report (a callable:
# computed while the scenario is applied).
EXPECTED = {
    "clean": [("storage.shared", "fail", {"domain": "vm-local", "source": "hv1", "destination": d,
                                          "disk": "vda"}) for d in ("hv2", "hv3")]
    # issue 6: qemu64 check='none' and host-model guests on every hypervisor are judged by the
    # CPU they run with (the live one) and pass; vm-local fails on storage only
    + [("cpu.compatible", "pass", {"domain": g.name, "source": g.home, "destination": d,
                                   "message~": "live CPU " + ("qemu64" if g.cpu == "qemu64" else "kvm64")})
       for g in L.GUESTS for d in L.HYPERVISORS if d != g.home],
    "bridge_missing": [("network.guest_networks", "fail",
                        {"domain": "vm-gluster", "source": "hv1", "destination": L.BRIDGE_MISSING_HOST})],
    "firewall_reject": [("firewall.migration_ports", "fail", {"source": s, "destination": L.FIREWALL_HOST})
                        for s in L.HYPERVISORS if s != L.FIREWALL_HOST],
    "mount_missing": [("storage.shared", "fail", {"domain": "vm-gluster", "source": "hv1",
                                                  "destination": L.MOUNT_MISSING_HOST, "disk": "vda"})],
    "different_share": [("storage.shared", "fail", {"domain": "vm-gluster", "source": "hv1",
                                                    "destination": L.MOUNT_MISSING_HOST, "disk": "vda"})],
    "invtsc": [("domain.blockers", "fail", {"domain": L.INVTSC_GUEST.name, "host": L.INVTSC_GUEST.home})],
    "nfs_export_denies_host": [("nfs.export_allows_host", "fail",
                                {"domain": "vm-nfs", "source": "hv2", "destination": L.NFS_DENIED_HOST,
                                 "disk": "vda", "message~": "does not admit"})],
    "nfs_export_readonly": [("nfs.export_allows_host", "fail",
                             {"domain": "vm-nfs", "source": "hv2", "destination": L.NFS_DENIED_HOST,
                              "disk": "vda", "message~": "read-only"})],
    "nfs_root_squash": [("nfs.root_squash", "fail", {"domain": "vm-nfs", "source": "hv2", "destination": d,
                                                     "disk": "vda"}) for d in ("hv1", "hv3")],
    "nfs_port_blocked": [(check, "fail", {"domain": "vm-nfs", "source": "hv2", "destination": L.NAS_FIREWALL_HOST,
                                          "disk": "vda", "message~": "2049"})
                         for check in ("nfs.server_reachable", "storage.portal_reachable")],
    "readonly_mount": [("storage.shared", "fail", {"domain": "vm-gluster", "source": "hv1",
                                                   "destination": L.READONLY_MOUNT_HOST, "disk": "vda",
                                                   "message~": "read-only"})],
    "iscsi_portal_blocked": [("storage.portal_reachable", "fail",
                              {"domain": "vm-iscsi", "source": "hv3", "destination": L.ISCSI_BLOCKED_HOST,
                               "disk": "vda", "message~": "3260"})],
    "backing_local": [("storage.shared", "fail", {"domain": L.OVERLAY_GUEST.name, "source": "hv1", "destination": d,
                                                  "disk": "vda", "message~": "vm-overlay-base.qcow2"})
                      for d in ("hv2", "hv3")],
    "cdrom_local": [("storage.shared", "fail", {"domain": L.CDROM_GUEST.name, "source": "hv1", "destination": d,
                                                "disk": "hdc", "message~": L.CDROM_GUEST.cdrom}) for d in ("hv2", "hv3")],
    "cache_writeback": [("storage.cache_mode", "pass", {"domain": L.WRITEBACK_GUEST.name, "host": "hv1",
                                                        "disk": "vda", "message~": "cache=writeback"})],
    # libvirt 9.0 treats the GlusterFS FUSE mount as a coherent cluster FS: no drop-cache needed
    "cache_writeback_nodrop": [("storage.cache_mode", "pass", {"domain": L.WRITEBACK_GUEST.name, "host": "hv1",
                                                               "disk": "vda", "message~": "coherent cluster"})],
    "pool_missing": [("storage.shared", "fail", {"domain": L.POOL_GUEST.name, "source": "hv1", "destination": d,
                                                 "disk": "vda", "message~": f"pool {L.POOL_NAME} is not defined"})
                     for d in L.HYPERVISORS if d not in L.POOL_HOSTS],
    # issue 6: the source's read-only mount is a warning; the destinations' mounts decide
    "source_readonly": [("storage.shared", "warn", {"domain": "vm-gluster", "source": L.SOURCE_READONLY_HOST,
                                                    "destination": d, "disk": "vda", "message~": "read-only"})
                        for d in L.HYPERVISORS if d != L.SOURCE_READONLY_HOST],
    # issue 6: one source rejected; the others still pass on the lowest port of the range
    "firewall_one_source": [("firewall.migration_ports", "fail", {"source": L.FIREWALL_ONE_SOURCE[0],
                                                                  "destination": L.FIREWALL_ONE_SOURCE[1]}),
                            ("firewall.migration_ports", "pass", {"source": "hv3",
                                                                  "destination": L.FIREWALL_ONE_SOURCE[1],
                                                                  "message~": "49152"})],
    "cpu_feature_missing": _cpu_feature_missing,
    # issue 10: libvirt still offers kvm on hv3; its /dev/kvm is no KVM device (the host is judged)
    "kvm_unusable": [("host.kvm_device", "fail", {"domain": d, "source": s, "destination": L.KVM_HOST,
                                                  "message~": "not the KVM device"})
                     for d, s, _ in L.EXPECTED_FAILURES["kvm_unusable"]],
    # issue 10: hv3's QEMU capabilities lack vm-q35's pc-q35-X.Y; its i440fx guests still go there
    "machine_type_missing": [("domain.machine_type", "fail",
                              {"domain": L.Q35_GUEST.name, "source": L.Q35_GUEST.home,
                               "destination": L.MACHINE_FAULT_HOST, "message~": "pc-q35-"}),
                             ("domain.machine_type", "pass",
                              {"domain": "vm-gluster", "source": "hv1", "destination": L.MACHINE_FAULT_HOST}),
                             ("domain.machine_type", "pass",
                              {"domain": L.Q35_GUEST.name, "source": L.Q35_GUEST.home, "destination": "hv2"})],
    # issue 10: hv3's libvirtd got hv2's host_uuid: libvirt refuses both ways ("same host")
    "host_uuid_clone": [("host.identity", "fail", {"source": s, "destination": d, "item": "uuid",
                                                   "message~": "share libvirt host UUID"})
                        for s, d in (L.UUID_CLONE, L.UUID_CLONE[::-1])]
    + [("host.identity", "pass", {"source": "hv1", "destination": d, "item": "uuid"}) for d in L.UUID_CLONE],
    # issue 10: hv3's br-app 1400 < the guests' 1500: the real migrations succeed, so WARN, not FAIL
    "bridge_mtu_smaller": [("network.mtu", "warn", {"domain": dom, "source": src, "destination": dst,
                                                    "message~": str(L.MTU_SMALL)})
                           for dom, src, dst in L.EXPECTED_SUCCESSES["bridge_mtu_smaller"]],
}


# The checks that really block, per scenario: for every migration preflight calls `fail`, its
# blockers must be exactly these (a right verdict for a wrong reason hides the next false pass),
# and every real failure of the oracle must be one of them.
_LOCAL = {("vm-local", "hv1", d): {"storage.shared"} for d in L.HYPERVISORS if d != "hv1"}


def _causes(extra: dict, blocks_local_to: tuple = ()) -> dict:
    causes = {k: set(v) for k, v in _LOCAL.items()}
    for dst in blocks_local_to:          # vm-local is blocked twice where the fault is on its way too
        causes[("vm-local", "hv1", dst)].add("firewall.migration_ports")
    for key, checks in extra.items():
        causes.setdefault(key, set()).update(checks)
    return causes


def _same(scenario: str, checks: set) -> dict:
    """Every real failure the lab expects for `scenario`, blamed on `checks`."""
    return {k: checks for k in L.EXPECTED_FAILURES[scenario]}


CAUSES = {
    "clean": _causes({}),
    "bridge_missing": _causes(_same("bridge_missing", {"network.guest_networks"})),
    "firewall_reject": _causes(_same("firewall_reject", {"firewall.migration_ports"}),
                               blocks_local_to=(L.FIREWALL_HOST,)),
    "mount_missing": _causes(_same("mount_missing", {"storage.shared"})),
    "different_share": _causes(_same("different_share", {"storage.shared"})),
    "invtsc": _causes(_same("invtsc", {"domain.blockers"})),
    "nfs_export_denies_host": _causes(_same("nfs_export_denies_host", {"nfs.export_allows_host"})),
    "nfs_export_readonly": _causes(_same("nfs_export_readonly", {"nfs.export_allows_host"})),
    "nfs_root_squash": _causes(_same("nfs_root_squash", {"nfs.root_squash"})),
    "nfs_port_blocked": _causes(_same("nfs_port_blocked", {"nfs.server_reachable", "storage.portal_reachable"})),
    "readonly_mount": _causes(_same("readonly_mount", {"storage.shared"})),
    "iscsi_portal_blocked": _causes(_same("iscsi_portal_blocked", {"storage.portal_reachable"})),
    "backing_local": _causes(_same("backing_local", {"storage.shared"})),
    "cdrom_local": _causes(_same("cdrom_local", {"storage.shared"})),
    "cache_writeback": _causes({}),
    "cache_writeback_nodrop": _causes({}),
    "pool_missing": _causes(_same("pool_missing", {"storage.shared"})),
    "source_readonly": _causes({}),
    "firewall_one_source": _causes(_same("firewall_one_source", {"firewall.migration_ports"}),
                                   blocks_local_to=(L.FIREWALL_ONE_SOURCE[1],)),
    # stricter by design: the real migration succeeds on the same silicon (see lab.STRICTER_BY_DESIGN)
    # vm-local is host-model too: towards the CPU-fault host it is blocked twice (storage, and by design CPU)
    "cpu_feature_missing": _causes({pair: set(checks)
                                    for pair, checks in L.STRICTER_BY_DESIGN["cpu_feature_missing"].items()}
                                   | {("vm-local", "hv1", L.CPU_FAULT_HOST): {"cpu.compatible"}}),
    "kvm_unusable": _causes(_same("kvm_unusable", {"host.kvm_device"})
                            | {("vm-local", "hv1", L.KVM_HOST): {"storage.shared", "host.kvm_device"}}),
    "machine_type_missing": _causes(_same("machine_type_missing", {"domain.machine_type"})),
    "host_uuid_clone": _causes(_same("host_uuid_clone", {"host.identity"})),
    "bridge_mtu_smaller": _causes({}),
}


def assert_blames_the_cause(name: str, report, oracle: dict) -> None:
    causes = CAUSES[name]
    problems = []
    for m in report["migrations"]:
        key = (m["domain"], m["source"], m["destination"])
        if m["verdict"] == "fail" and set(m["blockers"]) != causes.get(key, set()):
            problems.append(f"{key}: preflight blames {sorted(m['blockers'])}, the cause is "
                            f"{sorted(causes.get(key, set())) or 'nothing (it really migrates)'}")
    for key, (ok, message) in sorted(oracle.items()):
        if not ok and key not in causes:
            problems.append(f"{key} really failed ({message}) but the scenario names no cause for it")
        elif not ok:
            m = next((m for m in report["migrations"]
                      if (m["domain"], m["source"], m["destination"]) == key), None)
            if m is None or m["verdict"] != "fail":
                problems.append(f"{key} really failed ({message}); preflight said "
                                f"{m['verdict'] if m else 'nothing'}, not fail by {sorted(causes[key])}")
    assert not problems, "\n".join(problems)


def preflight(lab, tmp_path: Path, *extra, inventory=None) -> tuple:
    out = tmp_path / "report.json"
    html = tmp_path / "report.html"
    proc = subprocess.run(
        [sys.executable, "-m", "preflight", "check", "--cluster", "lab",
         "--inventory", str(inventory or lab.inventory), "--json", str(out), "--html", str(html), *extra],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode in (0, 1, 3), proc.stderr
    assert "Traceback" not in proc.stderr
    report = json.loads(out.read_text())
    from preflight.compact import expand_document
    from preflight.reports import validate

    validate(report)
    assert html.stat().st_size > 1000
    # compact by default: every result and migration as one object each, as --full-results writes them
    return proc, expand_document(report)


def matching(report, check, status, fields) -> list:
    """Results of `check` with `status` whose fields equal `fields` ("message~": a substring of
    the message)."""
    return [r for r in report["results"] if r["check"] == check and r["status"] == status
            and all(v in (r.get("message") or "") if k == "message~" else r.get(k) == v
                    for k, v in fields.items())]


def assert_agrees_with_oracle(report, oracle: dict, stricter: dict = None) -> None:
    """Every real outcome against preflight's verdict. `stricter` (lab.STRICTER_BY_DESIGN) lists
    pairs that really migrate but that preflight must FAIL by design: those are held to that,
    blocked by exactly the checks named there, and to nothing looser."""
    matrix = {(m["domain"], m["source"], m["destination"]): m for m in report["migrations"]}
    stricter = stricter or {}
    problems = []
    for key, (ok, message) in sorted(oracle.items()):
        m = matrix.get(key)
        if m is None:
            problems.append(f"{key}: real migration {'succeeded' if ok else 'failed'} but preflight "
                            f"has no verdict for it")
            continue
        if key in stricter:
            if not ok:
                problems.append(f"{key}: documented as stricter by design (the real migration succeeds) "
                                f"but it really failed: {message}")
            elif m["verdict"] != "fail" or sorted(m["blockers"]) != sorted(stricter[key]):
                problems.append(f"{key}: preflight must FAIL it by {stricter[key]} only (stricter by "
                                f"design); it said {m['verdict']} {m['blockers']}: {m['reasons']}")
            continue
        if not ok and m["verdict"] in ("pass", "warn"):
            problems.append(f"FALSE {m['verdict'].upper()}: {key} really failed ({message}) "
                            f"but preflight said {m['verdict']}")
        if ok and m["verdict"] == "fail":
            problems.append(f"{key} really migrated but preflight said fail: {m['reasons']}")
        if ok and m["verdict"] == "unknown" and not m["reasons"]:
            problems.append(f"{key} really migrated; preflight said unknown with no reason")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", ["clean", "bridge_missing", "firewall_reject", "mount_missing",
                                  "different_share", "invtsc", "nfs_export_denies_host",
                                  "nfs_export_readonly", "nfs_root_squash", "nfs_port_blocked",
                                  "readonly_mount", "iscsi_portal_blocked", "backing_local", "cdrom_local",
                                  "cache_writeback", "cache_writeback_nodrop", "pool_missing",
                                  "source_readonly", "firewall_one_source", "cpu_feature_missing",
                                  "kvm_unusable", "machine_type_missing", "host_uuid_clone",
                                  "bridge_mtu_smaller"])
def test_matrix_agrees_with_real_migrations(lab, scenario, oracle_runs, tmp_path, name):
    try:
        with scenario(name):
            proc, report = preflight(lab, tmp_path)
            oracle = L.oracle()
            expected = EXPECTED[name]() if callable(EXPECTED[name]) else EXPECTED[name]
    except L.ScenarioUnavailable as exc:   # e.g. invtsc under TCG: the guest cannot even start
        pytest.skip(str(exc))
    oracle_runs[name] = oracle
    assert_agrees_with_oracle(report, oracle, L.STRICTER_BY_DESIGN.get(name))
    assert_blames_the_cause(name, report, oracle)
    for check, status, fields in expected:
        assert matching(report, check, status, fields), (
            f"{name}: expected {check} {status} for {fields}; got "
            + json.dumps([r for r in report["results"] if r["status"] != "pass"], indent=1)[:3000])
    if name == "clean":
        fails = [r for r in report["results"] if r["status"] == "fail"]
        assert all(r["domain"] == "vm-local" for r in fails), fails
        # a FAIL names the check that really blocks: storage, not the CPU
        assert all(m["blockers"] == ["storage.shared"]
                   for m in report["migrations"] if m["domain"] == "vm-local")
        assert proc.returncode == 1
        shared = [m for m in report["migrations"] if m["domain"] != "vm-local"]
        assert shared and all(m["verdict"] == "pass" for m in shared), shared


def test_round_trips_are_counted(lab, tmp_path):
    _, report = preflight(lab, tmp_path)
    for host in report["hosts"]:
        assert host["reachable"], host
        # all shell facts in one batched exec plus the libvirt helper channel
        assert 1 <= host["round_trips"] <= 3, host
        assert host["pair_round_trips"] >= 1, host


def test_unreachable_host_is_error_and_others_are_still_checked(lab, tmp_path):
    inv = tmp_path / "inv.toml"
    ghost = f"{L.SUBNET}.99"     # inside the lab's own subnet; nothing answers there
    inv.write_text(Path(lab.inventory).read_text().replace(
        'hosts = ["hv1", "hv2", "hv3"]',
        f'hosts = ["hv1", "hv2", "hv3", {{ name = "ghost", address = "{ghost}" }}]')
        + "connect_timeout = 3\n")
    proc, report = preflight(lab, tmp_path, inventory=inv)
    ghost_host = next(h for h in report["hosts"] if h["name"] == "ghost")
    assert not ghost_host["reachable"] and ghost_host["error"]
    assert matching(report, "host.reachable", "error", {"host": "ghost"})
    to_ghost = [m for m in report["migrations"] if m["destination"] == "ghost"]
    assert to_ghost and all(m["verdict"] == "unknown" for m in to_ghost)
    # the real hosts were still judged
    assert matching(report, "storage.shared", "pass", {"domain": "vm-gluster", "destination": "hv2"})
    assert proc.returncode == 1   # vm-local FAILs; that outranks the undecided ghost


def test_unknown_host_key_is_a_clear_error_for_that_host(lab, tmp_path):
    known = tmp_path / "known_hosts"
    hv3 = {"hv3", L.address("hv3"), f"[{L.address('hv3')}]:22"}
    known.write_text("".join(line for line in Path(lab.known_hosts).read_text().splitlines(True)
                             if line.split(" ", 1)[0] not in hv3
                             and not any(h in line.split(" ", 1)[0].split(",") for h in hv3)))
    inv = tmp_path / "inv.toml"
    inv.write_text(Path(lab.inventory).read_text().replace(lab.known_hosts, str(known)))
    ssh_config = Path(lab.ssh_config).read_text().replace(lab.known_hosts, str(known))
    (tmp_path / "ssh_config").write_text(ssh_config)
    inv.write_text(inv.read_text().replace(lab.ssh_config, str(tmp_path / "ssh_config")))
    proc, report = preflight(lab, tmp_path, inventory=inv)
    hv3_host = next(h for h in report["hosts"] if h["name"] == "hv3")
    assert not hv3_host["reachable"]
    assert "known_hosts" in hv3_host["error"] and "SHA256:" in hv3_host["error"]
    assert known.read_text().count("\n") == len(known.read_text().splitlines())  # not modified
    assert all(h["reachable"] for h in report["hosts"] if h["name"] != "hv3")


def test_probes_of_other_pairs_do_not_interfere_and_leave_nothing_behind(lab, scenario, tmp_path):
    """issue 6: a probe failing towards one host while other pairs probe it. The listener used to
    wait for N connections: with one source rejected it lingered for its whole lifetime, so the
    next run (or a real migration right after) found 49152 taken and moved to 49153, which this
    firewall rejects: a false FAIL for hv3 -> hv2 (and a real migration failure)."""
    src, dst = L.FIREWALL_ONE_SOURCE
    with scenario("firewall_one_source"):
        for run in (1, 2):                             # back to back: the second run sees any leftover
            _, report = preflight(lab, tmp_path)
            assert L.listening_ports(dst) == [], f"run {run}: preflight left a listener on {dst}"
            fw = {(r["source"], r["destination"]): r for r in report["results"]
                  if r["check"] == "firewall.migration_ports"}
            assert fw[(src, dst)]["status"] == "fail", fw[(src, dst)]
            others = [r for (s, d), r in fw.items() if (s, d) != (src, dst)]
            assert all(r["status"] == "pass" for r in others), [r for r in others if r["status"] != "pass"]
            assert fw[("hv3", dst)]["evidence"]["port"] == 49152
            assert fw[("hv3", dst)]["evidence"]["confirmed"] is True
