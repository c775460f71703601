"""The lab proof, replayed: the forecast, re-made with the current model from the inputs recorded
in the lab (dirty-rate samples, non-zero RAM estimate, canary calibration, probe), must still
agree with the recorded real migration in every cell of tests/fixtures/forecast/grid.lab.json."""

from __future__ import annotations

import json
from pathlib import Path

from preflight.plan import dirtyrate, forecast as F

GRID = Path(__file__).resolve().parents[1] / "fixtures" / "forecast" / "grid.lab.json"


def test_recorded_grid_verdicts_still_agree_with_the_real_migrations():
    rec = json.loads(GRID.read_text())
    cal = rec["calib"]
    assert len(rec["cells"]) >= 12
    outcomes = set()
    for cell in rec["cells"]:
        ram = 512 * F.MiB
        dr = dirtyrate.fit([dirtyrate.DirtyRateSample(**s) for s in cell["samples"]], ram)
        fc = F.forecast(dr, F.GuestMemory(ram, cell["predicted"]["nonzero_bytes"]),
                        F.Link(cal["link_bps"], cell["cap_mib"] * F.MiB, burst_bps=cal["burst_bps"]),
                        F.Options(cell["downtime_ms"] / 1000),
                        F.Overheads(cal["setup_s"], cal["downtime_floor_s"], True), max_time_s=600,
                        remedies=False)
        real_ok = cell["real"]["ok"]
        outcomes.add(real_ok)
        assert fc.converges is real_ok, (cell["ws_mib"], cell["pps"], cell["cap_mib"],
                                         cell["downtime_ms"], fc.verdict, cell["real"]["message"])
        if real_ok:   # what is sent is the part the model gets best (within 5 % here)
            sent = cell["real"]["stats"]["data_processed"]
            assert abs(fc.central.data_bytes - sent) / sent < 0.05
    assert outcomes == {True, False}
