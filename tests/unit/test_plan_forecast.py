"""The pre-copy model (preflight.plan.forecast): closed-form cases, QEMU's stop rule, fail-closed
decisions over saturated input, remedies, and properties (monotone in bandwidth and downtime)."""

from __future__ import annotations

import math

from hypothesis import given, settings, strategies as st

from preflight.plan import forecast as F

M = F.MiB
MEM = F.GuestMemory(512 * M, 64 * M)
OV = F.Overheads(setup_s=0.5, downtime_floor_s=0.04, measured=True)


def point(ws, rate):
    d = F.DirtyModel(ws, rate)
    return F.DirtyRange(d, (d,))


def test_idle_guest_sends_its_nonzero_ram_once_plus_zero_page_headers():
    o = F.simulate(F.DirtyModel(64 * M, 0.0), MEM, F.Link(1000 * M, 32 * M), F.Options(0.3), OV)
    assert o.converges
    zero_pages = (512 - 64) * M / F.PAGE
    expected = 64 * M * (1 + 8 / 4096) + zero_pages * 9
    assert math.isclose(o.data_bytes, expected, rel_tol=1e-6)
    # time: the non-zero RAM at the cap, plus setup; downtime: the floor plus the part of the first
    # pass still unsent when pending fell below 32 MiB/s x 300 ms (its non-zero share, uniform layout)
    leftover = 32 * M * 0.3 * 64 / 512
    assert math.isclose(o.transfer_s, (expected - leftover * (1 + 8 / 4096)) / (32 * M), rel_tol=0.02)
    assert math.isclose(o.total_time_s, 0.5 + o.transfer_s + o.downtime_s, rel_tol=1e-9)
    assert math.isclose(o.downtime_s, 0.04, rel_tol=0.01)      # 1.2 MiB fit the idle socket buffer


def test_distinct_pages_saturate_at_the_working_set():
    d = F.DirtyModel(16 * M, 200 * M)
    assert d.distinct(1.0) > 0.99 * 16 * M
    assert d.distinct(2.0) <= 16 * M
    lin = F.DirtyModel(math.inf, 10 * M)
    assert lin.distinct(3.0) == 30 * M
    assert math.isclose(F.DirtyModel(64 * M, 1 * M).distinct(0.01), 0.01 * M, rel_tol=1e-3)


def test_write_rate_above_bandwidth_over_a_big_working_set_never_converges():
    o = F.simulate(F.DirtyModel(256 * M, 80 * M), F.GuestMemory(512 * M, 256 * M),
                   F.Link(1000 * M, 32 * M), F.Options(0.3), OV)
    assert not o.converges and o.downtime_s is None
    assert o.final_bytes > 32 * M * 0.3          # what stays dirty does not fit the downtime


def test_a_working_set_that_fits_the_downtime_converges_at_any_rate():
    # QEMU stops when what is dirty is below bandwidth x downtime: 8 MiB < 32 MiB/s x 300 ms
    o = F.simulate(F.DirtyModel(8 * M, math.inf), F.GuestMemory(512 * M, 8 * M),
                   F.Link(1000 * M, 32 * M), F.Options(0.3), OV)
    assert o.converges
    # the last 8 MiB go during the downtime, at the link's speed (no rate limit then), the first
    # 4 MiB into the idle socket buffer; uncapped, the buffer is full when the VM stops
    assert math.isclose(o.downtime_s, 0.04 + (8 * M * (1 + 8 / 4096) - 4 * M) / (1000 * M), rel_tol=0.01)
    u = F.simulate(F.DirtyModel(8 * M, math.inf), F.GuestMemory(512 * M, 8 * M), F.Link(1000 * M),
                   F.Options(0.3), OV)
    assert u.converges and u.downtime_s > o.downtime_s


def test_larger_downtime_limit_lets_a_hot_working_set_converge():
    d = F.DirtyModel(40 * M, 48 * M)
    link = F.Link(300 * M, 32 * M)
    assert not F.simulate(d, MEM, link, F.Options(0.3), OV).converges
    assert F.simulate(d, MEM, link, F.Options(1.0), OV).converges


def test_saturated_input_is_not_claimed_to_converge():
    """A saturated measurement of 24 MiB: the rate is >= 24 MiB/s but unknown.  With 32 MiB/s and
    300 ms (9.6 MiB budget) it converges if the rate is low, not if it is high: cannot decide."""
    cands = (F.DirtyModel(24 * M, 30 * M), F.DirtyModel(24 * M, math.inf))
    dr = F.DirtyRange(cands[0], cands, saturated=True, note="saturated")
    fc = F.forecast(dr, F.GuestMemory(512 * M, 24 * M), F.Link(300 * M, 32 * M), F.Options(0.3), OV)
    assert fc.converges is None and fc.verdict == "cannot decide"
    assert any("saturated" in r for r in fc.reasons)
    kinds = {r.kind for r in fc.remedies}
    assert {"post-copy", "downtime"} <= kinds
    dl = next(r for r in fc.remedies if r.kind == "downtime").value
    assert 24 * M / (32 * M) * 0.95 < dl < 24 * M / (32 * M) * 1.1   # the whole set must fit


def test_remedies_come_with_numbers_that_work():
    d = F.DirtyModel(128 * M, 40 * M)
    mem = F.GuestMemory(512 * M, 128 * M)
    link = F.Link(400 * M, 32 * M)
    fc = F.forecast(point(128 * M, 40 * M), mem, link, F.Options(0.3), OV)
    assert fc.converges is False
    by = {r.kind: r for r in fc.remedies}
    bw = by["bandwidth"].value
    assert F.simulate(d, mem, F.Link(400 * M, bw), F.Options(0.3), OV).converges
    assert not F.simulate(d, mem, F.Link(400 * M, bw * 0.9), F.Options(0.3), OV).converges
    assert by["quieter"].value < 40 * M
    assert F.simulate(F.DirtyModel(128 * M, by["quieter"].value), mem, link, F.Options(0.3), OV).converges
    assert by["post-copy"].outcome.converges and by["post-copy"].outcome.postcopy


def test_auto_converge_throttles_a_cpu_bound_writer_until_it_converges():
    d = F.DirtyModel(256 * M, 60 * M)
    mem = F.GuestMemory(512 * M, 256 * M)
    link = F.Link(400 * M, 32 * M)
    assert not F.simulate(d, mem, link, F.Options(0.3), OV).converges
    o = F.simulate(d, mem, link, F.Options(0.3, auto_converge=True), OV)
    assert o.converges
    # 20 % first, then +10 % steps: 60 MiB/s x (1 - p) must drop well below 32 MiB/s
    steps = (o.throttle - 0.2) / 0.1
    assert 0.2 <= o.throttle <= 0.99 and abs(steps - round(steps)) < 1e-6
    assert o.throttle >= 0.4


def test_without_a_canary_the_forecast_says_its_fixed_parts_are_unknown():
    fc = F.forecast(point(64 * M, 1 * M), MEM, F.Link(300 * M, 32 * M))
    assert fc.converges is True
    assert any("canary" in r for r in fc.reasons)


@settings(max_examples=60, deadline=None)
@given(ws=st.floats(1, 400), rate=st.floats(0, 150), cap=st.floats(8, 200), dl=st.floats(0.05, 2.0),
       factor=st.floats(1.05, 4.0))
def test_more_bandwidth_or_downtime_never_turns_convergence_into_failure(ws, rate, cap, dl, factor):
    d = F.DirtyModel(ws * M, rate * M)
    mem = F.GuestMemory(512 * M, min(512, ws + 1) * M)
    base = F.simulate(d, mem, F.Link(1000 * M, cap * M), F.Options(dl), OV, max_time_s=300)
    more_bw = F.simulate(d, mem, F.Link(1000 * M, cap * factor * M), F.Options(dl), OV, max_time_s=300)
    more_dl = F.simulate(d, mem, F.Link(1000 * M, cap * M), F.Options(dl * factor), OV, max_time_s=300)
    if base.converges:
        assert more_bw.converges and more_dl.converges


@settings(max_examples=60, deadline=None)
@given(ws=st.floats(1, 400), rate=st.floats(0, 150), cap=st.floats(8, 200), dl=st.floats(0.05, 2.0),
       factor=st.floats(1.05, 4.0))
def test_a_faster_writer_never_converges_where_a_slower_one_fails(ws, rate, cap, dl, factor):
    mem = F.GuestMemory(512 * M, min(512, ws + 1) * M)
    link = F.Link(1000 * M, cap * M)
    slow = F.simulate(F.DirtyModel(ws * M, rate * M), mem, link, F.Options(dl), OV, max_time_s=300)
    fast = F.simulate(F.DirtyModel(ws * M, rate * factor * M), mem, link, F.Options(dl), OV,
                      max_time_s=300)
    if fast.converges:
        assert slow.converges
    if slow.converges and fast.converges:
        assert fast.data_bytes >= slow.data_bytes * (1 - 1e-9)


@settings(max_examples=40, deadline=None)
@given(ws=st.floats(1, 400), rate=st.floats(0, 150), cap=st.floats(8, 200), dl=st.floats(0.05, 2.0))
def test_converged_outcomes_are_consistent(ws, rate, cap, dl):
    mem = F.GuestMemory(512 * M, min(512, ws + 1) * M)
    o = F.simulate(F.DirtyModel(ws * M, rate * M), mem, F.Link(1000 * M, cap * M), F.Options(dl), OV,
                   max_time_s=300)
    if o.converges:
        assert o.data_bytes >= mem.nonzero_bytes
        assert o.final_bytes < cap * M * dl                  # QEMU's stop rule
        assert o.downtime_s >= OV.downtime_floor_s
        assert o.total_time_s >= OV.setup_s + o.transfer_s
        assert o.iterations >= 2
