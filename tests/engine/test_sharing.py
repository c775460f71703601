"""Judging a guest once for all alike destinations (preflight.engine.sharing) changes no result: the
demo's verdicts are those of the code before sharing and the compact form existed (a stored file), and on
a synthetic cluster (the benchmark's clones of the demo's real facts) every result with sharing is equal
to the one without, field by field."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from preflight.compact import expand_document
from preflight.engine import sharing
from preflight.engine.registry import Finding, discover
from preflight.engine.runner import Selection, run_checks, select
from preflight.facts.parse import parse_record
from preflight.model import Status

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "preflight" / "demo" / "demo-facts.json"
BEFORE = ROOT / "tests" / "fixtures" / "demo-verdicts.json"


def _bench():
    spec = importlib.util.spec_from_file_location("cluster_size", ROOT / "benchmarks" / "cluster_size.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _verdicts(doc: dict) -> dict:
    return {"results": {r["id"]: r["status"] for r in doc["results"]},
            "migrations": {f'{m["domain"]}@{m["source"]}->{m["destination"]}':
                           [m["verdict"], m["blockers"], m["undecided"], m["warnings"]] for m in doc["migrations"]},
            "exit_code": doc["run"]["exit_code"]}


def test_the_demos_verdicts_are_those_before_sharing_and_the_compact_form(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "preflight", "check", "--quiet", "--json", str(tmp_path / "r.json")],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 1, proc.stderr
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["run"]["results_form"] == "compact" and any("group" in r for r in doc["results"])
    assert _verdicts(expand_document(doc)) == json.loads(BEFORE.read_text())


def test_sharing_changes_no_result_on_a_synthetic_cluster():
    record = _bench().synthesize(json.loads(DEMO.read_text()), 6, 4)
    facts = parse_record(record)
    specs, _ = select(discover(), Selection())
    alone, shared = run_checks(facts, specs, share=False), run_checks(facts, specs, share=True)
    assert len(alone) == len(shared) > 6 * 4 * 5 * 10
    assert [r.key() for r in alone] == [r.key() for r in shared]
    assert alone == shared
    assert {r.status for r in shared} >= {Status.PASS, Status.FAIL}     # the demo's faults are kept


def _spec(func, name="sharing_probe"):
    from preflight.engine.registry import CheckSpec
    from preflight.model import Scope, Severity

    return CheckSpec(id=f"storage.{name}", title="probe", category="storage", severity=Severity.HIGH,
                     scope=Scope.MIGRATION, func=func, remediation="r", rationale="r", verifies="v")


def _small():
    return parse_record(_bench().synthesize(json.loads(DEMO.read_text()), 4, 2))


def test_a_check_is_judged_once_for_alike_destinations_and_per_destination_when_it_reads_the_name():
    calls = {"mounts": 0, "name": 0}

    def by_mounts(ctx):
        calls["mounts"] += 1
        return Finding(Status.PASS, f"{len(ctx.destination.mounts)} mounts")

    def by_name(ctx):
        calls["name"] += 1
        return Finding(Status.FAIL if ctx.destination.name.endswith("2") else Status.PASS, ctx.destination.name)

    facts = _small()
    migrations = sum(len([d for d in h.domains if d.active]) for h in facts.hypervisors) * 3
    for func in (by_mounts, by_name):
        a = run_checks(facts, [_spec(func)], share=False)
        calls.update(mounts=0, name=0)
        b = run_checks(facts, [_spec(func)], share=True)
        assert a == b and len(b) == migrations
    assert calls["mounts"] < migrations        # clones of one demo host have equal mounts: judged once
    assert calls["name"] == migrations         # a name is never alike: every destination judged
    assert {r.status for r in b} == {Status.PASS, Status.FAIL}


def test_a_method_call_or_a_raise_is_not_reused_and_still_fails_closed():
    def via_method(ctx):
        return Finding(Status.PASS, str(ctx.destination.domain("nope")))

    def raising(ctx):
        raise RuntimeError(f"broken on {ctx.destination.name}")

    facts = _small()
    for func in (via_method, raising):
        assert run_checks(facts, [_spec(func)], share=True) == run_checks(facts, [_spec(func)], share=False)
    errs = run_checks(facts, [_spec(raising)], share=True)
    assert all(r.status is Status.ERROR and r.destination in r.message for r in errs)


def test_the_stand_in_is_read_only_and_looks_like_the_host():
    @dataclass(frozen=True)
    class Box:
        name: str
        size: int

        def double(self):
            return self.size * 2

    trace = sharing.Trace()
    box = sharing.Traced(Box("a", 2), "destination", trace)
    assert isinstance(box, Box) and box.size == 2 and trace.reads == [("destination", "size", 2)]
    assert not trace.opaque and box.double() == 4 and trace.opaque
    try:
        box.size = 3
    except AttributeError:
        pass
    else:
        raise AssertionError("the stand-in took an assignment")
