"""The migration matrix: one verdict per (running domain, source, destination).

Verdict rules (fail closed):
  fail     some check bearing on this migration FAILed (its id is a blocker)
  unknown  otherwise, if some check bearing on it said ERROR, produced no result for it,
           was left out by --only/--skip, or the destination could not be reached
  warn     otherwise, if some check WARNed
  pass     every check bearing on it ran and passed (or was not applicable)
A host-scope check declared with roles=() is advisory and bears on no migration.
"""

from __future__ import annotations

from collections import defaultdict

from preflight.engine.runner import running_domains
from preflight.facts.models import ClusterFacts
from preflight.model import Migration, Scope, Status, Verdict


def _index(results: list, specs_by_id: dict) -> dict:
    """Bucket results by the key a migration looks them up with."""
    idx = defaultdict(list)
    for r in results:
        spec = specs_by_id.get(r.check)
        if spec is None:
            continue
        scope = spec.scope
        if scope is Scope.MIGRATION:
            idx[("m", r.domain, r.source, r.destination)].append(r)
        elif scope is Scope.DOMAIN:
            idx[("d", r.domain, r.host)].append(r)
        elif scope is Scope.PAIR:
            idx[("p", r.source, r.destination)].append(r)
        else:
            idx[("h", r.host)].append(r)
    return idx


def _bearing(spec, idx, dom: str, src: str, dst: str) -> list:
    """Results of one check that bear on migrating dom from src to dst."""
    if spec.scope is Scope.MIGRATION:
        rs = idx.get(("m", dom, src, dst), [])
    elif spec.scope is Scope.DOMAIN:
        rs = idx.get(("d", dom, src), [])
    elif spec.scope is Scope.PAIR:
        rs = idx.get(("p", src, dst), [])
    else:
        rs = []
        if "source" in spec.roles:
            rs += idx.get(("h", src), [])
        if "destination" in spec.roles:
            rs += idx.get(("h", dst), [])
    return [r for r in rs if r.check == spec.id]


def build_matrix(facts: ClusterFacts, selected: list, left_out: list, results: list) -> list:
    specs_by_id = {s.id: s for s in selected}
    idx = _index(results, specs_by_id)
    hypervisors = facts.hypervisors
    migrations = []
    for src in hypervisors:
        if not src.reachable:
            continue
        for dom in running_domains(src):
            for dst in hypervisors:
                if dst.name == src.name:
                    continue
                migrations.append(_verdict(dom.name, src, dst, selected, left_out, idx))
    return migrations


def _verdict(dom: str, src, dst, selected: list, left_out: list, idx) -> Migration:
    blockers, undecided, warnings, reasons, unknown_reasons = [], [], [], [], []
    if not dst.reachable:
        return Migration(dom, src.name, dst.name, Verdict.UNKNOWN, undecided=("host.reachable",),
                         reasons=(f"destination {dst.name} could not be checked: {dst.error}",))
    for spec in selected:
        if spec.scope is Scope.HOST and not spec.roles:
            continue                      # advisory host hygiene (e.g. the clock): no verdict waits on it
        rs = _bearing(spec, idx, dom, src.name, dst.name)
        statuses = {r.status for r in rs}
        if Status.FAIL in statuses:
            blockers.append(spec.id)
            first = next(r for r in rs if r.status is Status.FAIL)
            reasons.append(f"{spec.id}: {first.message}")
        elif not rs:
            undecided.append(spec.id)
            unknown_reasons.append(f"{spec.id}: produced no result for this migration")
        elif Status.ERROR in statuses:
            undecided.append(spec.id)
            first = next(r for r in rs if r.status is Status.ERROR)
            unknown_reasons.append(f"{spec.id}: {first.message}")
        elif Status.WARN in statuses:
            warnings.append(spec.id)
            first = next(r for r in rs if r.status is Status.WARN)
            reasons.append(f"{spec.id} (warning): {first.message}")
    for spec in left_out:
        undecided.append(spec.id)
        unknown_reasons.append(f"{spec.id}: not run (left out by --only/--skip)")
    if blockers:
        verdict = Verdict.FAIL
    elif undecided:
        verdict = Verdict.UNKNOWN
    elif warnings:
        verdict = Verdict.WARN
    else:
        verdict = Verdict.PASS
    return Migration(dom, src.name, dst.name, verdict, blockers=tuple(blockers),
                     undecided=tuple(undecided), warnings=tuple(warnings),
                     reasons=tuple(reasons + unknown_reasons))


def mark_waived(migrations: list, results: list, selected: list) -> list:
    """The migrations with `waived` set: the blockers whose every FAIL bearing on that migration a
    waiver turned WAIVED (preflight.engine.waivers). The verdict stays FAIL: the migration would still
    fail; the waiver only says the risk is known and accepted."""
    from dataclasses import replace

    specs_by_id = {s.id: s for s in selected}
    idx = _index(results, specs_by_id)
    out = []
    for m in migrations:
        waived = []
        for cid in m.blockers:
            spec = specs_by_id.get(cid)
            statuses = {r.status for r in _bearing(spec, idx, m.domain, m.source, m.destination)} if spec else set()
            if Status.WAIVED in statuses and Status.FAIL not in statuses:
                waived.append(cid)
        out.append(replace(m, waived=tuple(waived)) if waived else m)
    return out
