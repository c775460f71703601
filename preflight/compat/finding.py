"""The one result shape of every judgement in preflight.compat.

A Finding is a plain tuple (status, message, observed, expected, details) so that a check can
turn it into its registry's verdict without knowing which judgement made it. ERROR means "could
not decide" (fail closed), never a pass.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

from preflight.model import Status


class Finding(NamedTuple):
    status: Status
    message: str
    observed: Any = None
    expected: Any = None
    details: Optional[dict] = None


def passed(message: str, observed=None, expected=None, **details) -> Finding:
    return Finding(Status.PASS, message, observed, expected, details or None)


def warned(message: str, observed=None, expected=None, **details) -> Finding:
    return Finding(Status.WARN, message, observed, expected, details or None)


def failed(message: str, observed=None, expected=None, **details) -> Finding:
    return Finding(Status.FAIL, message, observed, expected, details or None)


def undecided(message: str, observed=None, expected=None, **details) -> Finding:
    return Finding(Status.ERROR, message, observed, expected, details or None)


def skipped(message: str, **details) -> Finding:
    return Finding(Status.SKIP, message, None, None, details or None)


def worst(findings) -> Optional[Finding]:
    """The finding with the highest rank (FAIL > ERROR > WARN > PASS > SKIP); None if empty."""
    findings = list(findings)
    return max(findings, key=lambda f: f.status.rank) if findings else None
