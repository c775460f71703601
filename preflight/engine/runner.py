"""Apply the selected checks to cluster facts: pure, no connections.

Scopes are iterated like this (only reachable hosts, only running domains, since live
migration is about running guests):
  HOST       every host (unreachable ones only for checks that require no facts)
  DOMAIN     every running domain on its host
  PAIR       every ordered pair of distinct reachable hypervisors
  MIGRATION  every running domain x every other reachable hypervisor
A check that raises, returns nothing, or needs a fact that is missing yields ERROR.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Iterable

from preflight.engine.context import DomainContext, HostContext, MigrationContext, PairContext
from preflight.engine.registry import CheckSpec, Finding, Registry
from preflight.engine.sharing import Shared
from preflight.facts.keys import PAIR_FACT_KEYS
from preflight.facts.models import ClusterFacts, HostFacts
from preflight.model import Evidence, Result, Scope, Status


@dataclass(frozen=True)
class Selection:
    """What --only / --skip chose. Items are check ids or categories."""

    only: tuple = ()
    skip: tuple = ()

    def picks(self, spec: CheckSpec) -> bool:
        def hit(items):
            return spec.id in items or spec.category in items

        if self.only and not hit(self.only):
            return False
        return not hit(self.skip)

    def unknown_items(self, registry: Registry) -> list:
        known = {s.id for s in registry.all()} | {s.category for s in registry.all()}
        return [i for i in (*self.only, *self.skip) if i not in known]

    def contradiction(self, registry: Registry):
        """Why --only and --skip contradict each other, or None.

        `--only cpu --skip cpu`, `--only storage.shared --skip storage`: an --only item every check of
        which is skipped asks for a check and forbids it at once. Narrowing is fine: `--only storage
        --skip storage.cache_mode` (the other storage checks). So is nothing in common. And a selection
        that leaves no check at all to run is refused: it could only produce 'unknown' everywhere.
        """
        specs = registry.all()
        for item in self.only:
            named = [s for s in specs if item in (s.id, s.category)]
            skipped_by = [k for k in self.skip if any(k in (s.id, s.category) for s in named)]
            if named and all(_first_hit(s, self.skip) is not None for s in named):
                return (f"--only {item} and --skip {','.join(skipped_by)} contradict each other: every check "
                        f"{item!r} selects is skipped; drop one of them")
        if not any(self.picks(s) for s in specs):
            return "--only/--skip leave no check to run"
        return None


def _first_hit(spec: CheckSpec, items: tuple):
    return next((i for i in items if i in (spec.id, spec.category)), None)


def select(registry: Registry, selection: Selection) -> tuple:
    """(selected specs, left-out specs)."""
    chosen, left_out = [], []
    for spec in registry.all():
        (chosen if selection.picks(spec) else left_out).append(spec)
    return chosen, left_out


def running_domains(host: HostFacts) -> list:
    return [d for d in host.domains if d.active]


def run_checks(facts: ClusterFacts, specs: Iterable[CheckSpec], share: bool = True) -> list:
    """Every result of every spec, in a fixed order. With `share` (the default) a built-in
    migration-scope check is judged once per guest for all destinations whose facts it reads are
    equal (preflight.engine.sharing); the results are the same as without."""
    results = []
    for spec in specs:
        results.extend(_run_spec(facts, spec, share))
    return results


def _run_spec(facts: ClusterFacts, spec: CheckSpec, share: bool = True) -> list:
    hosts = facts.hypervisors
    reachable = [h for h in hosts if h.reachable]
    out = []
    if spec.scope is Scope.HOST:
        for host in hosts:
            if host.reachable or not spec.requires:
                out += _invoke(spec, HostContext(facts, host), [host], host=host.name)
    elif spec.scope is Scope.DOMAIN:
        for host in reachable:
            for dom in running_domains(host):
                out += _invoke(spec, DomainContext(facts, host, dom), [host],
                               host=host.name, domain=dom.name)
    elif spec.scope is Scope.PAIR:
        for src in reachable:
            for dst in reachable:
                if src.name != dst.name:
                    pair = facts.pairs.get((src.name, dst.name))
                    out += _invoke(spec, PairContext(facts, src, dst, pair), [src, dst], pair=pair,
                                   pair_scope=True, host=src.name, source=src.name, destination=dst.name)
    elif spec.scope is Scope.MIGRATION:
        shared = share and spec.origin == "built-in"     # a plugin's check is always judged per migration
        equal: dict = {}                                 # equality answers about facts, for all guests
        judged = reused = 0
        for src in reachable:
            for dom in running_domains(src):
                # per guest: its destinations' judgements. A check that never found two destinations
                # alike in its first guests (it reads the destination's name) stops paying for tracing.
                if shared and judged >= 2 * len(reachable) and not reused:
                    shared = False
                memo = Shared(equal) if shared else None
                for dst in reachable:
                    if src.name != dst.name:
                        pair = facts.pairs.get((src.name, dst.name))
                        out += _invoke(spec, MigrationContext(facts, src, dst, dom, pair), [src, dst],
                                       pair=pair, pair_scope=True, memo=memo, host=src.name,
                                       domain=dom.name, source=src.name, destination=dst.name)
                if memo is not None:
                    judged, reused = judged + memo.judged, reused + memo.reused
    return out


def _missing_facts(spec: CheckSpec, hosts: list, pair, pair_scope: bool) -> list:
    """Human reasons why a required fact is absent on a host (or pair) this check reads."""
    reasons = []
    for key in spec.requires:
        for host in hosts:
            if key in host.fact_errors:
                reasons.append(f"fact '{key}' missing on {host.name}: {host.fact_errors[key]}")
        if key in PAIR_FACT_KEYS and pair_scope:
            if pair is None:
                # the pair phase recorded nothing for this pair: every pair fact is missing
                reasons.append(f"fact '{key}' missing for {hosts[0].name} -> {hosts[-1].name}: "
                               f"no pair facts were recorded for this pair")
            elif key in pair.fact_errors:
                reasons.append(f"fact '{key}' missing for {pair.source} -> {pair.destination}: "
                               f"{pair.fact_errors[key]}")
    return reasons


def _invoke(spec: CheckSpec, ctx, hosts: list, pair=None, pair_scope: bool = False, memo=None,
            **where) -> list:
    missing = _missing_facts(spec, hosts, pair, pair_scope)
    if missing:
        return [_result(spec, ctx, Finding(Status.ERROR, "could not decide: " + "; ".join(missing),
                                           expected="the facts this check reads",
                                           observed="; ".join(missing)), where)]
    outcome = memo.judge(spec.func, ctx, _judge) if memo is not None else _judge(spec.func, ctx)
    if isinstance(outcome, Finding):           # the check raised: its ERROR
        return [_result(spec, ctx, outcome, where)]
    return _results_of(spec, ctx, outcome, where)


def _judge(func, ctx):
    """The check's findings (a list, or what it returned that is not one), or an ERROR Finding
    when it raised."""
    try:
        produced = func(ctx)
        return [produced] if isinstance(produced, Finding) else list(produced or ())
    except Exception as exc:  # noqa: BLE001 - a broken check must become ERROR, not vanish
        tb = traceback.extract_tb(exc.__traceback__)[-1]
        return Finding(
            Status.ERROR, f"could not decide: the check raised {type(exc).__name__}: {exc}",
            details={"raised_at": f"{tb.filename.rsplit('/', 1)[-1]}:{tb.lineno}"})


def _results_of(spec: CheckSpec, ctx, findings: list, where: dict) -> list:
    if not findings:
        return [_result(spec, ctx, Finding(
            Status.ERROR, "could not decide: the check returned no result for this subject"), where)]
    bad = [f for f in findings if not isinstance(f, Finding)]
    if bad:
        return [_result(spec, ctx, Finding(
            Status.ERROR, f"could not decide: the check returned {type(bad[0]).__name__}, not a Finding"),
            where)]
    if any(f.status is Status.WAIVED for f in findings):   # only a waiver with an approver waives
        return [_result(spec, ctx, Finding(
            Status.ERROR, "could not decide: the check returned WAIVED, which only a waiver may set"), where)]
    return [_result(spec, ctx, f, where) for f in findings]


def _result(spec: CheckSpec, ctx, finding: Finding, where: dict) -> Result:
    details = dict(finding.details)
    if finding.status in (Status.FAIL, Status.WARN, Status.ERROR):
        details.setdefault("remediation", spec.remediation)
    return Result(
        check=spec.id,
        status=finding.status,
        message=finding.message,
        subject=finding.subject or ctx.subject,
        evidence=Evidence(observed=finding.observed, expected=finding.expected,
                          source=finding.source, details=details),
        disk=finding.disk,
        item=finding.item,
        **where,
    )
