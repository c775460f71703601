"""Waivers: known, accepted risks with an approver and an end date, so an accepted FAIL stops crying
wolf on every run without disappearing from the report.

A waivers file (`--waivers FILE`, or the cluster's `waivers` key: a file, or inline tables):

    [[waiver]]
    check = "storage.shared"            # a check id, or a glob over ids ("nfs.*")
    subject = "vm-local"                # glob over the result's subject: host, domain@host,
                                        # source->destination, domain@source->destination, or the domain
    disk = "vda"                        # optional: glob over the disk target
    reason = "scratch VM, stays on hv1"
    approver = "J. Doe (CAB)"
    ticket = "CHG-4711"
    expires = 2027-03-31                # a TOML date (or "YYYY-MM-DD"): valid through that day, UTC

Applied after the matrix and the disk inventory are built (they describe what really happens):
  - a FAIL or WARN a valid waiver matches becomes WAIVED, carrying the waiver; the migration it blocks
    stays FAIL and lists the check under `waived`; the exit code no longer counts it;
  - an ERROR is never hidden: a waiver that matches one leaves it ERROR and says so (`refused`); an
    `unknown` verdict has no result to waive at all;
  - an expired waiver waives nothing and is a FAIL of its own (check `waiver.expired`);
  - a waiver that matches no FAIL or WARN is reported (check `waiver.unmatched`, WARN), with the
    passing results it matched, if any (the risk it accepted is gone: remove it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime
from fnmatch import fnmatchcase
from typing import Optional

from preflight.model import Evidence, Result, Status

from preflight.tomlfile import read_toml

KEYS = {"check", "subject", "disk", "reason", "approver", "ticket", "expires"}
REQUIRED = ("check", "subject", "reason", "approver", "ticket", "expires")
WAIVABLE = (Status.FAIL, Status.WARN)
EXPIRED_CHECK, UNMATCHED_CHECK = "waiver.expired", "waiver.unmatched"

# metadata of the two checks waivers add, so every renderer explains them like any other check
CHECKS = [
    {"id": EXPIRED_CHECK, "title": "Waivers are within their end date", "category": "waiver",
     "severity": "high", "scope": "host", "origin": "built-in",
     "verifies": "Every waiver applied to this run expires on or after the day the run started (UTC).",
     "rationale": "A waiver accepts a known risk for a limited time; once it has expired the risk is no "
                  "longer accepted, so the findings it named count again and the expiry is a failure itself.",
     "remediation": "Fix what the waiver accepted, or have the approver renew it with a new end date "
                    "(and ticket) in the waivers file.",
     "references": []},
    {"id": UNMATCHED_CHECK, "title": "Every waiver matches a finding", "category": "waiver",
     "severity": "low", "scope": "host", "origin": "built-in",
     "verifies": "Every valid waiver matches at least one FAIL or WARN result of this run.",
     "rationale": "A waiver that matches nothing is stale (the risk it accepted is gone) or mistyped "
                  "(it does not waive what its approver meant): either way the waivers file is wrong.",
     "remediation": "Remove the waiver if the finding is fixed, or correct its check and subject globs "
                    "(result ids in the JSON report show the subject each result has).",
     "references": []},
]


class WaiverError(Exception):
    """A waivers file or entry that cannot be used (one line naming the file and the entry: exit 2)."""


@dataclass(frozen=True)
class Waiver:
    index: int                 # 1-based position in its file
    origin: str                # the file it came from
    check: str
    subject: str
    reason: str
    approver: str
    ticket: str
    expires: date
    disk: Optional[str] = None

    @property
    def label(self) -> str:
        return f"waiver {self.index} ({self.ticket})"

    def expired(self, today: date) -> bool:
        return today > self.expires

    def matches(self, r: Result) -> bool:
        if not fnmatchcase(r.check, self.check):
            return False
        if self.disk is not None and (r.disk is None or not fnmatchcase(r.disk, self.disk)):
            return False
        candidates = [r.subject_key()] + ([r.domain] if r.domain else [])
        return any(fnmatchcase(c, self.subject) for c in candidates)

    def ref(self) -> dict:
        out = {"index": self.index, "origin": self.origin, "check": self.check, "subject": self.subject,
               "reason": self.reason, "approver": self.approver, "ticket": self.ticket,
               "expires": self.expires.isoformat()}
        if self.disk is not None:
            out["disk"] = self.disk
        return out


def load_file(path, known_checks=()) -> list:
    """The waivers of a TOML file (`[[waiver]]` tables)."""
    _, data = read_toml(path, WaiverError, "waivers file")
    unknown = [k for k in data if k != "waiver"]
    if unknown:
        raise WaiverError(f"{path}: unknown top-level key {unknown[0]!r}; waivers are [[waiver]] tables")
    entries = data.get("waiver", [])
    if not isinstance(entries, list):
        raise WaiverError(f"{path}: 'waiver' must be an array of tables: write [[waiver]]")
    return from_entries(entries, str(path), known_checks)


def from_entries(entries: list, origin: str, known_checks=()) -> list:
    """Waivers from parsed TOML tables; `known_checks` (ids) catches a mistyped exact check id."""
    out = []
    for i, entry in enumerate(entries, 1):
        where = f"{origin}: waiver {i}"
        if not isinstance(entry, dict):
            raise WaiverError(f"{where}: must be a table with {', '.join(REQUIRED)}")
        extra = sorted(set(entry) - KEYS)
        if extra:
            raise WaiverError(f"{where}: unknown key {extra[0]!r} (known keys: {', '.join(sorted(KEYS))})")
        for key in REQUIRED:
            value = entry.get(key)
            if key != "expires" and (not isinstance(value, str) or not value.strip()):
                raise WaiverError(f"{where}: {key!r} must be a non-empty string"
                                  + (" (who approved this risk)" if key == "approver" else ""))
        if "disk" in entry and (not isinstance(entry["disk"], str) or not entry["disk"].strip()):
            raise WaiverError(f"{where}: 'disk' must be a non-empty string (a glob over disk targets)")
        check_id = entry["check"].strip()
        if known_checks and not re.search(r"[*?\[]", check_id) and check_id not in known_checks:
            raise WaiverError(f"{where}: no check {check_id!r}; `preflight checks` lists them "
                              f"(a glob such as 'nfs.*' waives several)")
        out.append(Waiver(index=i, origin=origin, check=check_id, subject=entry["subject"].strip(),
                          reason=entry["reason"].strip(), approver=entry["approver"].strip(),
                          ticket=entry["ticket"].strip(), expires=_date(entry.get("expires"), where),
                          disk=entry["disk"].strip() if "disk" in entry else None))
    return out


def _date(value, where: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise WaiverError(f"{where}: 'expires' must be a date such as 2027-03-31 (a waiver without an end "
                      f"date is not accepted)")


def apply(waivers: list, results: list, today: date) -> tuple:
    """(results with waived ones WAIVED plus the waivers' own results, [waiver state dicts])."""
    states = []
    for w in waivers:
        states.append({**w.ref(), "state": "expired" if w.expired(today) else "active", "matched": [],
                       "refused": [], "passing": []})
    state_of = {id(w): s for w, s in zip(waivers, states)}
    out = []
    from preflight.model import result_ids

    for rid, r in zip(result_ids(results), results):
        for w in waivers:
            if not w.matches(r):
                continue
            state = state_of[id(w)]
            if w.expired(today):
                if r.status in WAIVABLE:
                    state["matched"].append(rid)      # would have waived it: it counts again
                continue
            if r.status in WAIVABLE and r.status is not Status.WAIVED:
                state["matched"].append(rid)
                r = replace(r, status=Status.WAIVED, waiver={**w.ref(), "status": r.status.value})
                break
            if r.status is Status.ERROR:
                state["refused"].append(rid)          # never hidden: stays ERROR
            elif r.status in (Status.PASS, Status.SKIP):
                state["passing"].append(rid)
        out.append(r)
    for w, state in zip(waivers, states):
        if w.expired(today):
            out.append(_expired_result(w, state, today))
        elif not state["matched"]:
            state["state"] = "unmatched"
            out.append(_unmatched_result(w, state))
    return out, states


def _what(w: Waiver) -> str:
    return f"{w.check} for {w.subject}" + (f" disk {w.disk}" if w.disk else "")


def _expired_result(w: Waiver, state: dict, today: date) -> Result:
    n = len(state["matched"])
    return Result(
        check=EXPIRED_CHECK, status=Status.FAIL, subject=w.label,
        message=(f"{w.label} expired on {w.expires.isoformat()}: {_what(w)} (approved by {w.approver}: "
                 f"{w.reason}) no longer waives anything; {n} finding{'s' if n != 1 else ''} it named "
                 f"count{'s' if n == 1 else ''} again"),
        evidence=Evidence(observed=f"expires {w.expires.isoformat()}", expected=f"on or after {today.isoformat()}",
                          source=w.origin,
                          details={"remediation": f"Fix {_what(w)}, or have {w.approver} renew {w.ticket} with "
                                                  f"a new end date in {w.origin}."}),
    )


def _unmatched_result(w: Waiver, state: dict) -> Result:
    passing = len(state["passing"])
    why = (f"the {passing} result{'s' if passing != 1 else ''} it matches pass now: the risk it accepted is "
           f"gone" if passing else "it matches no result of this run (a mistyped check or subject?)")
    if state["refused"]:
        why += f"; it matches {len(state['refused'])} ERROR result(s), which a waiver never hides"
    return Result(
        check=UNMATCHED_CHECK, status=Status.WARN, subject=w.label,
        message=f"{w.label} waives nothing: {_what(w)}: {why}",
        evidence=Evidence(observed="no FAIL or WARN matched", expected=f"a FAIL or WARN of {_what(w)}",
                          source=w.origin,
                          details={"remediation": f"Remove {w.label} from {w.origin} if the finding is fixed, "
                                                  f"or correct its check/subject globs."}),
    )
