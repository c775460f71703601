"""Results, statuses and evidence: the one run model every renderer reads."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional


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
    # a FAIL or WARN that a waiver with an approver and an end date accepts (preflight.engine.waivers):
    # never produced by a check, no longer blocking the exit code, never a pass (the migration it
    # bears on stays FAIL, with the blocker listed as waived)
    WAIVED = "waived"

    @property
    def rank(self) -> int:
        return STATUS_ORDER.index(self.value)


# The one worst-of order of statuses and of verdicts, best first. FAIL dominates ERROR because a
# known blocker is the stronger statement; ERROR dominates WARN because undecided must never look
# better than a mere warning. "skip" among verdicts is the disk inventory's "nothing to share" (a
# migration is never skip). A value outside the order ranks as undecided: unknown is never better.
# WAIVED (a FAIL or WARN a waiver accepts) ranks above PASS: it is never a pass, only no longer a blocker.
STATUS_ORDER = ("skip", "pass", "waived", "warn", "error", "fail")
VERDICT_ORDER = ("skip", "pass", "warn", "unknown", "fail")


def worst_status(statuses: Iterable) -> Optional[str]:
    """The worst of `statuses` (Status members or their values) as given; None if there is none."""
    statuses = list(statuses)
    return max(statuses, key=status_rank) if statuses else None


def worst_verdict(verdicts: Iterable) -> Optional[str]:
    """The worst of `verdicts` (Verdict members or values, or a disk's "skip"), empty ones left out."""
    verdicts = [v for v in verdicts if v]
    return max(verdicts, key=lambda v: _rank(VERDICT_ORDER, v, "unknown")) if verdicts else None


def status_rank(status) -> int:
    return _rank(STATUS_ORDER, status, "error")


def _rank(order: tuple, value, undecided: str) -> int:
    value = getattr(value, "value", value)
    return order.index(value if value in order else undecided)


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


def scope_of(domain, destination) -> str:
    """The scope of a result, read from where it applies (the runner sets exactly these fields)."""
    if domain is not None:
        return Scope.MIGRATION.value if destination is not None else Scope.DOMAIN.value
    return Scope.PAIR.value if destination is not None else Scope.HOST.value


def subject_key(r: dict) -> str:
    """The subject part of a result id from its fields (a Result's or its JSON's): host, domain@host,
    source->destination or domain@source->destination."""
    scope = scope_of(r.get("domain"), r.get("destination"))
    src = r.get("source") or r.get("host") or ""
    if scope == "migration":
        return f"{r.get('domain')}@{src}->{r.get('destination')}"
    if scope == "pair":
        return f"{src}->{r.get('destination')}"
    if scope == "domain":
        return f"{r.get('domain')}@{r.get('host') or ''}"
    return r.get("host") or r.get("subject") or ""


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
    # what tells several results of one check about one subject apart ("uuid", a NIC's MAC), so
    # their ids stay the same from run to run; None: their order does (see result_ids)
    item: Optional[str] = None
    # for a WAIVED result: the waiver (ticket, approver, reason, expires, origin) and the status it waived
    waiver: Optional[dict] = None

    @property
    def scope(self) -> str:
        """The scope the runner judged this result in, read from where it applies."""
        return scope_of(self.domain, self.destination)

    def subject_key(self) -> str:
        """host, domain@host, source->destination or domain@source->destination."""
        return subject_key(self.__dict__)

    def key(self) -> str:
        """check/scope/subject[/disk=D][/item]: the same finding about the same thing gets the same key
        in every run (what waivers, drift and JUnit match on). The subject part is rebuilt from the
        fields, not the free-text subject: host, domain@host, source->destination,
        domain@source->destination."""
        key = f"{self.check}/{self.scope}/{self.subject_key()}"
        if self.disk is not None:
            key += f"/disk={self.disk}"
        if self.item is not None:
            key += f"/{self.item}"
        return key

    def to_dict(self) -> dict:
        d = {
            "check": self.check,
            "status": self.status.value,
            "host": self.host,
            "subject": self.subject,
            "message": self.message,
            "evidence": self.evidence.to_dict(),
        }
        for key in ("domain", "source", "destination", "disk", "item", "waiver"):
            value = getattr(self, key)
            if value is not None:
                d[key] = value
        return d


def result_ids(results) -> list:
    """The stable id of every result, in order: its key(), and for the second and later results with
    the same key (a check that says several things about one subject without naming an item) `#2`,
    `#3`, ... in the order the check produced them, which is fixed for the same facts."""
    seen: dict = {}
    out = []
    for r in results:
        key = r.key()
        n = seen.get(key, 0) + 1
        seen[key] = n
        out.append(key if n == 1 else f"{key}#{n}")
    return out


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
    waived: tuple = ()         # blockers every FAIL of which a waiver accepts (the verdict stays FAIL)

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
            "waived": list(self.waived),
        }


@dataclass
class HostSummary:
    name: str
    reachable: bool
    error: Optional[str] = None
    # core libvirt facts (preflight.facts.keys.CORE_FACT_KEYS) a reachable host could not give:
    # fact key -> why. Non-empty = the host is reachable over SSH but cannot be judged.
    missing: dict = field(default_factory=dict)
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
            "missing_facts": dict(self.missing),
            "guests_listed": self.guests_listed,
        }

    @property
    def usable(self) -> bool:
        """Reachable with its libvirt facts: a hypervisor that can be judged."""
        return self.reachable and not self.missing

    @property
    def guests_listed(self) -> bool:
        return self.reachable and "domains" not in self.missing


@dataclass(frozen=True)
class Unassessed:
    """A source host whose guests could not be listed: none of its migrations is in the matrix,
    so the report names it instead of letting them vanish."""

    host: str
    reason: str               # "unreachable: connection timed out", "libvirt domain list failed: ..."

    def to_dict(self) -> dict:
        return {"host": self.host, "reason": self.reason}


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
    unassessed: list = field(default_factory=list)  # list[Unassessed]: sources whose guests were not listed
    facts_recorded: Optional[str] = None  # when the facts were gathered (the recording's "recorded")
    # who ran it, the command line, the inputs and their digests (preflight.engine.provenance);
    # empty for a report built in code
    provenance: dict = field(default_factory=dict)
    # the waivers the run applied, each with its state and the results it matched (engine.waivers)
    waivers: list = field(default_factory=list)
    # what changed since the report given with --previous (preflight.engine.drift), or None
    drift: Optional[dict] = None

    def counts(self) -> dict:
        out = {s.value: 0 for s in Status}
        for r in self.results:
            out[r.status.value] += 1
        return out

    def migration_counts(self) -> dict:
        out = {v.value: 0 for v in Verdict}
        for m in self.migrations:
            out[m.verdict.value] += 1
        return out

    def facts_age_seconds(self) -> Optional[int]:
        """How old the facts were when the run started (a replay of last week's recording: a week)."""
        from datetime import datetime

        try:
            recorded = datetime.fromisoformat(str(self.facts_recorded).replace("Z", "+00:00"))
            started = datetime.fromisoformat(str(self.started).replace("Z", "+00:00"))
            return max(0, int((started - recorded).total_seconds()))
        except (TypeError, ValueError):   # no timestamp, or one without its UTC offset
            return None

    def result_dicts(self) -> list:
        """Every result as JSON, with its stable id, its scope and its check's severity."""
        severity = {c.get("id"): c.get("severity") for c in self.checks}
        out = []
        for rid, r in zip(result_ids(self.results), self.results):
            d = r.to_dict()
            d["id"] = rid
            d["scope"] = r.scope
            d["severity"] = severity.get(r.check)
            out.append(d)
        return out

    def nothing_judged(self) -> Optional[str]:
        """Why no migration was judged, or None when some were. Decided here only: every renderer
        reads it from the run model (run.coverage), so none can call an empty run a clean bill."""
        hosts = self.hosts
        if not hosts:
            if self.source.startswith("replay"):
                return "the recording holds no hypervisor"
            return "the cluster has no hypervisor (its inventory lists no hosts)"
        if len(hosts) == 1:
            return (f"the cluster has one hypervisor ({hosts[0].name}); a live migration needs a second "
                    f"one to move to")
        usable = [h for h in hosts if h.usable]
        if len(usable) < 2:
            down = [f"{h.name} {'unreachable' if not h.reachable else 'without usable libvirt facts'}"
                    for h in hosts if not h.usable]
            return (f"only {len(usable)} of {len(hosts)} hypervisors could be assessed ({', '.join(down)}); "
                    f"a live migration needs a source and a destination")
        if not self.migrations:
            if self.unassessed:
                names = ", ".join(u.host for u in self.unassessed)
                return (f"no VM is running on the hypervisors whose guests could be listed (the guests on "
                        f"{names} could not be listed)")
            return "no VM is running on any hypervisor"
        return None

    def coverage(self) -> dict:
        """What was judged: the run's answer to "is this a clean bill of health?"."""
        reason = self.nothing_judged()
        return {
            "judged": reason is None,
            "nothing_judged": reason,
            "migrations": len(self.migrations),
            "unassessed": [u.to_dict() for u in self.unassessed],
        }

    def exit_code(self) -> int:
        """0 every migration judged, all decided, nothing failed; 1 a FAIL; 3 no FAIL but something
        undecided, a source whose guests were not listed, or nothing judged at all. A WAIVED result
        (a FAIL a valid waiver accepts) is no FAIL here; an expired waiver is one (waiver.expired)."""
        statuses = {r.status for r in self.results}
        if Status.FAIL in statuses:
            return 1
        if self.nothing_judged() is not None or self.unassessed:
            return 3
        if Status.ERROR in statuses or any(not h.usable for h in self.hosts):
            return 3
        if any(m.verdict is Verdict.UNKNOWN for m in self.migrations):
            return 3
        return 0

    def to_dict(self) -> dict:
        from preflight import __version__

        counts = self.counts()
        run = {
            "cluster": self.cluster,
            "started": self.started,
            "finished": self.finished,
            "source": self.source,
            "selection": self.selection,
            "facts_recorded": self.facts_recorded,
            "facts_age_s": self.facts_age_seconds(),
            "counts": counts,
            "coverage": self.coverage(),
            "exit_code": self.exit_code(),
        }
        run.update(self.provenance)
        return {
            "schema_version": "1",
            "tool": {"name": "preflight", "version": self.tool_version or __version__},
            "run": run,
            # top level, for a pipeline that wants the numbers without walking the results
            "counts": {"results": counts, "migrations": self.migration_counts(),
                       "hosts": len(self.hosts), "unreachable": sum(1 for h in self.hosts if not h.reachable)},
            "hosts": [h.to_dict() for h in self.hosts],
            "checks": self.checks,
            "results": self.result_dicts(),
            "migrations": [m.to_dict() for m in self.migrations],
            "domains": [dict(d) for d in self.domains],
            "waivers": [dict(w) for w in self.waivers],
            **({"drift": self.drift} if self.drift is not None else {}),
        }
