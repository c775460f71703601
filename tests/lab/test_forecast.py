"""The convergence forecast against real pre-copy: the dirty guest (tests/lab/guest/dirty.S)
migrated for real over tests/lab/forecast_lab's grid (4 dirty behaviours x 3 (bandwidth cap, max
downtime) settings), each forecast made from inputs measured before its migration.  The verdict
must match the real migration in EVERY cell (a migration still running after ABORT_AFTER_S is
aborted and counts as "does not converge").  ~3 minutes.  Figures: benchmarks/forecast_vs_real.py."""

from __future__ import annotations

import math

import pytest

from preflight.plan import forecast as F
from tests.lab import dirty_guest as G, forecast_lab as FL, lab as L

pytestmark = pytest.mark.lab


def test_dirty_guest_dirties_what_it_is_told(lab):
    """The guest itself: uniform writes of pps pages/s over ws MiB, as the dirty bitmap counts them."""
    name = "vm-fc-check"
    G.start(FL.SRC, name, 40, 12288)            # 48 MiB/s over 40 MiB
    try:
        mode = "dirty-bitmap" if lab.domain_type == "kvm" else "page-sampling"
        got = {s.period_s: s.distinct_bytes() for s in FL.measure_on_host(FL.SRC, name, mode)}
    finally:
        G.destroy(name)
    want = F.DirtyModel(40 * F.MiB, 12288 * 4096.0)
    tol = 0.12 if mode == "dirty-bitmap" else 0.5
    for t, distinct in got.items():
        assert math.isclose(distinct, want.distinct(t), rel_tol=tol, abs_tol=t * F.MiB), (t, distinct)


def test_forecast_matches_real_precopy_in_every_cell(lab):
    calib, cells = FL.run_grid()
    assert len(cells) == len(FL.GUESTS) * len(FL.SETTINGS) >= 12
    real = {(c.ws_mib, c.pps, c.cap_mib, c.downtime_ms): c.real for c in cells}
    # the real outcomes: both kinds, and nothing failed for another reason than non-convergence
    assert {r["ok"] for r in real.values()} == {True, False}
    for key, r in real.items():
        assert r["ok"] or r["aborted"], (key, r["message"])
        if r["ok"]:
            assert r["stats"].get("type") == 3 and r["stats"]["downtime"] > 0, key
    mismatches = [(c.ws_mib, c.pps, c.cap_mib, c.downtime_ms, c.verdict,
                   "completed" if c.real["ok"] else "aborted") for c in cells
                  if c.predicted["converges"] is not c.real["ok"]]
    assert not mismatches, f"forecast vs real: {mismatches}"
    # the saturated guest was recognised as such, and still decided (its working set fits)
    sat = [c for c in cells if c.ws_mib == 8]
    assert sat and all(c.saturated and c.predicted["converges"] for c in sat)
    assert all(not c.saturated for c in cells if c.ws_mib >= 40)
    # non-converging cells come with remedies that carry numbers
    for c in cells:
        if c.predicted["converges"] is False:
            assert any("MiB/s" in r or "ms" in r for r in c.predicted["remedies"]), c
    assert L.where_running() == lab.guests       # the lab's own guests untouched
