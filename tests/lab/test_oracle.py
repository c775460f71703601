"""The oracle: what real `virsh migrate --live` does in each scenario.  These facts are what the
checks' verdicts are judged against, so they are asserted here on essential words only."""

from __future__ import annotations

import pytest

from tests.lab import lab as L

pytestmark = pytest.mark.lab

# guests that migrate everywhere in the clean lab (vm-hostmodel, vm-qemu64: no disk at all)
SHARED = {(g.name, g.home) for g in L.GUESTS if g.disk != "local"}


def has_words(message: str, words) -> bool:
    low = message.lower()
    return all(w.lower() in low for w in words)


def assert_clean_outcomes(results, except_pairs=()):
    """Shared-storage guests move everywhere, vm-local nowhere (except where a fault says)."""
    for (dom, src, dst), (ok, msg) in results.items():
        if (dom, src, dst) in except_pairs or dom not in {d for d, _ in SHARED} | {"vm-local"}:
            continue
        if dom == "vm-local":
            assert not ok and has_words(msg, ("unsafe", "shared storage")), (dom, dst, msg)
        else:
            assert ok, (dom, src, dst, msg)


def test_clean(lab, oracle_runs):
    results = oracle_runs.get("clean") or L.oracle("clean")
    pairs = {(d, s, t) for d, s, t in results}
    for dom, src in SHARED | {("vm-local", "hv1")}:
        for dst in L.HYPERVISORS:
            if dst != src:
                assert (dom, src, dst) in pairs
    assert_clean_outcomes(results)
    assert L.where_running() == lab.guests   # every guest went back


@pytest.mark.parametrize("name", sorted(L.EXPECTED_FAILURES))
def test_fault_scenario(lab, scenario, oracle_runs, name):
    try:
        if name in oracle_runs:     # already measured by test_e2e in this session
            results = oracle_runs[name]
        else:
            with scenario(name):
                results = L.oracle()
    except L.ScenarioUnavailable as exc:
        pytest.skip(str(exc))
    expected = L.EXPECTED_FAILURES[name]
    for pair, words in expected.items():
        ok, msg = results[pair]
        assert not ok, (pair, msg)
        assert has_words(msg, words), (pair, msg)
    assert_clean_outcomes(results, except_pairs=expected)
    assert L.where_running() == lab.guests   # reverted: the clean layout again


@pytest.mark.parametrize("name", sorted(L.EXPECTED_SUCCESSES))
def test_success_scenario(lab, scenario, oracle_runs, name):
    """Scenarios whose extra guest really migrates (preflight must then say pass/warn)."""
    if name in oracle_runs:
        results = oracle_runs[name]
    else:
        with scenario(name):
            results = L.oracle()
    for pair in L.EXPECTED_SUCCESSES[name]:
        ok, msg = results[pair]
        assert ok, (pair, msg)
    # a scenario can be in both tables (firewall_one_source: one source fails, the others migrate)
    assert_clean_outcomes(results, except_pairs=L.EXPECTED_FAILURES.get(name, {}))
    assert L.where_running() == lab.guests
