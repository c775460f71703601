"""Reading a guest's dirty behaviour from libvirt's dirty-rate calculation.

Gathering (the only function that talks to libvirt): ``measure(dom, ...)`` runs
``virDomainStartDirtyRateCalc`` for each window and reads ``getAllDomainStats(
VIR_DOMAIN_STATS_DIRTYRATE)`` (virsh: ``domdirtyrate-calc --seconds N [--mode M]`` then
``domstats --dirtyrate``).  Page sampling is the default; ``dirty-bitmap`` only when asked and never
under TCG (QEMU crashes there); ``dirty-ring`` only exists with KVM's dirty ring enabled.

Interpretation (pure): ``fit(samples, ram_bytes)`` turns the samples into a ``forecast.DirtyRange``.
What libvirt reports, ``dirtyrate.megabytes_per_second``, is QEMU's count of DISTINCT pages dirtied
in the window, over the window, truncated to whole MiB/s (qemu migration/dirtyrate.c): for a guest
that rewrites a small working set quickly, it saturates at working-set / window whatever the real
write rate.  Two windows tell the shape: for uniform writes over S bytes at r bytes/s, the distinct
bytes are W(t) = S (1 - exp(-r t / S)); W(2t) / W(t) is 2 when unsaturated and 1 when saturated.
Uncertainty kept as candidates: the integer truncation, and for page sampling the sampling error
(QEMU hashes 512 random pages per GiB of RAM: the dirty fraction is a binomial estimate), a 2 sigma
band.  A saturated measurement only bounds the write rate from below: its candidates include an
infinite write rate, so the forecast cannot claim convergence that depends on the rate.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Iterable, Optional

from preflight.plan.forecast import DirtyModel, DirtyRange, MiB

SAMPLE_PAGES_PER_GIB = 512          # QEMU DIRTYRATE_DEFAULT_SAMPLE_PAGES
CALC_MEASURED = 2                   # VIR_DOMAIN_DIRTYRATE_MEASURED
BITMAP_REL_ERROR = 0.05             # window timing and guest jitter, dirty-bitmap/ring modes
MODES = ("page-sampling", "dirty-bitmap", "dirty-ring")


class DirtyRateError(RuntimeError):
    pass


@dataclass(frozen=True)
class DirtyRateSample:
    period_s: float
    mib_per_s: int
    mode: str = "page-sampling"
    start_time: Optional[int] = None

    def distinct_bytes(self) -> float:
        return self.mib_per_s * MiB * self.period_s


def parse_stats(record: dict) -> DirtyRateSample:
    """One domain's ``dirtyrate.*`` stats (getAllDomainStats record or parse_virsh_domstats)."""
    status = record.get("dirtyrate.calc_status")
    if status is None:
        raise DirtyRateError("no dirtyrate stats (libvirt < 7.2, or no calculation was started)")
    if int(status) != CALC_MEASURED:
        raise DirtyRateError(f"dirty-rate calculation not finished (calc_status={status})")
    mode = record.get("dirtyrate.calc_mode", "page-sampling")
    if "dirtyrate.megabytes_per_second" not in record:
        raise DirtyRateError("dirtyrate.megabytes_per_second missing")
    return DirtyRateSample(period_s=float(record["dirtyrate.calc_period"]),
                           mib_per_s=int(record["dirtyrate.megabytes_per_second"]),
                           mode=str(mode), start_time=int(record.get("dirtyrate.calc_start_time", 0)))


def parse_virsh_domstats(text: str) -> dict:
    """``virsh domstats --dirtyrate DOM`` text -> {key: value} (numbers as int)."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if "=" not in line or line.startswith("Domain:"):
            continue
        key, _, value = line.partition("=")
        out[key] = int(value) if value.lstrip("-").isdigit() else value
    return out


def distinct_bounds(samples: list, ram_bytes: float) -> tuple:
    """(low, central, high) distinct bytes for repeated samples of one window length."""
    period = samples[0].period_s
    values = [s.distinct_bytes() for s in samples]
    central = sum(values) / len(values) + 0.5 * MiB * period      # truncation: [v, v + 1) MiB/s
    quant = 0.5 * MiB * period
    if samples[0].mode == "page-sampling":
        n = max(SAMPLE_PAGES_PER_GIB * ram_bytes / (1024 * MiB), 1.0) * len(samples)
        k = central / ram_bytes * n                                # dirty sampled pages
        spread = 2 * math.sqrt(k * max(1 - k / n, 0) + 1) / n * ram_bytes
    else:
        spread = BITMAP_REL_ERROR * central
    return (max(central - spread - quant, 0.0), central, min(central + spread + quant, ram_bytes))


def _ratio_curve(u: float, t1: float, t2: float) -> float:
    if u <= 0:
        return t2 / t1
    return -math.expm1(-u * t2) / -math.expm1(-u * t1)


def _u_for_ratio(rho: float, t1: float, t2: float) -> float:
    """u = r / S such that W(t2)/W(t1) = rho; 0 for linear, inf for saturated."""
    if rho >= t2 / t1:
        return 0.0
    if rho <= 1.0:
        return math.inf
    lo, hi = 1e-9, 1.0
    while _ratio_curve(hi, t1, t2) > rho:
        hi *= 2
        if hi > 1e9:
            return math.inf
    for _ in range(100):
        mid = math.sqrt(lo * hi)
        if _ratio_curve(mid, t1, t2) > rho:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _model(w1: float, u: float, t1: float, ram: float) -> DirtyModel:
    """The uniform-writes model through W(t1) = w1 with r/S = u, S clamped to the guest's RAM."""
    w1 = max(w1, 0.0)
    if w1 <= 0:
        return DirtyModel(ram, 0.0)
    if math.isinf(u):
        return DirtyModel(w1, math.inf)
    s = w1 / -math.expm1(-u * t1) if u > 0 else math.inf
    if s >= ram or u == 0:
        s = ram
        frac = min(w1 / ram, 1 - 1e-12)
        return DirtyModel(ram, -ram * math.log1p(-frac) / t1)
    return DirtyModel(s, u * s)


def fit(samples: Iterable[DirtyRateSample], ram_bytes: float) -> DirtyRange:
    """Samples of one or two window lengths -> DirtyRange (central estimate + candidates)."""
    samples = list(samples)
    if not samples:
        raise DirtyRateError("no dirty-rate samples")
    by_period = {}
    for s in samples:
        by_period.setdefault(s.period_s, []).append(s)
    periods = sorted(by_period)
    t1 = periods[0]
    lo1, c1, hi1 = distinct_bounds(by_period[t1], ram_bytes)
    mode = samples[0].mode
    if len(periods) == 1:
        # one window: anything from "linear" (S = RAM) to "saturated" (S = W, r unbounded) fits
        central = _model(c1, 0.0, t1, ram_bytes)
        cands = tuple(_model(w, u, t1, ram_bytes) for w in (lo1, hi1) for u in (0.0, math.inf))
        return DirtyRange(central, cands, saturated=False,
                          note=f"one {t1:g} s window ({mode}): saturation cannot be told; measure "
                               "with two window lengths to narrow the forecast")
    t2 = periods[-1]
    lo2, c2, hi2 = distinct_bounds(by_period[t2], ram_bytes)
    rho_lo = lo2 / hi1 if hi1 > 0 else 1.0
    rho_hi = hi2 / lo1 if lo1 > 0 else t2 / t1
    rho_c = c2 / c1 if c1 > 0 else t2 / t1
    u_lo, u_hi, u_c = (_u_for_ratio(rho_hi, t1, t2), _u_for_ratio(rho_lo, t1, t2),
                       _u_for_ratio(rho_c, t1, t2))
    us = [u_lo, u_hi]
    if not math.isinf(u_c):
        us.append(u_c)
    finite = [u for u in us if 0 < u < math.inf]
    if finite:   # interior points: the outcome need not be monotone along the curve
        a, b = min(finite), max(finite)
        us += [a * (b / a) ** k for k in (0.25, 0.5, 0.75)]
    cands = tuple(_model(w, u, t1, ram_bytes) for w in (lo1, hi1) for u in us)
    saturated = math.isinf(u_hi)
    if math.isinf(u_c):
        central = DirtyModel(max(c1, c2), math.inf)
    else:
        central = _model(c1, u_c, t1, ram_bytes)
    note = ""
    if saturated:
        note = (f"saturated: {c1 / MiB / t1:.0f} MiB/s over {t1:g} s and {c2 / MiB / t2:.0f} MiB/s over "
                f"{t2:g} s are the same ~{max(c1, c2) / MiB:.0f} MiB rewritten: the write rate is at least "
                f"{lo1 / t1 / MiB:.0f} MiB/s, the real one is unknown")
    return DirtyRange(central, cands, saturated=saturated, note=note)


# ---------------------------------------------------------------------------------------------
# Gathering


def measure(dom, windows=(1, 2), mode: str = "page-sampling", domain_type: Optional[str] = None,
            repeat: int = 1, timeout_s: float = 30.0, sleep=time.sleep) -> list:
    """Run libvirt's dirty-rate calculation on a RUNNING domain for each window (seconds, 1..60),
    ``repeat`` times each, and return the samples.  Read-only for the guest (QEMU samples page
    hashes or reads the dirty log).  ``domain_type``: the domain's <domain type=...>; dirty-bitmap
    and dirty-ring are refused under TCG ('qemu')."""
    import libvirt   # here, so that the module imports without libvirt-python

    if mode not in MODES:
        raise DirtyRateError(f"unknown dirty-rate mode {mode!r}: use one of {', '.join(MODES)}")
    if domain_type is None:
        from preflight.facts.xmlsafe import parse_xml
        domain_type = parse_xml(dom.XMLDesc(0), "domain XML").get("type")
    if mode != "page-sampling" and domain_type != "kvm":
        raise DirtyRateError(f"{mode} needs KVM (this domain is type '{domain_type}'; under TCG QEMU "
                             "crashes): use page-sampling")
    flag = {"page-sampling": getattr(libvirt, "VIR_DOMAIN_DIRTYRATE_MODE_PAGE_SAMPLING", 0),
            "dirty-bitmap": getattr(libvirt, "VIR_DOMAIN_DIRTYRATE_MODE_DIRTY_BITMAP", 1),
            "dirty-ring": getattr(libvirt, "VIR_DOMAIN_DIRTYRATE_MODE_DIRTY_RING", 2)}[mode]
    conn = dom.connect()
    samples = []
    for seconds in windows:
        for _ in range(repeat):
            dom.startDirtyRateCalc(int(seconds), flag)
            sleep(seconds)
            deadline = time.monotonic() + timeout_s
            while True:
                stats = conn.domainListGetStats([dom], libvirt.VIR_DOMAIN_STATS_DIRTYRATE)
                record = stats[0][1] if stats else {}
                if record.get("dirtyrate.calc_status") == CALC_MEASURED:
                    samples.append(parse_stats(record))
                    break
                if time.monotonic() > deadline:
                    raise DirtyRateError(f"dirty-rate calculation of {seconds} s did not finish "
                                         f"within {timeout_s:.0f} s")
                sleep(0.1)
    return samples
