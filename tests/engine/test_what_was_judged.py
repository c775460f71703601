"""Never a clean bill of health without evidence (issue 6, item 2).

A run that judged no migration (no hypervisor, one hypervisor, fewer than two usable ones, no running
VM), a host whose libvirt facts are unusable, and a source whose guests could not be listed: each is
said in every output (terminal, JSON, HTML) and none exits 0. The decision lives in the run model
(RunReport.nothing_judged / coverage / exit_code); the renderers only read it.
"""

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from preflight.engine.pipeline import evaluate
from preflight.engine.registry import CheckSpec, Registry, discover, passed
from preflight.engine.runner import Selection
from preflight.model import Scope, Severity
from preflight.reports import render_html, render_json, validate
from preflight.compact import expand_document

DEMO = Path(__file__).resolve().parents[2] / "preflight" / "demo" / "demo-facts.json"
FORMAT = "preflight-facts/1"


def demo():
    return json.loads(DEMO.read_text())


def down(error="ssh: connect to host 10.251.7.13 port 22: Connection timed out"):
    return {"address": "10.251.7.13", "reachable": False, "error": error, "shell": {}, "libvirt": {},
            "errors": {}}


def only(record, *names):
    record = copy.deepcopy(record)
    record["hosts"] = {n: record["hosts"][n] for n in names}
    record["pairs"] = [p for p in record["pairs"] if p["source"] in names and p["destination"] in names]
    return record


def libvirt_down(record, name):
    record = copy.deepcopy(record)
    record["hosts"][name]["libvirt"] = {}
    record["hosts"][name]["errors"] = {
        "libvirt": "cannot connect to qemu:///system: Failed to connect socket to "
                   "'/var/run/libvirt/libvirt-sock': No such file or directory"}
    return record


def domains_failed(record, name):
    record = copy.deepcopy(record)
    record["hosts"][name]["libvirt"].pop("domains")
    record["hosts"][name]["errors"] = {"domains": "listAllDomains: timed out after 30 s"}
    return record


def no_running_vm(record):
    record = copy.deepcopy(record)
    for host in record["hosts"].values():
        for dom in host["libvirt"]["domains"]:
            dom["active"], dom["state"] = False, "shutoff"
    return record


def check_cli(tmp_path, record, *args, env=None):
    """Replay `record` through the CLI: (process, JSON document, HTML text)."""
    rec = tmp_path / "rec.json"
    rec.write_text(json.dumps(record))
    out_json, out_html = tmp_path / "r.json", tmp_path / "r.html"
    proc = subprocess.run([sys.executable, "-m", "preflight", "check", "--replay", str(rec),
                           "--json", str(out_json), "--html", str(out_html), *args],
                          capture_output=True, text=True, timeout=120, env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    doc = expand_document(json.loads(out_json.read_text()))
    validate(doc)
    assert doc["run"]["exit_code"] == proc.returncode
    return proc, doc, out_html.read_text()


def headline(html):
    start = html.index('<div class="headline')
    return html[start:html.index("</div>", start)]


def summary(stdout):
    return stdout[stdout.index("= SUMMARY ="):]


def assert_nothing_judged(proc, doc, html, reason):
    assert proc.returncode == 3, proc.stdout[-2000:]
    cov = doc["run"]["coverage"]
    assert cov["judged"] is False and reason in cov["nothing_judged"]
    # terminal: first lines and the summary both say it
    head = " ".join(proc.stdout.split("= HOSTS =")[0].split())
    assert "NOTHING JUDGED: No migration was judged" in head and reason in head
    assert "No migration was judged" in " ".join(summary(proc.stdout).split())
    assert "Exit code 3" in proc.stdout
    # HTML: the headline, never green
    top = headline(html)
    assert 'o-unknown' in top and "No migration was judged" in top and reason in " ".join(top.split())
    assert "o-pass" not in top


# --- nothing judged ------------------------------------------------------------------------------

def test_hole_recording_with_only_its_format_is_a_clean_bill(tmp_path):
    proc, doc, html = check_cli(tmp_path, {"format": FORMAT})
    assert_nothing_judged(proc, doc, html, "the recording holds no hypervisor")


def test_hole_inventory_with_no_hosts_is_a_clean_bill(tmp_path):
    inv = tmp_path / "inv.toml"
    inv.write_text('[clusters.empty]\nhosts = []\n')
    env = dict(os.environ, HOME=str(tmp_path))   # no ssh_config of the machine running the tests
    proc = subprocess.run([sys.executable, "-m", "preflight", "check", "--cluster", "empty", "--inventory",
                           str(inv), "--json", str(tmp_path / "r.json"), "--html", str(tmp_path / "r.html")],
                          capture_output=True, text=True, timeout=120, env=env)
    doc = expand_document(json.loads((tmp_path / "r.json").read_text()))
    validate(doc)
    assert_nothing_judged(proc, doc, (tmp_path / "r.html").read_text(), "the cluster has no hypervisor")


def test_hole_one_host_cluster_is_a_clean_bill(tmp_path):
    proc, doc, html = check_cli(tmp_path, only(demo(), "hv1"))
    assert_nothing_judged(proc, doc, html, "the cluster has one hypervisor (hv1)")


def test_hole_fewer_than_two_reachable_hypervisors(tmp_path):
    record = demo()
    record["hosts"]["hv2"] = down()
    record["hosts"]["hv3"] = down()
    proc, doc, html = check_cli(tmp_path, record)
    assert_nothing_judged(proc, doc, html, "only 1 of 3 hypervisors could be assessed (hv2 unreachable, "
                                           "hv3 unreachable)")


def test_hole_two_hosts_one_without_libvirt(tmp_path):
    record = libvirt_down(only(demo(), "hv1", "hv2"), "hv2")
    proc, doc, html = check_cli(tmp_path, record, "--skip", "firewall")
    assert proc.returncode == 3
    assert "hv2 without usable libvirt facts" in doc["run"]["coverage"]["nothing_judged"]


def test_hole_no_running_vm_anywhere(tmp_path):
    # the demo's firewall fault is a real FAIL (exit 1 would be right); leave it out
    proc, doc, html = check_cli(tmp_path, no_running_vm(demo()), "--skip", "firewall")
    assert_nothing_judged(proc, doc, html, "no VM is running on any hypervisor")


# --- a host whose libvirt facts are unusable -----------------------------------------------------

def test_hole_host_without_libvirt_is_reachable_and_fine(tmp_path):
    proc, doc, html = check_cli(tmp_path, libvirt_down(demo(), "hv3"))
    (res,) = [r for r in doc["results"] if r["check"] == "host.reachable" and r["host"] == "hv3"]
    assert res["status"] == "error"
    assert "libvirt facts are missing or unusable" in res["message"]
    assert "Failed to connect socket" in res["evidence"]["observed"]
    assert set(res["evidence"]["missing_facts"]) == {"libvirt", "capabilities", "domains"}
    (hv3,) = [h for h in doc["hosts"] if h["name"] == "hv3"]
    assert hv3["reachable"] and not hv3["guests_listed"] and "libvirt" in hv3["missing_facts"]
    hosts = " ".join(proc.stdout[proc.stdout.index("= HOSTS ="):proc.stdout.index("= CHECKS")].split())
    assert "ERROR: hv3 reachable over SSH, but libvirt facts are missing or unusable" in hosts
    assert "PASS: hv3" not in hosts and "libvirt unknown" not in hosts
    assert "SSH only" in html
    # its guests are not silently gone either
    assert [u["host"] for u in doc["run"]["coverage"]["unassessed"]] == ["hv3"]
    assert "libvirt did not answer: cannot connect" in doc["run"]["coverage"]["unassessed"][0]["reason"]


# --- a source whose guests could not be listed ---------------------------------------------------

def assert_not_assessed(proc, doc, html, host, reason):
    cov = doc["run"]["coverage"]
    assert [u["host"] for u in cov["unassessed"]] == [host] and reason in cov["unassessed"][0]["reason"]
    assert cov["migrations"] == len(doc["migrations"])
    line = f"guests on {host} could not be listed: not assessed"
    text = " ".join(proc.stdout.split())
    matrix = " ".join(proc.stdout[proc.stdout.index("= MIGRATION MATRIX ="):].split())
    assert line in matrix and f"(guests not │ {host} │ not assessed" in matrix    # the row, wrapped at 80
    assert f"Not assessed: the guests on {host}, which could not be listed; these {len(doc['migrations'])} " \
           f"migrations do not include theirs" in " ".join(summary(proc.stdout).split())
    assert line in text
    assert line in html and "NOT ASSESSED" in html
    assert f"not assessed: the guests on {host}" in html     # the migration count's caption
    assert "o-pass" not in headline(html)


def test_hole_unreachable_source_guests_vanish(tmp_path):
    record = demo()
    record["hosts"]["hv3"] = down()
    proc, doc, html = check_cli(tmp_path, record)
    assert_not_assessed(proc, doc, html, "hv3", "hv3 unreachable: ssh: connect to host")
    assert not any(m["source"] == "hv3" for m in doc["migrations"])


def test_hole_domain_list_failure_guests_vanish(tmp_path):
    proc, doc, html = check_cli(tmp_path, domains_failed(demo(), "hv3"))
    assert_not_assessed(proc, doc, html, "hv3", "the libvirt domain list failed: listAllDomains: timed out")
    (res,) = [r for r in doc["results"] if r["check"] == "host.reachable" and r["host"] == "hv3"]
    assert res["status"] == "error" and "Its guests could not be listed" in res["message"]


# --- exit codes from the run model, on a cluster with no fault ----------------------------------

def _always_passes(ctx):
    return passed("fine")


def small_registry():
    """host.reachable and one migration check that passes: a run whose only problem is the hole."""
    registry = Registry()
    registry.add(discover(include_plugins=False).get("host.reachable"))
    registry.add(CheckSpec(id="domain.always_fine", title="Always fine", category="domain",
                           severity=Severity.LOW, scope=Scope.MIGRATION, func=_always_passes,
                           remediation="r", rationale="r", verifies="v"))
    return registry


def run(record):
    return evaluate(record, small_registry(), Selection(), cluster="lab", started="2026-11-26T05:10:48+00:00",
                    source="replay:rec.json")


def test_a_clean_cluster_still_exits_0():
    report = run(demo())
    assert report.exit_code() == 0 and report.coverage()["judged"] and not report.unassessed
    n = len(report.migrations)                # every running guest x every other hypervisor
    assert n >= 10
    assert f"No migration is blocked (of {n}); {n} can proceed." in headline(render_html(report))


@pytest.mark.parametrize("make, reason", [
    (lambda: {"format": FORMAT}, "the recording holds no hypervisor"),
    (lambda: only(demo(), "hv2"), "one hypervisor"),
    (lambda: no_running_vm(demo()), "no VM is running"),
])
def test_hole_nothing_judged_exits_0(make, reason):
    report = run(make())
    assert report.exit_code() == 3 and reason in report.nothing_judged()
    doc = expand_document(json.loads(render_json(report)))
    assert doc["run"]["exit_code"] == 3 and doc["run"]["coverage"]["judged"] is False


def test_hole_guests_not_listed_exits_0():
    report = run(domains_failed(demo(), "hv3"))
    assert [u.host for u in report.unassessed] == ["hv3"]
    assert report.exit_code() == 3
    assert {m.source for m in report.migrations} == {"hv1", "hv2"}
