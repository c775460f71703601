"""The onboarding view (issue 10 item 8): is a new hypervisor fit to join the cluster?

Pure over a run's results: the run judged the cluster with the new host among its hosts, so every
guest of the cluster was judged onto the new host and the new host's guests onto every other host.
The decision is read from the migrations that involve the new host, in both directions, and from
the host-scope results about the new host itself. Fail closed: a direction nothing was judged in,
or a migration that is unknown, makes the decision undecided, never "fit".
"""

from __future__ import annotations

from collections import Counter

from preflight.model import RunReport, Status, Verdict

FIT, NOT_FIT, UNDECIDED = "fit", "not fit", "undecided"


def _direction(migrations: list) -> dict:
    counts = Counter(m.verdict.value for m in migrations)
    blocking = Counter(c for m in migrations if m.verdict is Verdict.FAIL for c in m.blockers)
    unsure = Counter(c for m in migrations if m.verdict is Verdict.UNKNOWN for c in m.undecided)
    return {
        "migrations": len(migrations),
        "verdicts": {v.value: counts.get(v.value, 0) for v in Verdict},
        "blocking_checks": dict(sorted(blocking.items())),
        "undecided_checks": dict(sorted(unsure.items())),
        "guests_blocked": sorted({f"{m.domain}: {m.source} -> {m.destination}"
                                  for m in migrations if m.verdict is Verdict.FAIL}),
    }


def onboarding_view(report: RunReport, new_host: str) -> dict:
    """The decision for `new_host`: JSON-ready, for every report format."""
    names = [h.name for h in report.hosts]
    if new_host not in names:
        return {"new_host": new_host, "decision": UNDECIDED,
                "why": [f"{new_host} is not among the hosts judged ({', '.join(names)})"]}
    others = [n for n in names if n != new_host]
    onto = [m for m in report.migrations if m.destination == new_host]
    off = [m for m in report.migrations if m.source == new_host]
    host_bad = sorted({r.check for r in report.results
                       if r.scope == "host" and r.host == new_host and r.status is Status.FAIL})
    host_err = sorted({r.check for r in report.results
                       if r.scope == "host" and r.host == new_host and r.status is Status.ERROR})
    summary = next(h for h in report.hosts if h.name == new_host)
    why = []
    into, out_of = _direction(onto), _direction(off)
    if not summary.reachable:
        why.append(f"{new_host} could not be reached: {summary.error}")
    if into["blocking_checks"] or out_of["blocking_checks"] or host_bad:
        decision = NOT_FIT
    elif why or into["verdicts"]["unknown"] or out_of["verdicts"]["unknown"] or host_err:
        decision = UNDECIDED
    else:
        decision = FIT
    if not others:
        decision, why = UNDECIDED, why + ["the cluster has no other host to judge it against"]
    elif not onto:
        # no guest of the cluster runs elsewhere: the new host was not judged as a destination
        if decision == FIT:
            decision = UNDECIDED
        why.append(f"no running guest of the cluster was judged onto {new_host}")
    for label, d in (("onto " + new_host, into), ("off " + new_host, out_of)):
        for check_id, n in d["blocking_checks"].items():
            why.append(f"{check_id} fails {n} migration(s) {label}")
        for check_id, n in d["undecided_checks"].items():
            why.append(f"{check_id} could not decide {n} migration(s) {label}")
    why += [f"{c} fails on {new_host} itself" for c in host_bad]
    why += [f"{c} could not decide on {new_host} itself" for c in host_err]
    cpu_blocked = sorted({m.domain for m in onto
                          if any(c.startswith("cpu.") for c in m.blockers)})
    return {
        "new_host": new_host,
        "decision": decision,
        "others": others,
        "onto_new_host": into,
        "off_new_host": out_of,
        "host_checks_failing": host_bad,
        "host_checks_undecided": host_err,
        # the guests that could no longer move everywhere once the new host joins: their CPU
        # does not run on it (cpu.* checks block their migration onto it)
        "guests_cpu_blocked_onto_new_host": cpu_blocked,
        "why": why,
    }


def onboarding_lines(view: dict) -> list:
    """Plain lines for the terminal."""
    lines = [f"Onboarding {view['new_host']}: {view['decision'].upper()}"]
    for key, label in (("onto_new_host", "guests of the cluster onto it"),
                       ("off_new_host", "its guests onto the other hosts")):
        d = view.get(key)
        if d:
            v = d["verdicts"]
            lines.append(f"  {label}: {d['migrations']} migration(s): " +
                         ", ".join(f"{n} {k}" for k, n in v.items() if n))
    if view.get("guests_cpu_blocked_onto_new_host"):
        lines.append("  CPU: could no longer move onto it: " + ", ".join(view["guests_cpu_blocked_onto_new_host"]))
    lines += [f"  - {w}" for w in view.get("why", [])]
    return lines
