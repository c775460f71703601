"""The drain plan in the terminal, read from its JSON form (preflight.plan.drain.DrainPlan.to_dict), so
the terminal says exactly what the JSON says. Host-supplied text is shown on one line, escapes visible."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from preflight.textsafe import one_line


def _mib(kib) -> str:
    return "?" if kib is None else f"{kib / 1024:.0f} MiB"


def _line(console: Console, text: str, style: str = "", indent: int = 0) -> None:
    console.print(Text(" " * indent + one_line(str(text)), style=style), soft_wrap=True)


def render(doc: dict, console: Console) -> None:
    _line(console, f"DRAIN PLAN for {doc['host']} (cluster {doc['cluster']}, {doc['source']})", "bold")
    if doc.get("undecided"):
        _line(console, f"cannot plan: the guests of {doc['host']} are not known: {doc['undecided']}", "bold red")
        return
    pol = doc["policy"]
    _line(console, f"policy: destinations where every check passes"
          f"{' or warns' if pol['accept_warnings'] else ''}; memory = MemAvailable less planned guests "
          f"(+{_mib(pol['qemu_overhead_kib'])} QEMU each); vCPUs <= {pol['vcpu_ratio']:g} x CPUs")
    moves, refused = doc["moves"], doc["refused"]
    if moves:
        _line(console, "")
        _line(console, f"MOVES ({len(moves)}), in this order:", "bold")
        for m in moves:
            _line(console, f"{m['order']}. {m['domain']} ({_mib(m['memory_kib'])}, {m['vcpus']} vCPU) -> "
                  f"{m['destination']}   [allowed: {', '.join(m['candidates'])}]", "green")
            _line(console, f"time: {m['estimate'] if m['estimate_s'] is None else str(round(m['estimate_s'])) + ' s'}",
                  indent=3)
            for note in m["notes"]:
                _line(console, f"note: {note}", indent=3)
            if m["warnings"]:
                _line(console, f"warnings accepted: {', '.join(m['warnings'])}", "yellow", indent=3)
            _line(console, m["command"], "cyan", indent=3)
    if refused:
        _line(console, "")
        _line(console, f"CANNOT MOVE ({len(refused)}): no destination passes", "bold red")
        for r in refused:
            _line(console, f"{r['domain']} ({_mib(r['memory_kib'])}, {r['vcpus']} vCPU): blocked by "
                  f"{', '.join(r['blocking_checks']) or 'capacity'}", "red")
            for d in r["destinations"]:
                ids = d["blockers"] + d["undecided"]
                _line(console, f"-> {d['destination']}: {d['verdict']}"
                      f"{' (' + ', '.join(ids) + ')' if ids else ''}: {d['reason']}", indent=3)
    if doc["not_running"]:
        _line(console, "")
        _line(console, f"not running (not moved; their definitions stay on {doc['host']}): "
              f"{', '.join(doc['not_running'])}")
    _line(console, "")
    _line(console, "DESTINATIONS after the plan:", "bold")
    for c in doc["capacity"]:
        mem = (f"memory {_mib(c['memory_available_kib'])} available, {_mib(c['memory_left_kib'])} left"
               if c["memory_unknown"] is None else f"memory unknown ({c['memory_unknown']})")
        cpu = (f"vCPUs {c['vcpus_running'] + c['vcpus_planned']}/{c['vcpu_limit']:g} allowed on {c['cpus']} CPUs"
               if c["cpus_unknown"] is None else f"CPUs unknown ({c['cpus_unknown']})")
        placed = ", ".join(c["placed"]) or "nothing"
        _line(console, f"{c['host']}: gets {placed}; {mem}; {cpu}", indent=2)
    for note in doc["notes"]:
        _line(console, f"note: {note}")
    _line(console, "")
    verdict = ("every running VM has a destination" if doc["complete"] else
               f"{len(refused)} VM(s) can go nowhere: {doc['host']} cannot be emptied")
    _line(console, f"{len(moves)} move(s), total time {doc['total']}; {verdict}", "bold")
