"""Wall time and round trips per host of one collect() over a cluster.

    python benchmarks/gather_bench.py --ssh-config /tmp/preflight-lab/ssh_config \
        --known-hosts /tmp/preflight-lab/known_hosts hv1 hv2 hv3
    python benchmarks/gather_bench.py --ssh-config /tmp/preflight-lab/ssh_config   # every Host alias
    python benchmarks/gather_bench.py --inventory /tmp/preflight-lab/inventory.toml --cluster lab

Prints one line per host (connect, gather, exec round trips, libvirt calls, pair-phase round
trips and libvirt calls, domains, errors) and the phase timings. --record FILE writes the raw
record (secrets scrubbed) for replay.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from types import SimpleNamespace

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from preflight.facts.collect import CollectOptions, collect  # noqa: E402


def _aliases(ssh_config: str) -> list:
    names = []
    with open(os.path.expanduser(ssh_config)) as fh:
        for line in fh:
            parts = line.split()
            if len(parts) >= 2 and parts[0].lower() == "host":
                names += [p for p in parts[1:] if not any(c in p for c in "*?!")]
    return names


def _inventory(args):
    if args.inventory:
        from dataclasses import replace

        from preflight.inventory import load
        cluster = load(args.cluster, args.inventory)
        # the same per-host defaults as `preflight check` (pipeline.gather)
        return replace(cluster, hosts=tuple(replace(h, user=h.user or cluster.user,
                                                    port=h.port or cluster.port) for h in cluster.hosts))
    names = args.hosts or (_aliases(args.ssh_config) if args.ssh_config else [])
    if not names:
        sys.exit("give host names, --ssh-config with Host aliases, or --inventory")
    hosts = [SimpleNamespace(name=n, address=None, port=None, user=args.user) for n in names]
    return SimpleNamespace(name=args.cluster, hosts=hosts, storage_hosts=[])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("hosts", nargs="*")
    ap.add_argument("--inventory")
    ap.add_argument("--ssh-config")
    ap.add_argument("--known-hosts")
    ap.add_argument("--user")
    ap.add_argument("--cluster", default="bench")
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--no-pairs", action="store_true")
    ap.add_argument("--trust-new-host-keys", action="store_true")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--record", help="write the raw record (JSON) here")
    args = ap.parse_args(argv)

    inv = _inventory(args)
    ssh_config = args.ssh_config or (str(inv.ssh_config) if getattr(inv, "ssh_config", None) else None)
    known_hosts = args.known_hosts or (str(inv.known_hosts) if getattr(inv, "known_hosts", None) else None)
    opts = CollectOptions(ssh_config=ssh_config, known_hosts=known_hosts, workers=args.workers,
                          pairs=not args.no_pairs, trust_new_host_keys=args.trust_new_host_keys)
    for run in range(args.repeat):
        marks = {}

        def progress(host, stage, info=None, marks=marks):
            if host == "*":
                marks.setdefault(stage, time.monotonic())

        t0 = time.monotonic()
        record = collect(inv, opts, progress=progress)
        wall = time.monotonic() - t0
        hosts = record["hosts"]
        print(f"run {run + 1}/{args.repeat}: {len(hosts)} hosts, {len(record['pairs'])} pairs, wall {wall:.2f} s"
              + (f" (hosts {marks['pairs'] - t0:.2f} s, pairs {marks.get('done', t0 + wall) - marks['pairs']:.2f} s)"
                 if "pairs" in marks else ""))
        print(f"{'host':<16}{'ok':>4}{'connect_s':>10}{'gather_s':>10}{'rt':>4}{'lv':>5}{'pair_rt':>8}"
              f"{'pair_lv':>8}{'doms':>6}{'errs':>6}")
        for name, e in hosts.items():
            t = e.get("timing", {})
            doms = len(e.get("libvirt", {}).get("domains", []) or [])
            print(f"{name:<16}{'y' if e['reachable'] else 'n':>4}{t.get('connect_s', 0):>10.3f}"
                  f"{t.get('gather_s', 0):>10.3f}{e.get('round_trips', 0):>4}{e.get('libvirt_calls', 0):>5}"
                  f"{e.get('pair_round_trips', 0):>8}{e.get('pair_libvirt_calls', 0):>8}{doms:>6}"
                  f"{len(e.get('errors', {})):>6}")
            if not e["reachable"]:
                print(f"    unreachable: {e['error']}")
            for key, why in e.get("errors", {}).items():
                print(f"    error {key}: {why[:160]}")
        for p in record["pairs"]:
            if p["errors"]:
                print(f"    pair {p['source']}->{p['destination']} errors: {p['errors']}")
    if args.record:
        with open(args.record, "w") as fh:
            json.dump(record, fh, indent=1, sort_keys=False)
        print(f"raw record written to {args.record}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
