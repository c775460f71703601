"""Convergence forecast: a model of pre-copy live migration as QEMU 7.x-9.x runs it.

Given how a guest dirties its memory, how much of its RAM is non-zero, the bandwidth and the allowed
downtime, predict whether pre-copy converges, how long the migration takes, how much it sends, how
long the guest stands still, and, when it does not converge, what would make it converge (with the
numbers).  Pure: no libvirt, no I/O.  Entry points: ``forecast()`` (decides over the uncertainty of
the measured dirty behaviour, fail closed) and ``simulate()`` (one point estimate).

How QEMU runs pre-copy (read in qemu/qemu migration/migration.c and migration/ram.c; 7.2 is what the
lab runs, 8.0 split the pending query, 9.x the same rule):

* Setup marks every page dirty and starts dirty logging.  The first pass therefore sends all guest
  RAM; a page that is all zeroes goes as an 8-byte header plus one byte (``save_zero_page``), so the
  first pass costs the NON-ZERO RAM plus ~9 bytes per zero page.  A normal page costs 4096 + 8 bytes.
* ``migration_update_counters()`` runs every ``BUFFER_DELAY`` (100 ms): ``bandwidth = transferred /
  time_spent`` over that window (bytes/ms) and ``threshold_size = bandwidth * downtime_limit`` (9.1+:
  ``avail-switchover-bandwidth`` replaces the measured bandwidth when the user sets it).  With a
  ``max-bandwidth`` cap (libvirt ``--bandwidth`` MiB/s) the rate limiter lets ``max_bandwidth / 10``
  bytes out per 100 ms window, so the measured bandwidth is the cap, or the link's real throughput
  when it is slower; libvirt leaves QEMU uncapped unless asked.
* ``migration_iteration_run()``: ``pending`` is the dirty pages still in the migration bitmap times
  the page size.  Only when ``pending < threshold_size`` does QEMU synchronise the dirty log into the
  bitmap (7.x: inside ``ram_save_pending`` "if remaining_size < max_size ... migration_bitmap_sync";
  8.0+: ``qemu_savevm_state_pending_estimate`` then ``_exact``), and then
  "``if (!pending_size || pending_size < s->threshold_size)``" -> ``migration_completion()``: stop the
  VM, final sync, send what is left with the rate limit disabled (``migration_rate_set(
  RATE_LIMIT_DISABLED)``, 7.x ``qemu_file_set_rate_limit(..., INT64_MAX)``), then device state.
  Otherwise ``qemu_savevm_state_iterate()`` sends one chunk: until the window's rate limit is used
  up or ``MAX_WAIT`` (50 ms) has passed.
* So a "pass" is: send the bitmap down to below the threshold, sync, decide.  Once near the
  threshold QEMU syncs after every chunk, and pages re-dirtied while still waiting in the bitmap cost
  nothing extra.  The expected downtime QEMU itself prints is ``dirty_bytes_last_sync / bandwidth``.
* Auto-converge (``migration_trigger_throttle()``, at a sync at least 1 s after the last check): if
  the bytes newly dirtied in the period exceed ``throttle-trigger-threshold`` (50 %) of the bytes
  sent in it, twice, the vCPUs are throttled to ``cpu-throttle-initial`` (20 %), later raised by
  ``cpu-throttle-increment`` (10 %) up to ``max-cpu-throttle`` (99 %) (``mig_throttle_guest_down``).
  9.1+ also syncs every 5 s for this (not modelled: it only moves when throttling starts).
* Post-copy (``--postcopy`` + ``migrate-postcopy`` or ``--postcopy-after-precopy``): after the
  first pass the VM moves and the rest is pulled on demand: it always finishes, in bounded time.

The model (fluid, deterministic):

* The guest writes ``write_rate`` bytes/s of pages chosen uniformly over a working set of
  ``working_set`` bytes (``DirtyModel``).  In a window of ``t`` seconds it dirties
  ``W(t) = S * (1 - exp(-r t / S))`` distinct bytes: the dirty rates libvirt reports (distinct pages
  in the sampling window / window) SATURATE at S / t for a small, fast-rewritten working set.  At a
  sync the bitmap gains ``(S - q) * (1 - exp(-r dt / S))`` where q is the working-set bytes still in
  the bitmap and dt the time since the last sync (a re-dirtied page waiting in the bitmap is free).
* First pass: all pages, non-zero ones at the bandwidth ``B`` (cap, or link), zero pages ~free, until
  pending < threshold; what is left of the pass stays in the bitmap (taken as a proportional slice:
  the layout of non-zero pages is not known beforehand).  Then the loop above with chunk =
  ``min(cap * 0.1, link * 0.05)`` (``link * 0.05`` uncapped).  Completion when the bitmap after a
  sync is below ``B * downtime_limit``; what it holds then goes in the downtime.
* Predicted downtime (what libvirt reports: QEMU's, measured on the source from the stop to the last
  byte written into the socket) = fixed part (stop, final sync, device state: measured on a capped
  canary migration of the pair, ``Overheads.downtime_floor_s``) + the remaining bytes at the link's
  RAW throughput (``Link.burst_bps``, a TCP probe: the last burst is not rate limited and resends
  pages the destination already holds), less what the empty TCP send buffer absorbs when the
  migration was capped (``Link.send_buffer``).
* Predicted total time (libvirt's "Time elapsed") = fixed setup part (destination QEMU start,
  libvirt phases: the canary's elapsed minus its transfer and downtime) + transfer + downtime.
* Not converging: the bitmap after each sync tends to a fixed point above the threshold (or the
  simulated time passes ``max_time_s``).

Assumptions and limits (docs/forecast.md has the discussion): uniform writes over one working set
(real guests are skewed: a hot set inside a warm one); the dirty rate is steady over the migration
(measure in the window you plan to migrate in); auto-converge slows dirtying in proportion to the
throttle (true for CPU-bound writers, not for paced ones); no compression, no xbzrle, no multifd, no
storage copy; the link throughput is steady.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Optional

PAGE = 4096
PAGE_HEADER = 8              # RAM_SAVE_FLAG_* header before each page (same-block CONTINUE form)
ZERO_PAGE_COST = 9           # header + the one byte of a zero page
BUFFER_DELAY_S = 0.1         # migration_update_counters period and rate-limit window
MAX_WAIT_S = 0.05            # ram_save_iterate gives up its chunk after 50 ms
MiB = 1024 * 1024

DEFAULT_DOWNTIME_S = 0.3     # QEMU downtime-limit default, 300 ms
DEFAULT_THROTTLE_INITIAL = 0.20
DEFAULT_THROTTLE_INCREMENT = 0.10
DEFAULT_THROTTLE_MAX = 0.99
DEFAULT_TRIGGER_THRESHOLD = 0.50


@dataclass(frozen=True)
class DirtyModel:
    """Uniform writes of ``write_rate`` bytes/s over ``working_set`` bytes.  ``write_rate`` may be
    ``math.inf`` (the working set is wholly dirty in any window: a saturated measurement's worst
    case); ``working_set`` may be ``math.inf`` (never saturates: W(t) = r t)."""
    working_set: float
    write_rate: float

    def distinct(self, t: float, scale: float = 1.0) -> float:
        """Distinct bytes dirtied in ``t`` seconds (write rate scaled by ``scale``, e.g. throttling)."""
        r = self.write_rate * scale
        if t <= 0 or r <= 0 or self.working_set <= 0:
            return 0.0
        if math.isinf(self.working_set):
            return r * t
        if math.isinf(r):
            return self.working_set
        return self.working_set * -math.expm1(-r * t / self.working_set)

    def fresh_fraction(self, t: float, scale: float = 1.0) -> float:
        """Probability that a given working-set page was written in ``t`` seconds."""
        if math.isinf(self.working_set):
            return 0.0
        return self.distinct(t, scale) / self.working_set if self.working_set else 0.0


@dataclass(frozen=True)
class GuestMemory:
    ram_bytes: float
    nonzero_bytes: float      # what the first pass really sends as whole pages

    def __post_init__(self):
        if self.ram_bytes <= 0:
            raise ValueError("ram_bytes must be positive")
        if not 0 <= self.nonzero_bytes <= self.ram_bytes * 1.000001:
            raise ValueError("nonzero_bytes must be within 0..ram_bytes")


SEND_BUFFER = 4 * MiB        # Linux net.ipv4.tcp_wmem max default (4194304)


@dataclass(frozen=True)
class Link:
    """``cap_bps``: QEMU max-bandwidth (libvirt --bandwidth), None = uncapped.  ``link_bps``: the real
    throughput of the migration path (probe, canary job statistics, or configured).
    ``burst_bps``: the path's raw TCP throughput (probe.py): the final burst resends pages the
    destination already holds, with the rate limit off, faster than a first pass averages (whose
    pages the destination must first allocate); None = ``link_bps``.
    ``send_buffer``: the source's TCP send buffer (tcp_wmem max).  QEMU's downtime ends when the last
    byte is written into the socket: with a cap below the link the buffer is empty when the VM stops
    and the first ``send_buffer`` bytes of the final burst cost no downtime; uncapped, it is full."""
    link_bps: float
    cap_bps: Optional[float] = None
    send_buffer: float = SEND_BUFFER
    burst_bps: Optional[float] = None     # raw throughput for the final burst (probe.py); None: link_bps

    @property
    def capped(self) -> bool:
        return bool(self.cap_bps) and self.cap_bps < self.link_bps

    def burst_s(self, payload: float) -> float:
        """Downtime spent sending ``payload`` bytes of pages once the VM is stopped."""
        wire = _page_bytes(payload)
        if self.capped:
            wire = max(wire - self.send_buffer, 0.0)
        return wire / (self.burst_bps or self.link_bps)

    @property
    def bandwidth(self) -> float:
        return min(self.cap_bps, self.link_bps) if self.cap_bps else self.link_bps

    @property
    def chunk_bytes(self) -> float:
        if self.cap_bps and self.cap_bps < self.link_bps:
            return min(self.cap_bps * BUFFER_DELAY_S, self.link_bps * MAX_WAIT_S)
        return self.link_bps * MAX_WAIT_S


@dataclass(frozen=True)
class Options:
    downtime_limit_s: float = DEFAULT_DOWNTIME_S
    auto_converge: bool = False
    throttle_initial: float = DEFAULT_THROTTLE_INITIAL
    throttle_increment: float = DEFAULT_THROTTLE_INCREMENT
    throttle_max: float = DEFAULT_THROTTLE_MAX
    trigger_threshold: float = DEFAULT_TRIGGER_THRESHOLD
    postcopy_after_precopy: bool = False


@dataclass(frozen=True)
class Overheads:
    """Fixed parts measured before the migration (a canary migration of the pair: see
    jobstats.overheads_from_canary); zero when unknown (the forecast then says so)."""
    setup_s: float = 0.0
    downtime_floor_s: float = 0.0
    measured: bool = False


@dataclass
class Outcome:
    """One simulated migration."""
    converges: bool
    total_time_s: float            # incl. overheads; for a non-converging run: time simulated
    transfer_s: float
    data_bytes: float
    downtime_s: Optional[float]
    iterations: int                # bitmap syncs, as QEMU counts memory_iteration (setup = 1)
    final_bytes: float             # dirty bytes left when the VM stopped (or the fixed point)
    throttle: float = 0.0
    postcopy: bool = False
    why: str = ""


def _page_bytes(payload: float) -> float:
    return payload * (1 + PAGE_HEADER / PAGE)


def simulate(dirty: DirtyModel, mem: GuestMemory, link: Link, opts: Options = Options(),
             overheads: Overheads = Overheads(), max_time_s: float = 3600.0) -> Outcome:
    """Run the fluid model once.  Deterministic; O(iterations).

    The bitmap holds three kinds of pages (bytes of pages): zero pages ``z`` (first pass only, ~9
    bytes each on the wire), non-zero pages outside the working set ``st`` (sent once), and
    working-set pages ``q`` (re-dirtied).  QEMU walks the bitmap in address order; where the
    non-zero pages sit is not known before a migration, so a chunk is taken as a proportional slice
    of what is in the bitmap (uniform layout).  That matters for the first pass: the pass stops
    being sent when pending < threshold, and whatever of it is left over (zero or not) is in the
    bitmap at the first sync."""
    bw = link.bandwidth
    if bw <= 0:
        raise ValueError("bandwidth must be positive")
    thr = bw * opts.downtime_limit_s
    chunk = link.chunk_bytes
    ws = min(dirty.working_set, mem.ram_bytes)
    dirty = replace(dirty, working_set=ws)
    nz = mem.nonzero_bytes
    q = min(ws, nz)
    st = max(nz - q, 0.0)
    z = max(mem.ram_bytes - nz, 0.0)
    zero_wire = ZERO_PAGE_COST / PAGE
    t = data = 0.0
    since = 0.0             # time since the last sync (setup synced at t = 0)
    syncs = 1
    throttle = 0.0
    high = 0
    period_start, period_dirty, period_sent = 0.0, 0.0, 0.0
    last_after = None
    stable = 0
    first = True

    def send(frac):
        nonlocal z, st, q, t, since, data, period_sent
        wire = _page_bytes(frac * (st + q)) + frac * z * zero_wire
        z, st, q = z * (1 - frac), st * (1 - frac), q * (1 - frac)
        dt = wire / bw
        t += dt
        since += dt
        data += wire
        period_sent += wire

    while True:
        pending = z + st + q
        if pending < thr:                                  # pending < threshold: sync
            if first and opts.postcopy_after_precopy:
                # post-copy after the first pass: the VM moves, the rest is pulled/pushed at bw
                rest = st + q + ws * (1 - (q / ws if ws else 0)) * dirty.fresh_fraction(since)
                transfer = t + _page_bytes(rest) / bw
                downtime = overheads.downtime_floor_s
                return Outcome(True, overheads.setup_s + transfer + downtime, transfer,
                               data + _page_bytes(rest), downtime, syncs + 1, 0.0, postcopy=True,
                               why="post-copy after the first pass")
            first = False
            scale = 1.0 - throttle
            if math.isinf(ws):
                new = dirty.distinct(since, scale)
            else:
                new = (ws - q) * dirty.fresh_fraction(since, scale)
            q += new
            syncs += 1
            since = 0.0
            period_dirty += new
            if opts.auto_converge and t - period_start >= 1.0:
                if period_dirty > period_sent * opts.trigger_threshold:
                    high += 1
                    if high >= 2:
                        high = 0
                        throttle = (opts.throttle_initial if throttle == 0 else
                                    min(throttle + opts.throttle_increment, opts.throttle_max))
                period_start, period_dirty, period_sent = t, 0.0, 0.0
            pending = z + st + q
            if pending < thr:
                final = st + q
                downtime = overheads.downtime_floor_s + link.burst_s(final)
                data += _page_bytes(final) + z * zero_wire
                # + the last sync ram_save_complete does with the VM stopped (memory_iteration)
                return Outcome(True, overheads.setup_s + t + downtime, t, data, downtime, syncs + 1,
                               final, throttle)
            # a fixed point above the threshold, with the throttle at its last value: never
            if last_after is not None and abs(pending - last_after) <= 1e-9 * max(pending, 1.0):
                stable += 1
            else:
                stable = 0
            last_after = pending
            throttle_done = (not opts.auto_converge) or throttle >= opts.throttle_max
            if stable >= 3 and throttle_done:
                return Outcome(False, overheads.setup_s + t, t, data, None, syncs, q, throttle,
                               why="the dirty set settles above what the downtime allows")
        if t > max_time_s:
            return Outcome(False, overheads.setup_s + t, t, data, None, syncs, q, throttle,
                           why=f"still not below the threshold after {max_time_s:.0f} s")
        wire_all = _page_bytes(st + q) + z * zero_wire
        if wire_all <= 0:
            frac = 1.0
        elif pending >= thr:
            # no sync until pending drops below the threshold: whole chunks (QEMU checks between
            # chunks) until it is below, at least one
            need = (pending - thr) / pending + 1e-12
            frac = min(max(math.ceil(wire_all * need / chunk), 1) * chunk / wire_all, 1.0)
        else:
            frac = min(chunk / wire_all, 1.0)
        send(frac)


# ---------------------------------------------------------------------------------------------
# Deciding over uncertain input, and remedies


@dataclass(frozen=True)
class DirtyRange:
    """The dirty behaviour as measured: candidate models that all fit the measurement.  ``central``
    is the best estimate; ``candidates`` span the uncertainty (incl. the saturated extreme).
    ``saturated``: the measurement cannot tell the write rate (only a lower bound)."""
    central: DirtyModel
    candidates: tuple
    saturated: bool = False
    note: str = ""


@dataclass
class Remedy:
    kind: str          # "auto-converge" | "post-copy" | "downtime" | "bandwidth" | "quieter"
    text: str
    value: Optional[float] = None     # the number (seconds, bytes/s, bytes/s of writes)
    outcome: Optional[Outcome] = None


@dataclass
class Forecast:
    converges: Optional[bool]          # None: cannot decide from this input (fail closed)
    central: Outcome
    low: Outcome                        # most and least favourable candidates
    high: Outcome
    saturated: bool
    reasons: list = field(default_factory=list)
    remedies: list = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return {True: "converges", False: "does not converge", None: "cannot decide"}[self.converges]


def forecast(dirty: DirtyRange, mem: GuestMemory, link: Link, opts: Options = Options(),
             overheads: Overheads = Overheads(), max_time_s: float = 3600.0,
             remedies: bool = True) -> Forecast:
    """Decide converges / does not / cannot decide over every candidate of ``dirty``; fail closed:
    convergence is claimed only when every candidate converges."""
    runs = [simulate(c, mem, link, opts, overheads, max_time_s) for c in dirty.candidates]
    central = simulate(dirty.central, mem, link, opts, overheads, max_time_s)
    outcomes = {r.converges for r in runs} | {central.converges}
    reasons = []
    if outcomes == {True}:
        verdict: Optional[bool] = True
    elif outcomes == {False}:
        verdict = False
    else:
        verdict = None
        reasons.append("the measured dirty behaviour is compatible with both outcomes"
                       + (" (saturated measurement: only a lower bound on the write rate)"
                          if dirty.saturated else ""))
    if dirty.note:
        reasons.append(dirty.note)
    if not overheads.measured:
        reasons.append("no canary measurement of the pair: fixed setup and downtime parts are 0")
    conv = [r for r in runs if r.converges]
    low = min(conv, key=lambda r: r.total_time_s) if conv else central
    high = max(runs, key=lambda r: (not r.converges, r.total_time_s))
    fc = Forecast(verdict, central, low, high, dirty.saturated, reasons)
    if remedies and verdict is not True:
        fc.remedies = find_remedies(dirty, mem, link, opts, overheads, max_time_s)
    return fc


def _all_converge(dirty: DirtyRange, mem, link, opts, overheads, max_time_s) -> Optional[Outcome]:
    worst = None
    for c in (dirty.central,) + tuple(dirty.candidates):
        o = simulate(c, mem, link, opts, overheads, max_time_s)
        if not o.converges:
            return None
        if worst is None or o.total_time_s > worst.total_time_s:
            worst = o
    return worst


def _bisect_min(ok, lo: float, hi: float, rel: float = 0.01, steps: int = 40) -> Optional[float]:
    """Smallest x in [lo, hi] with ok(x) (ok monotone: False..True), None if ok(hi) is False."""
    if not ok(hi):
        return None
    if ok(lo):
        return lo
    for _ in range(steps):
        mid = math.sqrt(lo * hi) if lo > 0 else (lo + hi) / 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
        if hi - lo <= rel * hi:
            break
    return hi


def find_remedies(dirty: DirtyRange, mem: GuestMemory, link: Link, opts: Options,
                  overheads: Overheads, max_time_s: float = 3600.0) -> list:
    """What would make every candidate converge, with the numbers (each found with the same model)."""
    out = []

    def conv(o, lk=link, ov=overheads):
        return _all_converge(dirty, mem, lk, o, ov, max_time_s)

    if not opts.auto_converge:
        o = conv(replace(opts, auto_converge=True))
        if o:
            out.append(Remedy("auto-converge",
                              f"--auto-converge: converges in ~{o.total_time_s:.0f} s with the vCPUs "
                              f"throttled to {o.throttle:.0%} (only if the guest's writing is "
                              "CPU-bound)", o.throttle, o))
    pc = simulate(dirty.candidates[0] if dirty.candidates else dirty.central, mem, link,
                  replace(opts, postcopy_after_precopy=True), overheads)
    out.append(Remedy("post-copy", f"--postcopy --postcopy-after-precopy: always completes, ~"
                      f"{pc.total_time_s:.0f} s; a network failure during post-copy loses the guest",
                      pc.total_time_s, pc))
    dl = _bisect_min(lambda d: conv(replace(opts, downtime_limit_s=d)) is not None,
                     opts.downtime_limit_s, 60.0)
    if dl is not None:
        o = conv(replace(opts, downtime_limit_s=dl))
        out.append(Remedy("downtime", f"virsh migrate-setmaxdowntime {dl * 1000:.0f} (ms) or more (the "
                          f"limit is judged at the capped rate; the predicted pause is ~"
                          f"{o.downtime_s * 1000:.0f} ms, the last burst going at the link's speed)",
                          dl, o))
    top = max(link.link_bps, link.bandwidth) * 1000

    def with_bw(b):
        return Link(link_bps=max(b, link.link_bps), cap_bps=b if link.cap_bps else None) \
            if link.cap_bps else Link(link_bps=b)
    bw = _bisect_min(lambda b: conv(opts, with_bw(b)) is not None, link.bandwidth, top)
    if bw is not None:
        where = ("--bandwidth" if link.cap_bps and bw <= link.link_bps else "a link of")
        out.append(Remedy("bandwidth", f"{where} {bw / MiB:.0f} MiB/s or more"
                          + ("" if bw <= link.link_bps else f" (the link carries {link.link_bps / MiB:.0f})"),
                          bw, conv(opts, with_bw(bw))))
    # quieter window: the largest write rate (same working set) that converges
    base = dirty.central

    def quiet_ok(r):
        return simulate(replace(base, write_rate=r), mem, link, opts, overheads, max_time_s).converges
    hi_r = base.write_rate if not math.isinf(base.write_rate) else link.bandwidth * 100
    if not quiet_ok(hi_r):
        lo, hi = 0.0, hi_r
        if quiet_ok(lo):
            for _ in range(40):
                mid = (lo + hi) / 2
                if quiet_ok(mid):
                    lo = mid
                else:
                    hi = mid
            out.append(Remedy("quieter", f"a window where the guest writes at most {lo / MiB:.1f} MiB/s "
                              f"(now ~{base.write_rate / MiB:.1f} MiB/s over "
                              f"{base.working_set / MiB:.0f} MiB)", lo))
    return out
