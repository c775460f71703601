"""The bounded throughput probe, over loopback only."""

from __future__ import annotations

import threading

import pytest

from preflight.plan import probe


PORT = 49871


def test_probe_measures_bytes_and_time_over_loopback():
    box = {}
    ready = threading.Event()

    def rx():
        box["rx"] = probe.serve("127.0.0.1", PORT, timeout=10, ready=ready.set)

    t = threading.Thread(target=rx)
    t.start()
    assert ready.wait(5)
    n, s = probe.send("127.0.0.1", PORT, 32 << 20, timeout=10)
    t.join(10)
    assert n == 32 << 20 and box["rx"][0] == n
    assert probe.throughput(*box["rx"]) > 10 << 20        # loopback: well above 10 MiB/s


def test_probe_is_bounded_and_fails_with_a_message():
    with pytest.raises(probe.ProbeError, match="127.0.0.1:1"):
        probe.send("127.0.0.1", 1, 1 << 20, timeout=2)
    with pytest.raises(probe.ProbeError):
        probe.throughput(0, 1.0)
    assert probe.MAX_BYTES == 1 << 30
