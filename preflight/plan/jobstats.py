"""libvirt migration job statistics: parsing, and what the forecast can take from them.

Sources: ``virDomainGetJobStats`` (python ``dom.jobStats(flags)``; flags ``COMPLETED`` and
``KEEP_COMPLETED`` for the last finished job) gives typed parameters; ``virsh domjobinfo
--completed --keep-completed --rawstats`` prints the same keys ("time_elapsed: 600"), and without
--rawstats a human table ("Time elapsed: 600 ms").  Both parse to one dict of the typed keys.

Uses:
- ``calibration_from_canary(stats)``: a canary migration of the pair (a small guest with known
  non-zero RAM, migrated uncapped) gives the link's real throughput and the fixed parts of elapsed
  time and downtime (``forecast.Overheads``), measured before the real migration.
- ``nonzero_from_job(stats)``: a VM's last migration tells how much of its RAM was non-zero.
- ``dirty_from_job(stats, ram)``: QEMU's last dirty-pages rate of a running or recent migration
  (pages dirtied per sync period; a distinct count too, so it saturates like the calculation;
  the period is not reported: used as one window of >= 1 s, with the same fail-closed candidates).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from preflight.plan.dirtyrate import DirtyRateSample, fit
from preflight.plan.forecast import PAGE, DirtyRange, Link, Overheads

# human label -> (raw key, unit); units: ms, bytes (with binary suffix), plain
_LABELS = {
    "Time elapsed": "time_elapsed", "Time elapsed w/o network": "time_elapsed_net",
    "Data processed": "data_processed", "Data remaining": "data_remaining",
    "Data total": "data_total", "Memory processed": "memory_processed",
    "Memory remaining": "memory_remaining", "Memory total": "memory_total",
    "Memory bandwidth": "memory_bps", "Dirty rate": "memory_dirty_rate",
    "Page size": "memory_page_size", "Iteration": "memory_iteration",
    "Postcopy requests": "memory_postcopy_requests", "Constant pages": "memory_constant",
    "Normal pages": "memory_normal", "Normal data": "memory_normal_bytes",
    "Total downtime": "downtime", "Downtime w/o network": "downtime_net",
    "Expected downtime": "downtime", "Setup time": "setup_time",
}
_UNITS = {"B": 1, "KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3, "TiB": 1024 ** 4}
JOB_TYPES = {"None": 0, "Bounded": 1, "Unbounded": 2, "Completed": 3, "Failed": 4, "Cancelled": 5}


class JobStatsError(ValueError):
    pass


def parse_virsh_domjobinfo(text: str) -> dict:
    """``virsh domjobinfo`` output, human (``Label: value unit``) or ``--rawstats`` (``key: value``)."""
    out: dict = {}
    for line in text.splitlines():
        if ":" not in line:
            continue
        label, _, value = line.partition(":")
        label, value = label.strip(), value.strip()
        if label == "Job type":
            out["type"] = int(value) if value.isdigit() else JOB_TYPES.get(value, value)
            continue
        if label == "Operation" or label == "operation":
            out["operation"] = int(value) if value.isdigit() else value
            continue
        if re.fullmatch(r"[a-z_.0-9]+", label):            # --rawstats
            out[label] = int(value) if value.lstrip("-").isdigit() else value
            continue
        key = _LABELS.get(label)
        if key is None:
            continue
        parts = value.split()
        num = float(parts[0])
        unit = parts[1] if len(parts) > 1 else ""
        if unit.endswith("/s"):
            num *= _UNITS.get(unit[:-2], 1)
            if key == "memory_dirty_rate":                 # "pages/s"
                num = float(parts[0])
        elif unit in _UNITS:
            num *= _UNITS[unit]
        out[key] = int(round(num))
    return out


@dataclass(frozen=True)
class JobStats:
    time_elapsed_ms: Optional[int]
    downtime_ms: Optional[int]
    setup_time_ms: Optional[int]
    data_processed: Optional[int]
    memory_total: Optional[int]
    memory_bps: Optional[int]
    memory_constant: Optional[int]
    memory_normal: Optional[int]
    memory_normal_bytes: Optional[int]
    memory_dirty_rate: Optional[int]       # pages/s
    memory_iteration: Optional[int]
    page_size: int = PAGE
    type: Optional[int] = None

    @classmethod
    def from_dict(cls, d: dict) -> "JobStats":
        g = d.get
        return cls(g("time_elapsed"), g("downtime"), g("setup_time"), g("data_processed"),
                   g("memory_total"), g("memory_bps"), g("memory_constant"), g("memory_normal"),
                   g("memory_normal_bytes"), g("memory_dirty_rate"), g("memory_iteration"),
                   int(g("memory_page_size") or PAGE), g("type"))

    @property
    def completed(self) -> bool:
        return self.type == JOB_TYPES["Completed"]


def nonzero_from_job(stats: JobStats) -> Optional[float]:
    """Non-zero RAM as the last migration saw it: all pages minus the zero ('constant') ones.
    (Zero pages are sent once, in the first pass; normal pages may be sent many times.)"""
    if stats.memory_total is None or stats.memory_constant is None:
        return None
    return max(stats.memory_total - stats.memory_constant * stats.page_size, 0)


@dataclass(frozen=True)
class Calibration:
    link_bps: float
    overheads: Overheads
    canary_nonzero: float


def _median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def calibration_from_canary(uncapped: list, capped: list = (), cap_bps: Optional[float] = None
                            ) -> Calibration:
    """Canary migrations of the pair (an idle guest whose RAM is mostly non-zero pages it wrote
    once, a small downtime limit so that it stops with little left) -> the link's throughput
    (median ``memory_bps`` of the UNCAPPED runs) and the fixed parts (``Overheads``): from the runs
    CAPPED at ``cap_bps`` (below the link: the socket is idle when the VM stops, and the transfer
    time is data / cap), the median downtime and the median elapsed - transfer - downtime.  With
    no capped run, the uncapped ones give both (their downtime then includes draining a full send
    buffer: an overestimate).  Several runs, because one is noisy on a busy host."""
    runs = [s for s in list(uncapped) + list(capped)]
    if not uncapped:
        raise JobStatsError("no uncapped canary run: the link throughput is unknown")
    for st in runs:
        if not st.completed:
            raise JobStatsError("a canary's job statistics are not of a completed migration")
        missing = [n for n in ("time_elapsed_ms", "downtime_ms", "data_processed", "memory_bps")
                   if getattr(st, n) in (None, 0)]
        if missing:
            raise JobStatsError(f"canary job statistics lack {', '.join(missing)}")
    if capped and not cap_bps:
        raise JobStatsError("capped canary runs need their cap")
    link = _median([float(st.memory_bps) for st in uncapped])
    fixed = list(capped) or list(uncapped)
    rate = cap_bps if capped else None
    downtime = _median([st.downtime_ms / 1000.0 for st in fixed])
    setup = _median([max(st.time_elapsed_ms / 1000.0 - st.data_processed / (rate or st.memory_bps)
                         - st.downtime_ms / 1000.0, 0.0) for st in fixed])
    return Calibration(link, Overheads(setup_s=setup, downtime_floor_s=downtime, measured=True),
                       nonzero_from_job(uncapped[0]) or 0.0)


def link_for(calibration: Calibration, cap_bps: Optional[float]) -> Link:
    return Link(link_bps=calibration.link_bps, cap_bps=cap_bps)


def dirty_from_job(stats: JobStats, ram_bytes: float, period_s: float = 1.0) -> Optional[DirtyRange]:
    """QEMU's dirty-pages rate of the last sync period as one window (>= 1 s; fail closed)."""
    if stats.memory_dirty_rate is None:
        return None
    mib_s = stats.memory_dirty_rate * stats.page_size / (1024 * 1024)
    return fit([DirtyRateSample(period_s, int(mib_s), mode="dirty-bitmap")], ram_bytes)


def get_job_stats(dom, completed: bool = True) -> dict:
    """Gathering: the domain's current (or, with ``completed``, last completed) job statistics,
    kept for later readers (KEEP_COMPLETED)."""
    import libvirt

    flags = 0
    if completed:
        flags = libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED | getattr(
            libvirt, "VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED", 2)
    return dom.jobStats(flags)
