"""Time budgets that make a live run always end: one per host's gather, one for the whole run.

Every single operation already has a timeout (connect and handshake, each exec, each libvirt
call), but a host can stay just under each of them for ever: a 5 s link with 10,000 domains,
a daemon that answers every call after 29 s. A watchdog thread aborts a connection whose
budget ran out: its transport is closed, so whatever is blocked on it (an exec's read loop,
a libvirt call over the bridge) fails at once with the reason, the host's facts say why, and
the checks that needed them are undecided. When the run's deadline passes, every connection
is aborted the same way and the phases not yet started are skipped.

Bounds (documented in the README): a host's gather ends within its connect timeout plus
HOST_BUDGET_S; a run ends within --deadline plus one connect timeout (a TCP connect that was
already under way) plus a few seconds of teardown.
"""

from __future__ import annotations

import threading
import time
from typing import Optional

__all__ = ["Watchdog", "DEFAULT_DEADLINE_S", "HOST_BUDGET_S"]

DEFAULT_DEADLINE_S = 900.0      # --deadline: a whole live run, 15 minutes
HOST_BUDGET_S = 300.0           # one host's gather (shell facts, libvirt facts, image batch)


class Watchdog:
    """Aborts watched connections when their budget or the run's deadline passes."""

    def __init__(self, deadline_s: Optional[float], tick: float = 0.2):
        self.started = time.monotonic()
        self.deadline = None if not deadline_s else self.started + float(deadline_s)
        self.deadline_s = deadline_s
        self._watched: dict = {}             # id -> (until, conn, reason)
        self._all: list = []                 # every connection seen, for the run deadline
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._expired = threading.Event()
        self._tick = tick
        self._thread = threading.Thread(target=self._run, name="preflight-watchdog", daemon=True)
        self._thread.start()

    @property
    def expired(self) -> bool:
        return self._expired.is_set()

    def remaining(self) -> Optional[float]:
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())

    def adopt(self, conn) -> None:
        """A connection the run deadline applies to (every connection of the run)."""
        with self._lock:
            self._all.append(conn)
        if self.expired:
            conn.abort(self._deadline_reason())

    def watch(self, conn, budget_s: float, reason: str) -> int:
        """Abort `conn` with `reason` if still watched `budget_s` from now; returns a handle."""
        key = id(conn)
        with self._lock:
            self._watched[key] = (time.monotonic() + budget_s, conn, reason)
        return key

    def release(self, handle: int) -> None:
        with self._lock:
            self._watched.pop(handle, None)

    def _deadline_reason(self) -> str:
        return (f"the run's deadline of {self.deadline_s:g} s passed (--deadline); "
                "what was still being gathered was abandoned")

    def _run(self) -> None:
        while not self._stop.wait(self._tick):
            now = time.monotonic()
            with self._lock:
                due = [(k, c, r) for k, (until, c, r) in self._watched.items() if until <= now]
                for k, _, _ in due:
                    self._watched.pop(k, None)
                everyone = list(self._all) if self.deadline is not None and now >= self.deadline \
                    and not self._expired.is_set() else []
            for _, conn, reason in due:
                conn.abort(reason)
            if everyone or (self.deadline is not None and now >= self.deadline and not self._expired.is_set()):
                self._expired.set()
                for conn in everyone:
                    conn.abort(self._deadline_reason())

    def close(self) -> None:
        self._stop.set()
