"""Real pre-copy migrations of the dirty guest over a grid, with the forecast's inputs measured the
way preflight measures them, shared by tests/lab/test_forecast.py and benchmarks/forecast_vs_real.py.

Inputs, all measured before each migration (nothing fitted to the migrations' outcomes):
- link throughput and the fixed parts of elapsed time and downtime: canary migrations of the pair
  (the dirty guest idle with 128 MiB of RAM, 104 MiB of it written once: almost no zero pages),
  uncapped for the throughput, capped for the fixed parts, from their job statistics;
- non-zero RAM: the guest's RSS (dommemstat) minus what the canary's QEMU holds beyond its
  non-zero guest pages (same QEMU, same devices);
- the link's raw throughput (for the final burst): preflight.plan.probe between the pair;
- dirty behaviour: preflight.plan.dirtyrate.measure() over 1 s and 2 s windows (dirty-bitmap under
  KVM, page sampling under TCG), run ON the source host through the libvirt python binding.

GRID: guests (working set MiB, pages/s) x settings (--bandwidth MiB/s, max downtime ms); a migration
still running ABORT_AFTER_S after it started is aborted with `virsh domjobabort` and counts as
"does not converge".
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from preflight.plan import dirtyrate, forecast as F, jobstats
from tests.lab import dirty_guest as G, lab as L

REPO = Path(__file__).resolve().parents[2]
# Why these (docs/forecast.md, "the lab proof"): both outcomes occur; downtime matters (G2: 48 MiB
# written at 48 MiB/s needs >= ~575 ms at 32 MiB/s: 300 ms no, 1000 ms yes), bandwidth matters (G4:
# 256 MiB at 50 MiB/s needs >= ~48 MiB/s: only the 96 MiB/s cell), one guest is saturated (G3: 8 MiB
# rewritten at 100 MiB/s reads ~8 MiB over 1 s and over 2 s; it converges whatever its real rate,
# because the whole set fits bandwidth x downtime, 1.2x at 32 MiB/s x 300 ms), and every other cell
# is >= 1.6x away from its boundary in downtime or bandwidth, so that the measurement's uncertainty
# band (5 % and whole MiB/s per window) still decides it.  A 40 MiB set at 48 MiB/s (boundary at
# ~475 ms) leaves the 300 ms cell "cannot decide": correct, but no verdict to compare.
GUESTS = ((64, 2560), (48, 12288), (8, 25600), (256, 12800))
SETTINGS = ((32, 300), (32, 1000), (96, 300))
ABORT_AFTER_S = 15.0
WINDOWS = (1, 2)
SRC, DST = "hv1", "hv2"
CANARY_DOWNTIME_MS = 30


@dataclass
class Real:
    ok: bool                      # completed (False: aborted or failed)
    aborted: bool
    wall_s: float
    message: str
    stats: dict = field(default_factory=dict)   # domjobinfo --completed --rawstats, parsed
    stats_text: str = ""


def jobinfo(host: str, dom: str) -> str:
    return L.ssh(host, f"virsh domjobinfo --completed --keep-completed --anystats --rawstats {dom}",
                 check=False).stdout


def migrate(dom: str, src: str, dst: str, cap_mib: int | None, downtime_ms: int,
            abort_after_s: float = ABORT_AFTER_S) -> Real:
    """`virsh migrate --live [--bandwidth N]` on the source host (through its sshd), with the max
    downtime set first (libvirt keeps it for the migration); aborted after abort_after_s."""
    L.ssh(src, f"virsh migrate-setmaxdowntime {dom} {downtime_ms}")
    bw = f" --bandwidth {cap_mib}" if cap_mib else ""
    cmd = ["ssh", "-F", str(L.LAB_DIR / "ssh_config"), "-o", "BatchMode=yes", src,
           f"virsh migrate --live{bw} {dom} qemu+ssh://{dst}/system 2>&1"]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL)
    aborted = False
    try:
        out, _ = proc.communicate(timeout=abort_after_s)
    except subprocess.TimeoutExpired:
        aborted = True
        L.ssh(src, f"virsh domjobabort {dom}", check=False)
        out, _ = proc.communicate(timeout=60)
    wall = time.monotonic() - t0
    ok = proc.returncode == 0 and not aborted
    text = jobinfo(dst if ok else src, dom)
    return Real(ok, aborted, wall, " ".join(out.split())[:300], jobstats.parse_virsh_domjobinfo(text),
                text)


def measure_on_host(host: str, dom: str, mode: str, windows=WINDOWS) -> list:
    """dirtyrate.measure() through a real libvirt domain object, run on the lab host itself."""
    code = ("import json,sys,libvirt; sys.path.insert(0,%r); from preflight.plan import dirtyrate;"
            "c=libvirt.open('qemu:///system'); d=c.lookupByName(%r);"
            "s=dirtyrate.measure(d, windows=%r, mode=%r);"
            "print(json.dumps([x.__dict__ for x in s]))") % (str(REPO), dom, tuple(windows), mode)
    p = L.ssh(host, f"{sys.executable} -c \"{code}\"", timeout=60 + 3 * sum(windows))
    return [dirtyrate.DirtyRateSample(**x) for x in json.loads(p.stdout.strip().splitlines()[-1])]


def rss_bytes(host: str, dom: str) -> float:
    out = L.ssh(host, f"virsh dommemstat {dom}").stdout
    for line in out.splitlines():
        if line.startswith("rss "):
            return int(line.split()[1]) * 1024.0
    raise L.LabError(f"no rss in dommemstat of {dom}: {out}")


@dataclass
class Calib:
    link_bps: float
    setup_s: float
    downtime_floor_s: float
    rss_overhead: float
    canary: list          # the canary runs' job statistics (parsed), uncapped first
    canary_text: list = field(default_factory=list)
    burst_bps: float = 0.0    # raw TCP throughput src -> dst (preflight.plan.probe), median
    probes: list = field(default_factory=list)


PROBE_PORT = 49400        # outside libvirt's migration range 49152-49215


def probe_link(src: str = SRC, dst: str = DST, runs: int = 3, nbytes: int = 256 << 20) -> list:
    """preflight.plan.probe between the pair, receiver on dst, sender on src (bounded: 256 MiB,
    20 s); returns the receiver's bytes/s of each run."""
    py = f"PYTHONPATH={REPO} {sys.executable} -m preflight.plan.probe"
    out = []
    for _ in range(runs):
        rx = subprocess.Popen(["ssh", "-F", str(L.LAB_DIR / "ssh_config"), "-o", "BatchMode=yes", dst,
                               f"{py} serve {L.address(dst)} {PROBE_PORT} --timeout 20"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              stdin=subprocess.DEVNULL)
        L.wait_for("probe receiver", lambda: L.ssh(dst, f"ss -Hltn 'sport = :{PROBE_PORT}'",
                                                   check=False).stdout.strip(), 15, 0.1)
        L.ssh(src, f"{py} send {L.address(dst)} {PROBE_PORT} --bytes {nbytes} --timeout 20", timeout=40)
        got, err = rx.communicate(timeout=40)
        if rx.returncode != 0:
            raise L.LabError(f"probe receiver failed: {err}")
        n, secs = got.split()
        from preflight.plan.probe import throughput
        out.append(throughput(int(n), float(secs)))
    return out


CANARY_CAP_MIB = 64
CANARY_RUNS = (None, None, CANARY_CAP_MIB, CANARY_CAP_MIB, CANARY_CAP_MIB)


def calibrate(src: str = SRC, dst: str = DST, runs=CANARY_RUNS) -> Calib:
    """The canary: the dirty guest idle, 128 MiB of RAM of which 104 MiB written once, migrated
    back and forth: uncapped (the link's throughput) and capped below the link (the fixed parts),
    with a 30 ms downtime limit: the first pass then stops with < 30 ms x link (~8 MiB here) left,
    which is the guest's zero tail (104 MiB written from 16 MiB on), so nothing much is left to send
    when it stops.  Medians over the runs (this machine's 2 shared cores make one run noisy)."""
    name = "vm-fc-canary"
    G.destroy(name)
    G.start(src, name, 104, 0, memory_mib=128)
    uncapped, capped, texts = [], [], []
    here, there = src, dst
    try:
        rss = rss_bytes(here, name)
        for cap in runs:
            real = migrate(name, here, there, cap, CANARY_DOWNTIME_MS, abort_after_s=60)
            if not real.ok:
                raise L.LabError(f"canary migration failed: {real.message}")
            (capped if cap else uncapped).append(jobstats.JobStats.from_dict(real.stats))
            texts.append(real.stats_text)
            here, there = there, here
    finally:
        G.destroy(name)
    cal = jobstats.calibration_from_canary(uncapped, capped, CANARY_CAP_MIB * F.MiB)
    probes = probe_link(src, dst)
    return Calib(cal.link_bps, cal.overheads.setup_s, cal.overheads.downtime_floor_s,
                 max(rss - cal.canary_nonzero, 0.0),
                 [asdict(x) for x in uncapped + capped], texts, sorted(probes)[len(probes) // 2], probes)


@dataclass
class Cell:
    ws_mib: int
    pps: int
    cap_mib: int
    downtime_ms: int
    verdict: str
    predicted: dict
    real: dict
    saturated: bool
    samples: list


def run_grid(guests=GUESTS, settings=SETTINGS, mode: str | None = None, calib: Calib | None = None,
             log=print) -> tuple:
    mode = mode or ("dirty-bitmap" if L.kvm_domain_type() == "kvm" else "page-sampling")
    calib = calib or calibrate()
    log(f"canary: link {calib.link_bps / F.MiB:.0f} MiB/s (probe {calib.burst_bps / F.MiB:.0f} MiB/s), "
        f"setup {calib.setup_s:.2f} s, downtime floor "
        f"{calib.downtime_floor_s * 1000:.0f} ms, rss overhead {calib.rss_overhead / F.MiB:.0f} MiB")
    cells = []
    name = "vm-fc-dirty"
    for ws, pps in guests:
        G.destroy(name)
        G.start(SRC, name, ws, pps)
        here, there = SRC, DST
        try:
            samples = measure_on_host(here, name, mode)
            ram = G.MEMORY_MIB * F.MiB
            drange = dirtyrate.fit(samples, ram)
            nonzero = min(max(rss_bytes(here, name) - calib.rss_overhead, 0.0), ram)
            mem = F.GuestMemory(ram, nonzero)
            for cap, dl in settings:
                link = F.Link(link_bps=calib.link_bps, cap_bps=cap * F.MiB if cap else None,
                              burst_bps=calib.burst_bps or None)
                ov = F.Overheads(calib.setup_s, calib.downtime_floor_s, measured=True)
                fc = F.forecast(drange, mem, link, F.Options(downtime_limit_s=dl / 1000), ov,
                                max_time_s=600)
                real = migrate(name, here, there, cap, dl)
                c = fc.central
                cell = Cell(ws, pps, cap, dl, fc.verdict,
                            {"converges": fc.converges, "total_s": c.total_time_s,
                             "downtime_s": c.downtime_s, "data_bytes": c.data_bytes,
                             "iterations": c.iterations, "nonzero_bytes": nonzero,
                             "working_set": drange.central.working_set,
                             "write_rate": drange.central.write_rate,
                             "remedies": [r.text for r in fc.remedies]},
                            asdict(real), drange.saturated, [s.__dict__ for s in samples])
                cells.append(cell)
                log(f"ws={ws:>3} MiB pps={pps:>5} cap={cap} MiB/s dl={dl} ms: forecast {fc.verdict}"
                    f" ({c.total_time_s:.1f} s), real "
                    f"{'completed' if real.ok else 'aborted' if real.aborted else 'FAILED'}"
                    f" ({real.wall_s:.1f} s) {'' if real.ok or real.aborted else real.message}")
                if real.ok:
                    here, there = there, here
        finally:
            G.destroy(name)
    return calib, cells
