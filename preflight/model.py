"""Results, statuses and evidence: the one run model every renderer reads."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Optional


class Status(str, enum.Enum):
    """What a check concluded about one subject.

    ERROR means "could not decide" and is never a pass: a check that raised, a fact that
    could not be gathered, a host that could not be reached.
    """

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"
    SKIP = "skip"

    @property
    def rank(self) -> int:
        # Order used to pick the worst status of a group: FAIL dominates ERROR because a
        # known blocker is the stronger statement; ERROR dominates WARN because undecided
        # must never look better than a mere warning.
        return _RANK[self]


_RANK = {Status.SKIP: 0, Status.PASS: 1, Status.WARN: 2, Status.ERROR: 3, Status.FAIL: 4}


class Severity(str, enum.Enum):
    """How bad a FAIL of the check is for live migration."""

    CRITICAL = "critical"  # the migration will fail or corrupt data
    HIGH = "high"          # the migration will very likely fail
    MEDIUM = "medium"      # it may fail or degrade
    LOW = "low"            # hygiene; the migration itself should work


class Scope(str, enum.Enum):
    """What one invocation of a check is about."""

    HOST = "host"            # one host's facts
    DOMAIN = "domain"        # one domain on its host (no destination involved)
    MIGRATION = "migration"  # one domain on its source, judged against one destination
    PAIR = "pair"            # an ordered (source, destination) host pair


@dataclass(frozen=True)
class Evidence:
    """What a verdict rests on. `observed` and `expected` are short human strings;
    `source` says where the observation came from (host + command/file/API)."""

    observed: Any = None
    expected: Any = None
    source: Optional[str] = None
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = {"observed": self.observed, "expected": self.expected, "source": self.source}
        d.update(self.details)
        return {k: v for k, v in d.items() if v is not None}


@dataclass(frozen=True)
class Result:
    check: str
    status: Status
    message: str
    subject: str
    host: Optional[str] = None
    evidence: Evidence = field(default_factory=Evidence)
    domain: Optional[str] = None
    source: Optional[str] = None
    destination: Optional[str] = None
    disk: Optional[str] = None

    def to_dict(self) -> dict:
        d = {
            "check": self.check,
            "status": self.status.value,
            "host": self.host,
            "subject": self.subject,
            "message": self.message,
            "evidence": self.evidence.to_dict(),
        }
        for key in ("domain", "source", "destination", "disk"):
            value = getattr(self, key)
            if value is not None:
                d[key] = value
        return d


class Verdict(str, enum.Enum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Migration:
    """The verdict for moving one domain from its source to one destination."""

    domain: str
    source: str
    destination: str
    verdict: Verdict
    blockers: tuple = ()       # ids of checks that FAIL for this migration
    undecided: tuple = ()      # ids of checks that could not decide (ERROR) or did not run
    warnings: tuple = ()       # ids of checks that WARN
    reasons: tuple = ()        # one-line human reasons, blockers first

    def to_dict(self) -> dict:
        return {
            "domain": self.domain,
            "source": self.source,
            "destination": self.destination,
            "verdict": self.verdict.value,
            "blockers": list(self.blockers),
            "undecided": list(self.undecided),
            "warnings": list(self.warnings),
            "reasons": list(self.reasons),
        }


@dataclass
class HostSummary:
    name: str
    reachable: bool
    error: Optional[str] = None
    round_trips: int = 0          # SSH exec round trips while gathering this host's facts
    libvirt_calls: int = 0
    pair_round_trips: int = 0     # round trips of the pair phase that ran on this host
    address: Optional[str] = None
    hostname: Optional[str] = None
    libvirt_version: Optional[str] = None
    qemu_version: Optional[str] = None
    domains: int = 0

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "reachable": self.reachable,
            "error": self.error,
            "round_trips": self.round_trips,
            "pair_round_trips": self.pair_round_trips,
            "libvirt_calls": self.libvirt_calls,
            "address": self.address,
            "hostname": self.hostname,
            "libvirt_version": self.libvirt_version,
            "qemu_version": self.qemu_version,
            "domains": self.domains,
        }


@dataclass
class RunReport:
    """Everything one `preflight check` produced. JSON is its canonical form."""

    cluster: str
    started: str
    finished: str
    tool_version: str
    hosts: list  # list[HostSummary]
    results: list  # list[Result]
    migrations: list  # list[Migration]
    checks: list  # list[dict]: metadata of the checks that were selected to run
    selection: dict = field(default_factory=dict)  # {"only": [...], "skip": [...]}
    source: str = "live"  # "live" or "replay:<file>"
    # per running domain: its disks, their storage identity on source and destinations, and the
    # storage verdict per destination (plain JSON-ready dicts, see preflight.engine.disks)
    domains: list = field(default_factory=list)

    def counts(self) -> dict:
        out = {s.value: 0 for s in Status}
        for r in self.results:
            out[r.status.value] += 1
        return out

    def exit_code(self) -> int:
        """0 all decided and nothing failed; 1 a FAIL; 3 no FAIL but something undecided."""
        statuses = {r.status for r in self.results}
        if Status.FAIL in statuses:
            return 1
        if Status.ERROR in statuses or any(not h.reachable for h in self.hosts):
            return 3
        if any(m.verdict is Verdict.UNKNOWN for m in self.migrations):
            return 3
        return 0

    def to_dict(self) -> dict:
        from preflight import __version__

        return {
            "schema_version": "1",
            "tool": {"name": "preflight", "version": self.tool_version or __version__},
            "run": {
                "cluster": self.cluster,
                "started": self.started,
                "finished": self.finished,
                "source": self.source,
                "selection": self.selection,
                "counts": self.counts(),
                "exit_code": self.exit_code(),
            },
            "hosts": [h.to_dict() for h in self.hosts],
            "checks": self.checks,
            "results": [r.to_dict() for r in self.results],
            "migrations": [m.to_dict() for m in self.migrations],
            "domains": [dict(d) for d in self.domains],
        }
