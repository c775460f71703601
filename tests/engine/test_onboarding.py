"""The onboarding view on the demo recording: one host of it named as the new host."""

import json
from pathlib import Path

from preflight.engine.onboarding import FIT, NOT_FIT, UNDECIDED, onboarding_lines, onboarding_view
from preflight.engine.pipeline import evaluate
from preflight.engine.registry import discover
from preflight.engine.runner import Selection
from preflight.model import Verdict

DEMO = Path(__file__).resolve().parents[2] / "preflight" / "demo" / "demo-facts.json"


def _report():
    record = json.loads(DEMO.read_text())
    return evaluate(record, discover(include_plugins=False), Selection(), cluster="demo",
                    started="2026-11-26T00:00:00+00:00", source="replay:demo")


REPORT = _report()


def test_both_directions_are_judged_for_each_demo_host():
    for new in ("hv1", "hv2", "hv3"):
        view = onboarding_view(REPORT, new)
        onto = [m for m in REPORT.migrations if m.destination == new]
        off = [m for m in REPORT.migrations if m.source == new]
        assert view["onto_new_host"]["migrations"] == len(onto)
        assert view["off_new_host"]["migrations"] == len(off)
        assert set(view["others"]) == {"hv1", "hv2", "hv3"} - {new}
        fails = [m for m in onto + off if m.verdict is Verdict.FAIL]
        unknown = [m for m in onto + off if m.verdict is Verdict.UNKNOWN]
        if fails:
            assert view["decision"] == NOT_FIT
            for m in fails:
                for c in m.blockers:
                    assert c in view["onto_new_host"]["blocking_checks"] or \
                        c in view["off_new_host"]["blocking_checks"]
                    assert any(w.startswith(c) for w in view["why"])
        elif unknown:
            assert view["decision"] == UNDECIDED
        lines = onboarding_lines(view)
        assert lines[0].startswith(f"Onboarding {new}: ")


def test_a_failing_migration_onto_the_new_host_makes_it_not_fit():
    # the demo has failing migrations: the host they go to is not fit, with its blocking checks named
    failing = [m for m in REPORT.migrations if m.verdict is Verdict.FAIL]
    assert failing, "the demo recording has failing migrations"
    m = failing[0]
    view = onboarding_view(REPORT, m.destination)
    assert view["decision"] == NOT_FIT
    assert f"{m.domain}: {m.source} -> {m.destination}" in view["onto_new_host"]["guests_blocked"]
    assert set(m.blockers) <= set(view["onto_new_host"]["blocking_checks"])


def test_never_fit_without_judgement():
    assert onboarding_view(REPORT, "hv9")["decision"] == UNDECIDED
    from dataclasses import replace
    alone = replace(REPORT, hosts=[h for h in REPORT.hosts if h.name == "hv1"], migrations=[])
    assert onboarding_view(alone, "hv1")["decision"] == UNDECIDED
    no_guests = replace(REPORT, migrations=[m for m in REPORT.migrations if m.destination != "hv2"])
    assert onboarding_view(no_guests, "hv2")["decision"] in (UNDECIDED, NOT_FIT)
    assert onboarding_view(no_guests, "hv2")["decision"] != FIT
