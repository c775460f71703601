"""The built-in demo cluster: recorded lab facts replayed through the real parsers and checks."""

import json
import subprocess
import sys

import pytest

from preflight.reports import validate
from preflight.compact import expand_document


def run(*args):
    return subprocess.run([sys.executable, "-m", "preflight", *args], capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    proc = run("check", "--cluster", "demo", "--json", str(out / "r.json"), "--html", str(out / "r.html"))
    return proc, expand_document(json.loads((out / "r.json").read_text())), (out / "r.html").read_text()


def test_demo_reports_real_failures(demo):
    proc, report, html = demo
    assert proc.returncode == 1, proc.stderr
    validate(report)
    assert report["run"]["source"].startswith("replay:")
    failing = {r["check"] for r in report["results"] if r["status"] == "fail"}
    # the faults recorded in the lab (tests/lab/lab.py scenarios) must all show up
    assert {"storage.shared", "firewall.migration_ports", "network.guest_networks",
            "domain.blockers"} <= failing
    verdicts = {m["verdict"] for m in report["migrations"]}
    assert {"pass", "fail"} <= verdicts
    for m in report["migrations"]:
        assert (m["verdict"] == "fail") == bool(m["blockers"])
    assert "<html" in html and "Migration matrix" in html


def test_demo_terminal_summary_on_stdout_only(demo):
    proc, report, _ = demo
    assert "TOTAL:" in proc.stdout
    assert "TOTAL:" not in proc.stderr


def test_record_then_replay_is_identical(tmp_path):
    first = run("check", "--cluster", "demo", "--quiet", "--record", str(tmp_path / "facts.json"),
                "--json", str(tmp_path / "a.json"))
    assert first.returncode == 1 and first.stdout == ""
    second = run("check", "--replay", str(tmp_path / "facts.json"), "--quiet", "--json", str(tmp_path / "b.json"))
    a, b = (expand_document(json.loads((tmp_path / n).read_text())) for n in ("a.json", "b.json"))
    assert second.returncode == first.returncode
    assert a["results"] == b["results"] and a["migrations"] == b["migrations"]


def test_only_makes_other_verdicts_unknown_never_pass(tmp_path):
    proc = run("check", "--cluster", "demo", "--only", "storage", "--quiet", "--json", str(tmp_path / "r.json"))
    report = expand_document(json.loads((tmp_path / "r.json").read_text()))
    from preflight.engine.registry import discover
    storage_ids = {s.id for s in discover(include_plugins=False).all() if s.category == "storage"}
    ran = {r["check"] for r in report["results"]}
    assert "storage.shared" in ran and ran <= storage_ids
    assert all(m["verdict"] in ("fail", "unknown") for m in report["migrations"])
    assert proc.returncode == 1


def test_checks_and_explain():
    listing = run("checks")
    assert listing.returncode == 0
    for cid in ("host.reachable", "host.identity", "storage.shared", "cpu.compatible", "domain.blockers",
                "network.guest_networks", "firewall.migration_ports"):
        assert cid in listing.stdout
    explain = run("explain", "storage.shared")
    assert explain.returncode == 0
    assert "How to fix" in explain.stdout and "shared" in explain.stdout
