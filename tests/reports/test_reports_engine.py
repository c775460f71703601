"""The renderers over a run model produced by the real runner and matrix (not hand-built)."""

import json

import pytest

matrix_mod = pytest.importorskip("preflight.engine.matrix")
runner = pytest.importorskip("preflight.engine.runner")

from preflight.engine.registry import CheckSpec, Registry, failed, passed, skipped, warned  # noqa: E402
from preflight.facts.models import ClusterFacts, Domain, HostFacts, PairFacts  # noqa: E402
from preflight.model import HostSummary, RunReport, Scope, Severity  # noqa: E402
from preflight.reports import render_html, render_json, render_terminal  # noqa: E402


def _spec(id, func, scope=Scope.MIGRATION):
    return CheckSpec(id=id, title=f"title of {id}", category=id.split(".")[0], severity=Severity.HIGH,
                     scope=scope, func=func, remediation=f"remedy for {id}", rationale="why",
                     verifies="what")


def _engine_report():
    hosts = {
        "hv1": HostFacts("hv1", domains=(Domain("vm1", active=True), Domain("vm2", active=True))),
        "hv2": HostFacts("hv2"),
        "hv3": HostFacts("hv3", reachable=False, error="timed out"),
    }
    facts = ClusterFacts("t", hosts, {(a, b): PairFacts(a, b) for a in hosts for b in hosts if a != b})

    def storage(ctx):
        if ctx.domain.name == "vm2":
            return failed("disk on local storage", observed="ext4", expected="nfs",
                          source=f"{ctx.source.name}: /proc/self/mountinfo",
                          details={"password": "hunter2"})
        return passed("shared", observed="nfs", expected="nfs")

    def boom(ctx):
        raise RuntimeError("fact parser exploded")

    specs = [_spec("storage.shared", storage),
             _spec("cpu.compat", lambda ctx: warned("cpu differs", observed="a", expected="b")),
             _spec("host.thing", lambda ctx: skipped("not applicable"), scope=Scope.HOST),
             _spec("network.boom", boom, scope=Scope.PAIR)]
    reg = Registry()
    for s in specs:
        reg.add(s)
    chosen, left_out = runner.select(reg, runner.Selection())
    results = runner.run_checks(facts, chosen)
    migrations = matrix_mod.build_matrix(facts, chosen, left_out, results)
    return RunReport(cluster="t", started="2026-11-26T03:00:00+00:00",
                     finished="2026-11-26T03:00:05+00:00", tool_version="0.1.0",
                     hosts=[HostSummary("hv1", True, domains=2), HostSummary("hv2", True),
                            HostSummary("hv3", False, error="timed out")],
                     results=results, migrations=migrations,
                     checks=[s.metadata() for s in chosen],
                     selection={"only": [], "skip": [], "left_out": []}, source="replay:demo.json")


def test_engine_output_validates_and_renders():
    pytest.importorskip("jsonschema")
    from preflight.reports import validate

    report = _engine_report()
    text = render_json(report)
    validate(json.loads(text))
    html = render_html(report)
    assert "hunter2" not in text and "hunter2" not in html
    assert "remedy for storage.shared" in html
    assert "fact parser exploded" in html or "RuntimeError" in html

    from rich.console import Console

    console = Console(record=True, width=120, no_color=True)
    render_terminal(report, console)
    out = console.export_text()
    assert "hunter2" not in out
    assert "remediation: remedy for storage.shared" in out
    assert out.rstrip().splitlines()[-1].startswith("TOTAL: ")
