"""Cluster-size benchmark: synthetic recordings of N hosts x M VMs built from the demo's real
recorded facts, replayed with `preflight check --replay`, one fresh process per size.

Every hypervisor is a clone of one demo host (round robin hv1, hv2, hv3) with its own name,
address, machine-id and libvirt host UUID; every guest a clone of one of its template host's
demo guests with its own name and UUID (same disks, so the same storage verdicts). The demo's
faults are kept: clones of hv2 reject the migration ports, clones of hv3 lack a guest bridge,
the invtsc guest and the local-disk guest are cloned with the others.

    python benchmarks/cluster_size.py                      # the default ladder
    python benchmarks/cluster_size.py 30x30 96x104         # hosts x VMs per host
    python benchmarks/cluster_size.py --keep DIR 10x20     # keep recordings and outputs in DIR
    python benchmarks/cluster_size.py --html 30x30         # also render the HTML report
    python benchmarks/cluster_size.py --full-results 30x30 # the JSON with one object per result

Prints, per size: migrations, results, wall seconds, peak RSS, and the size of each output (JSON,
HTML, terminal text); then the growth exponent of wall time over migrations (least squares on logs).
The JSON is the default compact form (preflight.compact) unless --full-results.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "preflight" / "demo" / "demo-facts.json"
# 30 x 30 is the "30 hosts, 900 VMs" (26,100 migrations); 96 x 104 its "96 hosts, 10,000 VMs"
DEFAULT_SIZES = ("10x20", "10x60", "20x20", "30x30")

# Runs preflight in a child process and reports its own peak RSS (ru_maxrss, KiB on Linux).
_CHILD = r"""
import json, resource, sys
from preflight.cli import main
sys.argv = ["preflight"] + sys.argv[1:]
code = 0
try:
    main()
except SystemExit as e:
    code = e.code if isinstance(e.code, int) else 1
use = resource.getrusage(resource.RUSAGE_SELF)
sys.stderr.write("\nPFBENCH " + json.dumps({"rc": code, "rss_kib": use.ru_maxrss,
                                            "cpu_s": use.ru_utime + use.ru_stime}) + "\n")
"""


def _swap(obj, mapping: dict):
    """Replace whole-word host names (and exact strings) throughout a JSON-able object."""
    text = json.dumps(obj)
    for old, new in mapping.items():
        text = re.sub(r"(?<![\w.-])" + re.escape(old) + r"(?![\w-])", new, text)
    return json.loads(text)


def synthesize(demo: dict, hosts: int, vms_per_host: int) -> dict:
    templates = sorted(demo["hosts"])                                  # hv1, hv2, hv3
    names = [f"node{i:04d}" for i in range(1, hosts + 1)]
    origin = {n: templates[i % len(templates)] for i, n in enumerate(names)}
    address = {n: f"10.{100 + i // 65000}.{(i // 250) % 250}.{i % 250 + 2}" for i, n in enumerate(names)}
    guest_names: dict = {}
    uuids: dict = {}        # template domain UUID -> its clones' UUIDs (QEMU's iSCSI initiator names)
    record = {k: copy.deepcopy(v) for k, v in demo.items() if k not in ("hosts", "pairs")}
    record["cluster"] = f"synthetic-{hosts}x{vms_per_host}"
    record["hosts"] = {}
    for n in names:
        t = origin[n]
        tmpl = demo["hosts"][t]
        entry = _swap({k: v for k, v in tmpl.items() if k != "libvirt"},
                      {t: n, tmpl["address"]: address[n]})
        lv = copy.deepcopy(tmpl["libvirt"])
        lv["hostname"] = n
        host_uuid = str(uuid.uuid4())
        if lv.get("capabilities"):
            lv["capabilities"] = re.sub(r"(<host>\s*<uuid>)[^<]+", r"\g<1>" + host_uuid, lv["capabilities"], count=1)
        entry["shell"]["machine_id"]["out"] = uuid.uuid4().hex + "\n"
        entry["shell"]["hostname"]["out"] = n + "\n"
        doms = [d for d in lv.get("domains", []) if d.get("active")]
        clones = []
        for k in range(vms_per_host):
            g = copy.deepcopy(doms[k % len(doms)])
            new_name = f"{g['name']}-{n}-{k:03d}"
            new_uuid = str(uuid.uuid4())
            for key, value in list(g.items()):
                if isinstance(value, str) and value.lstrip().startswith("<domain"):
                    value = re.sub(r"<name>[^<]*</name>", f"<name>{new_name}</name>", value, count=1)
                    g[key] = re.sub(r"<uuid>[^<]*</uuid>", f"<uuid>{new_uuid}</uuid>", value, count=1)
            guest_names[(n, new_name)] = doms[k % len(doms)]["name"]
            uuids.setdefault(g["uuid"], []).append(new_uuid)
            g["name"], g["uuid"] = new_name, new_uuid
            clones.append(g)
        lv["domains"] = clones
        entry["libvirt"] = lv
        record["hosts"][n] = entry
    # every host lists every iSCSI guest's LUNs for that guest's initiator (iqn...:<domain uuid>)
    for entry in record["hosts"].values():
        rows = []
        for row in entry.get("iscsi_lists") or []:
            tail = row.get("initiator", "").rsplit(":", 1)[-1]
            rows += [dict(row, initiator=row["initiator"][:-len(tail)] + u) for u in uuids.get(tail, [])]
        if entry.get("iscsi_lists") is not None:
            entry["iscsi_lists"] = rows
    by_pair = {(p["source"], p["destination"]): p for p in demo["pairs"]}
    record["pairs"] = []
    for s in names:
        for d in names:
            if s == d:
                continue
            ts, td = origin[s], origin[d]
            if ts == td:        # two clones of one demo host: take that host towards another one
                td_other = next(t for t in templates if t != ts and (ts, t) in by_pair)
                tmpl, mapping = by_pair[(ts, td_other)], {ts: s, td_other: d}
                mapping[demo["hosts"][td_other]["address"]] = address[d]
            else:
                tmpl, mapping = by_pair[(ts, td)], {ts: s, td: d}
                mapping[demo["hosts"][td]["address"]] = address[d]
            pair = _swap({k: v for k, v in tmpl.items() if k != "cpu"}, mapping)
            pair["cpu"] = {g: copy.deepcopy(tmpl.get("cpu", {}).get(orig))
                           for (h, g), orig in guest_names.items() if h == s and orig in tmpl.get("cpu", {})}
            record["pairs"].append(pair)
    return record


def run_once(record_path: Path, out: Path, html: bool = False, full: bool = False) -> dict:
    json_out, html_out, term_out = out / "report.json", out / "report.html", out / "terminal.txt"
    for stale in (json_out, html_out):
        stale.unlink(missing_ok=True)
    argv = [sys.executable, "-c", _CHILD, "check", "--replay", str(record_path), "--json", str(json_out)]
    argv += ["--html", str(html_out)] if html else []
    argv += ["--full-results"] if full else []
    t0 = time.perf_counter()
    with open(term_out, "w") as term:
        proc = subprocess.run(argv, stdout=term, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    tail = [ln for ln in proc.stderr.splitlines() if ln.startswith("PFBENCH ")]
    if not tail:
        raise SystemExit(f"preflight did not finish: {proc.stderr[-2000:]}")
    info = json.loads(tail[-1][len("PFBENCH "):])
    if info["rc"] not in (0, 1, 3):
        raise SystemExit(f"preflight exited {info['rc']}: {proc.stderr[-2000:]}")
    size = lambda p: p.stat().st_size / 1e6 if p.exists() else float("nan")   # noqa: E731
    migrations = results = None
    if json_out.exists():
        report = json.loads(json_out.read_text())
        migrations = sum((report.get("counts") or {}).get("migrations", {}).values())
        results = sum((report.get("counts") or {}).get("results", {}).values())
    return {"wall_s": wall, "cpu_s": info.get("cpu_s", float("nan")), "rss_mib": info["rss_kib"] / 1024, "json_mb": size(json_out),
            "html_mb": size(html_out), "terminal_mb": size(term_out), "migrations": migrations,
            "results": results}


def exponent(points: list) -> float:
    """Least-squares slope of log(wall) over log(migrations)."""
    xs = [math.log(m) for m, _ in points]
    ys = [math.log(w) for _, w in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else float("nan")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sizes", nargs="*", default=DEFAULT_SIZES, help="HOSTSxVMS_PER_HOST, e.g. 30x30")
    ap.add_argument("--keep", metavar="DIR", help="keep recordings and outputs here")
    ap.add_argument("--html", action="store_true", help="also render the HTML report")
    ap.add_argument("--full-results", action="store_true", help="JSON with one object per result")
    args = ap.parse_args(argv)
    demo = json.loads(DEMO.read_text())
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="pf-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"{'hosts x VMs':>12} {'migrations':>11} {'results':>10} {'wall s':>8} {'CPU s':>8} {'RSS MiB':>8} "
          f"{'JSON MB':>8} {'HTML MB':>8} {'term MB':>8}")
    points = []
    try:
        for size in args.sizes:
            hosts, vms = (int(x) for x in size.lower().split("x"))
            here = work / f"{hosts}x{vms}"
            here.mkdir(exist_ok=True)
            rec = here / "facts.json"
            if not rec.exists():            # a kept recording of this size is replayed again
                rec.write_text(json.dumps(synthesize(demo, hosts, vms)))
            r = run_once(rec, here, html=args.html, full=args.full_results)
            mig = r["migrations"] if r["migrations"] is not None else hosts * vms * (hosts - 1)
            points.append((mig, r["wall_s"], r["cpu_s"]))
            print(f"{hosts:>5} x {vms:<5} {mig:>10,} {r['results'] or 0:>10,} {r['wall_s']:>8.1f} {r['cpu_s']:>8.1f} "
                  f"{r['rss_mib']:>8.0f} {r['json_mb']:>8.1f} {r['html_mb']:>8.1f} {r['terminal_mb']:>8.2f}",
                  flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if len(points) >= 2:
        print(f"growth exponent over migrations: wall time {exponent([(m, w) for m, w, _ in points]):.2f}, "
              f"CPU time {exponent([(m, c) for m, _, c in points]):.2f}")
    print(f"(load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs: wall time counts the wait "
          f"for a CPU, CPU time does not)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
