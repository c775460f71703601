"""Forecast vs real pre-copy migrations of the lab's dirty guest, side by side.

    PREFLIGHT_LAB_PREFIX=.. PREFLIGHT_LAB_SUBNET=.. PREFLIGHT_LAB_DIR=.. \\
        python benchmarks/forecast_vs_real.py [--save FILE]    # brings the lab up, runs the grid
    python benchmarks/forecast_vs_real.py --load tests/fixtures/forecast/grid.lab.json   # recorded

Runs tests/lab/forecast_lab.GRID (4 guests x 3 settings; ~3 min plus lab bring-up), every input
measured before its migration (canary, dirty-rate calculation, RSS; nothing fitted to outcomes),
and prints per cell: forecast vs real verdict, total time (libvirt "Time elapsed"), downtime
(`domjobinfo --completed`), data sent, the relative errors, and the median errors of total time and
downtime over the cells that converged.  --load re-evaluates recorded measurements with the
current model (the recorded samples, canary and RSS are the inputs; the real columns are recorded).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from dataclasses import asdict

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from preflight.plan import dirtyrate, forecast as F  # noqa: E402


def reforecast(calib: dict, cell: dict) -> dict:
    samples = [dirtyrate.DirtyRateSample(**s) for s in cell["samples"]]
    ram = 512 * F.MiB
    dr = dirtyrate.fit(samples, ram)
    mem = F.GuestMemory(ram, cell["predicted"]["nonzero_bytes"])
    link = F.Link(calib["link_bps"], cell["cap_mib"] * F.MiB if cell["cap_mib"] else None,
                  burst_bps=calib.get("burst_bps") or None)
    ov = F.Overheads(calib["setup_s"], calib["downtime_floor_s"], True)
    fc = F.forecast(dr, mem, link, F.Options(cell["downtime_ms"] / 1000), ov, max_time_s=600,
                    remedies=False)
    c = fc.central
    return {"converges": fc.converges, "verdict": fc.verdict, "total_s": c.total_time_s,
            "downtime_s": c.downtime_s, "data_bytes": c.data_bytes, "iterations": c.iterations}


def err(pred, real):
    return (pred - real) / real if real else float("nan")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--load", help="recorded grid (JSON) instead of running the lab")
    ap.add_argument("--save", help="write the grid's measurements and outcomes here (JSON)")
    args = ap.parse_args(argv)
    if args.load:
        with open(args.load) as f:
            rec = json.load(f)
    else:
        from tests.lab import forecast_lab as FL, lab as L
        L.up()
        try:
            calib, cells = FL.run_grid(log=lambda m: print(m, file=sys.stderr))
        finally:
            if os.environ.get("PREFLIGHT_LAB_KEEP") != "1":
                L.down()
        rec = {"calib": asdict(calib), "cells": [asdict(c) for c in cells]}
        if args.save:
            with open(args.save, "w") as f:
                json.dump(rec, f, indent=1)
    cal = rec["calib"]
    print(f"canary: link {cal['link_bps'] / F.MiB:.0f} MiB/s, probe {cal.get('burst_bps', 0) / F.MiB:.0f} "
          f"MiB/s, fixed setup {cal['setup_s']:.2f} s, "
          f"downtime floor {cal['downtime_floor_s'] * 1000:.0f} ms")
    hdr = (f"{'WS':>4} {'pps':>6} {'cap':>4} {'dl':>5} | {'forecast':<17} {'real':<9} | {'t_pred':>6} "
           f"{'t_real':>6} {'err':>6} | {'dt_pred':>7} {'dt_real':>7} {'err':>6} | {'MiB_pred':>8} "
           f"{'MiB_real':>8} {'err':>6}")
    print(hdr)
    print("-" * len(hdr))
    t_errs, d_errs, agree = [], [], 0
    for cell in rec["cells"]:
        p = reforecast(cal, cell)
        real = cell["real"]
        st = real["stats"]
        rv = "converges" if real["ok"] else "aborted" if real["aborted"] else "FAILED"
        agree += (p["converges"] is True and real["ok"]) or (p["converges"] is False and not real["ok"])
        line = (f"{cell['ws_mib']:>4} {cell['pps']:>6} {cell['cap_mib']:>4} {cell['downtime_ms']:>5} | "
                f"{p['verdict'] + (' (sat)' if cell['saturated'] else ''):<17} {rv:<9} | ")
        if real["ok"] and p["converges"]:
            tr, dr_ = st["time_elapsed"] / 1000, st["downtime"] / 1000
            te, de = err(p["total_s"], tr), err(p["downtime_s"], dr_)
            de_mb = err(p["data_bytes"], st["data_processed"])
            t_errs.append(abs(te))
            d_errs.append(abs(de))
            line += (f"{p['total_s']:6.2f} {tr:6.2f} {te:+6.0%} | {p['downtime_s'] * 1000:5.0f}ms "
                     f"{dr_ * 1000:5.0f}ms {de:+6.0%} | {p['data_bytes'] / F.MiB:8.1f} "
                     f"{st['data_processed'] / F.MiB:8.1f} {de_mb:+6.0%}")
        else:
            line += f"{'':>6} {real['wall_s']:5.1f}s (aborted after the bound)"
        print(line)
    n = len(rec["cells"])
    print(f"\nverdicts agree in {agree}/{n} cells")
    if t_errs:
        print(f"converging cells: {len(t_errs)}; median |error| total time {statistics.median(t_errs):.1%}"
              f" (max {max(t_errs):.0%}), downtime {statistics.median(d_errs):.1%} (max {max(d_errs):.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
