"""Drift between two runs (`preflight diff`, `check --previous`) on recordings of the lab: a fault
injected into the demo's real facts, a VM gone, a host gone."""

import json
from pathlib import Path

import pytest

from cli_helpers import run_cli
from preflight.reports import validate

DEMO = Path(__file__).resolve().parents[2] / "preflight" / "demo" / "demo-facts.json"


def recording(tmp_path, name, edit=None) -> Path:
    facts = json.loads(DEMO.read_text())
    if edit:
        edit(facts)
    path = tmp_path / f"{name}.facts.json"
    path.write_text(json.dumps(facts))
    return path


def report(tmp_path, facts: Path, name: str, *extra) -> tuple:
    proc = run_cli("check", "--replay", facts, "--json", tmp_path / f"{name}.json", "--html",
                   tmp_path / f"{name}.html", *extra)
    assert proc.returncode in (0, 1, 3), proc.stderr
    doc = json.loads((tmp_path / f"{name}.json").read_text())
    validate(doc)
    return proc, doc


def unreadable_links_on_hv3(facts):
    facts["hosts"]["hv3"]["shell"]["ip_link"] = {"rc": 1, "out": "", "err": "ip: permission denied"}


def qemu64_stopped(facts):
    doms = facts["hosts"]["hv3"]["libvirt"]["domains"]
    facts["hosts"]["hv3"]["libvirt"]["domains"] = [d for d in doms if d["name"] != "vm-qemu64"]


@pytest.fixture(scope="module")
def before(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("drift")
    return tmp, report(tmp, recording(tmp, "clean"), "old")[1]


def test_identical_runs_have_no_drift(before, tmp_path):
    tmp, old = before
    proc, doc = report(tmp_path, DEMO, "again", "--previous", tmp / "old.json")
    assert doc["drift"]["changed"] is False and set(doc["drift"]["counts"].values()) == {0}
    assert "Nothing changed since run " + old["run"]["id"] in " ".join(proc.stdout.split())
    diff = run_cli("diff", tmp / "old.json", tmp_path / "again.json")
    assert diff.returncode == 0 and "Nothing changed" in diff.stdout


def test_a_fault_and_a_stopped_vm_show_as_new_findings_changed_verdicts_and_a_vm_gone(before, tmp_path):
    tmp, old = before

    def edit(facts):
        unreadable_links_on_hv3(facts)
        qemu64_stopped(facts)

    proc, doc = report(tmp_path, recording(tmp_path, "fault", edit), "new", "--previous", tmp / "old.json")
    d = doc["drift"]
    assert d["previous"]["run_id"] == old["run"]["id"] and d["same_cluster"]
    assert d["vms"]["gone"] == [{"domain": "vm-qemu64", "host": "hv3"}] and not d["hosts"]["gone"]
    new = {f["id"]: f for f in d["findings"]["new"]}
    # a migration that passed before is now undecided: its NIC check says ERROR
    assert "network.guest_networks/migration/vm-nfs@hv2->hv3" in new
    assert new["network.guest_networks/migration/vm-nfs@hv2->hv3"]["status"] == "error"
    # the br-app FAIL is not "resolved": it could not be decided any more (FAIL -> ERROR), paired on
    # check, scope and subject although the ERROR names no NIC
    changed = {f["id"]: f for f in d["findings"]["changed"]}
    assert changed["network.guest_networks/migration/vm-gluster@hv1->hv3"]["was"] == "fail"
    resolved = {f["id"]: f for f in d["findings"]["resolved"]}
    assert all(f["now"].startswith("gone: its VM") for f in resolved.values())
    assert all(f.get("domain") == "vm-qemu64" for f in resolved.values())   # nothing else got better
    verdicts = {(v["domain"], v["source"], v["destination"]): v for v in d["verdicts"]["changed"]}
    assert verdicts[("vm-nfs", "hv2", "hv3")]["was"] == "pass" and verdicts[("vm-nfs", "hv2", "hv3")]["now"] == "unknown"
    assert d["verdicts"]["gone"] == 2 and d["verdicts"]["new"] == 0          # vm-qemu64 to hv1 and hv2
    # every output says it; the HTML has its section and names the previous run
    flat = " ".join(proc.stdout.split())
    assert "CHANGES SINCE THE PREVIOUS RUN" in flat and "VMs gone: vm-qemu64 (on hv3)" in flat
    html = (tmp_path / "new.html").read_text()
    assert 'id="drift"' in html and old["run"]["id"] in html
    # `preflight diff` of the two files tells the same, and exits 1
    diff = run_cli("diff", tmp / "old.json", tmp_path / "new.json", "--json", tmp_path / "d.json")
    assert diff.returncode == 1
    standalone = json.loads((tmp_path / "d.json").read_text())
    assert standalone["findings"] == d["findings"] and standalone["verdicts"] == d["verdicts"]
    assert run_cli("verify", tmp_path / "new.html", tmp_path / "new.json").returncode == 0


def test_a_host_gone_resolves_its_findings_as_gone_with_it(before, tmp_path):
    tmp, _ = before

    def drop_hv2(facts):
        del facts["hosts"]["hv2"]
        facts["pairs"] = [p for p in facts["pairs"] if "hv2" not in (p.get("source"), p.get("destination"))]

    _, doc = report(tmp_path, recording(tmp_path, "nohv2", drop_hv2), "new", "--previous", tmp / "old.json")
    d = doc["drift"]
    assert d["hosts"]["gone"] == ["hv2"]
    fw = [f for f in d["findings"]["resolved"] if f["check"] == "firewall.migration_ports"]
    assert fw and all(f["now"] == "gone: its host is no longer in the report" for f in fw)


def test_previous_of_another_cluster_or_not_a_report_is_one_line_exit_2(before, tmp_path):
    tmp, old = before
    other = dict(old, run=dict(old["run"], cluster="prod"))
    (tmp_path / "prod.json").write_text(json.dumps(other))
    proc = run_cli("check", "--replay", DEMO, "--previous", tmp_path / "prod.json", "--json", tmp_path / "r.json")
    assert proc.returncode == 2 and "a report of cluster 'prod'" in proc.stderr and proc.stderr.count("\n") == 1
    assert not (tmp_path / "r.json").exists()
    (tmp_path / "x.json").write_text('{"hello": 1}')
    for args in (("check", "--replay", DEMO, "--previous", tmp_path / "x.json"),
                 ("diff", tmp_path / "x.json", tmp / "old.json"), ("diff", tmp / "old.json", tmp_path / "nope.json")):
        proc = run_cli(*args)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, args
    # diff compares two clusters, saying so
    diff = run_cli("diff", tmp / "old.json", tmp_path / "prod.json")
    assert "two different clusters are compared" in " ".join(diff.stdout.split())
