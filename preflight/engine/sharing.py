"""Judge a guest once for all the destinations that look the same to a check.

A migration-scope check is a pure function of its context. For one guest on its source, only the
destination (and the pair's facts) change from one migration to the next, and in a real cluster
most destinations are alike in every fact a given check reads: same mounts, same CPU, same
networks. So the first judgement of a guest runs the check with *traced stand-ins* for the
destination and the pair, which record each fact the check reads (attribute name and value); the
next destination whose facts are equal (==) in every one of those reads gets the same findings
without running the check again. Equal reads in the same order mean the same path through a pure
function, hence the same findings: verdicts cannot change, and the runner still builds each result
with the real destination's names.

What makes a judgement not reusable (it is still returned, only not kept): reading anything that is
not a plain dataclass field (a method, a property, a dunder, equality or hashing of the host
itself), or a read that raised. A check that reads the destination's name (to compare it or to say
it) is kept but never matches another destination: names are unique.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

MAX_TRACES = 8          # judgements kept per guest; beyond that a guest's destinations are all unlike


class Traced:
    """A read-only stand-in for one facts object that records the fields read through it."""

    __slots__ = ("_obj", "_tag", "_log")

    def __init__(self, obj, tag: str, log: "Trace"):
        object.__setattr__(self, "_obj", obj)
        object.__setattr__(self, "_tag", tag)
        object.__setattr__(self, "_log", log)

    def __getattr__(self, name: str):
        obj, log = object.__getattribute__(self, "_obj"), object.__getattribute__(self, "_log")
        fields = getattr(type(obj), "__dataclass_fields__", None) or {}
        if name not in fields:
            log.opaque = True            # a method or property may read anything
            return getattr(obj, name)
        try:
            value = getattr(obj, name)
        except AttributeError:
            log.opaque = True
            raise
        log.reads.append((object.__getattribute__(self, "_tag"), name, value))
        return value

    def __setattr__(self, name, value):
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    @property
    def __class__(self):                 # isinstance(ctx.destination, HostFacts) stays true
        return type(object.__getattribute__(self, "_obj"))

    def _whole(self):
        object.__getattribute__(self, "_log").opaque = True
        return object.__getattribute__(self, "_obj")

    def __eq__(self, other):
        return self._whole() == (other._whole() if isinstance(other, Traced) else other)

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash(self._whole())

    def __repr__(self):
        return repr(self._whole())


@dataclasses.dataclass
class Trace:
    reads: list = dataclasses.field(default_factory=list)   # (tag, field, value) in the order read
    opaque: bool = False
    pair_none: bool = False
    outcome: Any = None


class Shared:
    """The judgements of one check for one guest, reused across its destinations. `equal` is a cache
    of equality answers shared by all guests of one check (the same fact objects are compared again
    and again: host A's mounts against host B's)."""

    def __init__(self, equal: Optional[dict] = None):
        self.traces: list = []
        self.equal = equal if equal is not None else {}
        self.judged = 0
        self.reused = 0

    def _same(self, a, b) -> bool:
        if a is b:
            return True
        key = (id(a), id(b))
        hit = self.equal.get(key)
        if hit is None:
            try:
                hit = bool(a == b) and type(a) is type(b)
            except Exception:  # noqa: BLE001 - what cannot be compared is not the same
                hit = False
            self.equal[key] = (hit, a, b)        # a and b kept alive: their ids stay theirs
            return hit
        return hit[0]

    def _matches(self, trace: Trace, dst, pair) -> bool:
        if trace.pair_none != (pair is None):
            return False
        objs = {"destination": dst, "pair": pair}
        for tag, name, value in trace.reads:
            try:
                now = getattr(objs[tag], name)
            except AttributeError:
                return False
            if not self._same(now, value):
                return False
        return True

    def judge(self, func: Callable, ctx, run: Callable):
        """The outcome of `run(func, ctx)`, reused from an earlier destination that read the same."""
        for trace in self.traces:
            if self._matches(trace, ctx.destination, ctx.pair):
                self.reused += 1
                return trace.outcome
        trace = Trace(pair_none=ctx.pair is None)
        stand_in = dataclasses.replace(
            ctx, destination=Traced(ctx.destination, "destination", trace),
            pair=None if ctx.pair is None else Traced(ctx.pair, "pair", trace))
        outcome = run(func, stand_in)
        self.judged += 1
        trace.outcome = outcome
        if not trace.opaque and not _holds_stand_in(outcome) and len(self.traces) < MAX_TRACES:
            self.traces.append(trace)
        return outcome


def _holds_stand_in(outcome) -> bool:
    """A finding that carries the stand-in itself (not a value read through it) is not reused."""
    findings = outcome if isinstance(outcome, list) else [outcome]
    for f in findings:
        for value in (getattr(f, "observed", None), getattr(f, "expected", None),
                      *(getattr(f, "details", None) or {}).values()):
            if isinstance(value, Traced):
                return True
    return False
