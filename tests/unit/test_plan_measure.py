"""Interpreting libvirt's dirty-rate results and job statistics, on outputs recorded in the lab
(tests/fixtures/forecast, provenance in tests/fixtures/SOURCES.md)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from preflight.plan import dirtyrate as D, forecast as F, jobstats as J

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "forecast"
M = F.MiB
RAM = 512 * M


def test_virsh_domstats_dirtyrate_parses_to_a_sample():
    rec = D.parse_virsh_domstats((FIX / "domstats-dirtyrate.dirty-bitmap-2s.lab-hv1.txt").read_text())
    s = D.parse_stats(rec)
    assert (s.period_s, s.mib_per_s, s.mode) == (2.0, 32, "dirty-bitmap")
    assert s.distinct_bytes() == 64 * M          # 32 MiB/s over 2 s: the whole 64 MiB working set
    ps = D.parse_stats(D.parse_virsh_domstats(
        (FIX / "domstats-dirtyrate.page-sampling-1s.lab-hv1.txt").read_text()))
    assert (ps.period_s, ps.mib_per_s, ps.mode) == (1.0, 52, "page-sampling")


def test_unfinished_or_missing_calculation_is_an_error_not_a_zero_rate():
    with pytest.raises(D.DirtyRateError, match="not finished"):
        D.parse_stats({"dirtyrate.calc_status": 1, "dirtyrate.calc_period": 1})
    with pytest.raises(D.DirtyRateError, match="no dirtyrate"):
        D.parse_stats({})


def samples(w1, w2, mode="dirty-bitmap"):
    return [D.DirtyRateSample(1, w1, mode), D.DirtyRateSample(2, w2, mode)]


def test_two_windows_recover_working_set_and_rate():
    # lab: the dirty guest with ws=40 MiB pps=16384 (64 MiB/s uniform writes) read 32 and 19 MiB/s
    dr = D.fit(samples(32, 19), RAM)
    assert not dr.saturated
    assert 36 * M < dr.central.working_set < 46 * M
    assert 55 * M < dr.central.write_rate < 75 * M


def test_equal_distinct_counts_over_two_windows_mean_saturated():
    # 8 MiB rewritten at 100 MiB/s: 8 MiB/s over 1 s, 4 MiB/s over 2 s (the same 8 MiB)
    dr = D.fit(samples(8, 4), RAM)
    assert dr.saturated and "saturated" in dr.note
    assert any(math.isinf(c.write_rate) for c in dr.candidates)
    # the truncated MiB/s readings leave some room for a larger set written more slowly
    assert all(c.working_set <= 20 * M for c in dr.candidates)


def test_one_window_cannot_tell_saturation_and_keeps_both_extremes():
    dr = D.fit([D.DirtyRateSample(1, 30, "dirty-bitmap")], RAM)
    assert "two window" in dr.note
    rates = [c.write_rate for c in dr.candidates]
    assert any(math.isinf(r) for r in rates) and any(c.working_set == RAM for c in dr.candidates)


def test_page_sampling_is_noisier_than_the_bitmap():
    bm = D.distinct_bounds([D.DirtyRateSample(1, 32, "dirty-bitmap")], RAM)
    ps = D.distinct_bounds([D.DirtyRateSample(1, 32, "page-sampling")], RAM)
    assert (ps[2] - ps[0]) > 2 * (bm[2] - bm[0])
    four = D.distinct_bounds([D.DirtyRateSample(1, 32, "page-sampling")] * 4, RAM)
    assert (four[2] - four[0]) < (ps[2] - ps[0]) * 0.7     # repeating narrows it


def test_page_sampling_pair_that_reads_flat_is_not_trusted_to_converge():
    """Real lab reading: page sampling gave 28 and 27 MiB/s for a 64 MiB set written at 50 MiB/s
    (the bitmap said 34 and 25).  Flat within sampling noise: saturated as far as we can tell."""
    dr = D.fit(samples(28, 27, "page-sampling"), RAM)
    assert dr.saturated
    fc = F.forecast(dr, F.GuestMemory(RAM, 64 * M), F.Link(300 * M, 32 * M), F.Options(0.3))
    assert fc.converges is not True


def test_measure_refuses_dirty_bitmap_under_tcg_before_touching_libvirt():
    pytest.importorskip("libvirt")

    class Dom:
        def startDirtyRateCalc(self, *a):
            raise AssertionError("must not start a calculation")

    with pytest.raises(D.DirtyRateError, match="TCG"):
        D.measure(Dom(), mode="dirty-bitmap", domain_type="qemu")
    with pytest.raises(D.DirtyRateError, match="unknown"):
        D.measure(Dom(), mode="bitmap", domain_type="kvm")


def test_domjobinfo_human_and_rawstats_parse_to_the_same_numbers():
    raw = J.parse_virsh_domjobinfo((FIX / "domjobinfo-completed-rawstats.canary.lab-hv2.txt").read_text())
    human = J.parse_virsh_domjobinfo((FIX / "domjobinfo-completed.canary.lab-hv2.txt").read_text())
    assert raw["type"] == human["type"] == 3
    for key in ("time_elapsed", "downtime", "memory_constant", "memory_normal", "memory_iteration",
                "setup_time", "memory_page_size"):
        assert raw[key] == human[key], key
    for key in ("data_processed", "memory_total", "memory_normal_bytes", "memory_bps"):
        assert math.isclose(raw[key], human[key], rel_tol=2e-3), key   # virsh rounds to 3 decimals


def test_canary_calibration_and_nonzero_ram():
    st = J.JobStats.from_dict(J.parse_virsh_domjobinfo(
        (FIX / "domjobinfo-completed-rawstats.canary.lab-hv2.txt").read_text()))
    assert st.completed
    # 512 MiB guest, 64 MiB written: all pages minus the 114701 zero pages
    assert math.isclose(J.nonzero_from_job(st), (131202 - 114701) * 4096, rel_tol=1e-4)
    cal = J.calibration_from_canary([st])
    assert cal.link_bps == 450163464
    assert math.isclose(cal.overheads.downtime_floor_s, 0.046)
    transfer = 68760736 / 450163464
    assert math.isclose(cal.overheads.setup_s, 0.600 - transfer - 0.046, rel_tol=1e-6)
    assert cal.overheads.measured
    # capped runs give the fixed parts: transfer = data / cap
    capped = J.JobStats.from_dict(dict(J.parse_virsh_domjobinfo(
        (FIX / "domjobinfo-completed-rawstats.canary.lab-hv2.txt").read_text()), time_elapsed=2000,
        downtime=20))
    cal2 = J.calibration_from_canary([st], [capped, capped, capped], cap_bps=64 * M)
    assert cal2.link_bps == 450163464
    assert math.isclose(cal2.overheads.downtime_floor_s, 0.020)
    assert math.isclose(cal2.overheads.setup_s, 2.0 - 68760736 / (64 * M) - 0.020, rel_tol=1e-6)
    with pytest.raises(J.JobStatsError, match="cap"):
        J.calibration_from_canary([st], [capped])


def test_a_running_job_is_no_canary():
    st = J.JobStats.from_dict(J.parse_virsh_domjobinfo(
        (FIX / "domjobinfo-unbounded.during-migration.lab-hv1.txt").read_text()))
    assert st.type == 2 and st.downtime_ms == 500     # "Expected downtime" while running
    with pytest.raises(J.JobStatsError, match="completed"):
        J.calibration_from_canary([st])


def test_dirty_rate_from_job_stats_is_one_window_fail_closed():
    dr = J.dirty_from_job(J.JobStats.from_dict({"memory_dirty_rate": 5120, "memory_page_size": 4096}),
                          RAM)
    assert math.isclose(dr.central.distinct(1.0), 20.5 * M, rel_tol=0.03)
    assert any(math.isinf(c.write_rate) for c in dr.candidates)
