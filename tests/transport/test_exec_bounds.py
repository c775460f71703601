"""V6: one exec is bounded in bytes and in time even when the host never stops sending.
A channel stand-in that always has data ready plays the hostile host (the old drain loops
read until it paused, so neither the deadline nor memory was checked)."""

from __future__ import annotations

import os
import time
from types import SimpleNamespace as NS

import pytest

from preflight.transport.errors import CommandTimeout, OutputTooLarge
from preflight.transport.ssh import Connection

CHUNK = b"x" * (1 << 20)


class FloodChannel:
    """stdout always ready for `seconds`, never an exit status; fileno is a real pipe."""

    def __init__(self, seconds: float, chunk: bytes = CHUNK, pause: float = 0.0):
        self.chunk, self.pause = chunk, pause
        self.until = time.monotonic() + seconds
        self._r, self._w = os.pipe()
        self.closed = False
        self.sent = 0

    def exec_command(self, cmd):
        pass

    def shutdown_write(self):
        pass

    def fileno(self):
        return self._r

    def recv_ready(self):
        return time.monotonic() < self.until

    def recv(self, n):
        time.sleep(self.pause)
        self.sent += len(self.chunk)
        return self.chunk

    def recv_stderr_ready(self):
        return False

    def exit_status_ready(self):
        return False

    def close(self):
        self.closed = True
        for fd in (self._r, self._w):
            try:
                os.close(fd)
            except OSError:
                pass


def connection(chan, cap=None):
    conn = Connection("evil", NS(address="192.0.2.1", port=22, user="root"), transport=None, command_timeout=5)
    conn._open_session = lambda *a, **k: chan
    if cap is not None:
        conn.max_exec_bytes = cap
    return conn


def test_V6_flood_hits_the_byte_cap_quickly():
    chan = FloodChannel(seconds=30)
    t0 = time.monotonic()
    with pytest.raises(OutputTooLarge, match="more than 8 MiB"):
        connection(chan, cap=8 << 20)._exec(["cat", "/dev/zero"], "cat /dev/zero", timeout=60, stdin=None)
    assert time.monotonic() - t0 < 5 and chan.sent <= 9 << 20 and chan.closed


def test_V6_deadline_checked_while_data_keeps_coming():
    chan = FloodChannel(seconds=8, chunk=b"y\n" * 512, pause=0.001)     # data ready at every turn
    t0 = time.monotonic()
    with pytest.raises(CommandTimeout):
        connection(chan, cap=1 << 62)._exec(["yes"], "yes", timeout=1.0, stdin=None)
    assert time.monotonic() - t0 < 3, "the deadline waited for the flood to pause"


class SilentChannel(FloodChannel):
    """A command that never prints and never ends (a hung daemon behind it)."""

    def recv_ready(self):
        return False


def test_W3_host_budget_aborts_a_hung_exec_with_the_reason():
    from preflight.facts.budget import Watchdog
    from preflight.transport.errors import ChannelError
    conn = connection(SilentChannel(seconds=0))
    dog = Watchdog(deadline_s=None, tick=0.05)
    try:
        dog.watch(conn, 0.5, "the gather did not finish within its budget of 0.5 s")
        t0 = time.monotonic()
        with pytest.raises(ChannelError, match="budget of 0.5 s"):
            conn._exec(["sleep", "inf"], "sleep inf", timeout=60, stdin=None)
        assert time.monotonic() - t0 < 2
    finally:
        dog.close()


def test_W3_run_deadline_aborts_every_connection():
    from preflight.facts.budget import Watchdog
    conns = [connection(SilentChannel(seconds=0)) for _ in range(3)]
    dog = Watchdog(deadline_s=0.3, tick=0.05)
    try:
        for c in conns:
            dog.adopt(c)
        time.sleep(0.6)
        assert dog.expired and all("--deadline" in (c.abort_reason or "") for c in conns)
        late = connection(SilentChannel(seconds=0))
        dog.adopt(late)                                   # a connection made after the deadline
        assert late.abort_reason
    finally:
        dog.close()
