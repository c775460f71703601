"""libvirt over the tool's own SSH connection, against the throwaway libvirtd of conftest.py."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from preflight.transport.errors import LibvirtError, LibvirtTimeout
from preflight.transport.libvirt_bridge import LibvirtBridge, helper_script

libvirt = pytest.importorskip("libvirt")


@pytest.fixture
def bridge(libvirt_lab, conn):
    b = LibvirtBridge(conn, call_timeout=60).open()
    yield b
    b.close()


def test_open_capabilities_domains(bridge, defined_domains, conn):
    caps = bridge.call("getCapabilities", bridge.conn.getCapabilities)
    assert "<capabilities>" in caps and "<host>" in caps
    doms = bridge.call("listAllDomains", bridge.conn.listAllDomains, 0)
    assert set(defined_domains["compatible"]) <= {d.name() for d in doms}
    del doms
    assert bridge.calls == 4              # open, setKeepAlive, getCapabilities, listAllDomains
    assert conn.round_trips == 1                      # the helper channel is one exec
    assert not os.path.exists(bridge._sock_path)      # accepted once, unlinked at once
    assert not os.path.exists(os.path.dirname(bridge._sock_path))


def test_missing_helper_error_has_status_and_stderr(libvirt_lab, conn):
    b = LibvirtBridge(conn, helpers=[["pft-no-such-helper", "qemu:///system"]])
    with pytest.raises(LibvirtError) as ei:
        b.open()
    msg = str(ei.value)
    assert "End of file" in msg or "Cannot recv" in msg or "closed" in msg
    assert "status 127" in msg and "no libvirt helper found" in msg and "pft-no-such-helper" in msg
    assert msg.startswith("pft-target") and "\n" not in msg
    assert b.closed


def test_failing_helper_stderr_is_reported(libvirt_lab, conn):
    b = LibvirtBridge(conn, helpers=[["sh", "-c", "echo pft-helper-broke >&2; exit 3"]])
    with pytest.raises(LibvirtError) as ei:
        b.open()
    assert "status 3" in str(ei.value) and "pft-helper-broke" in str(ei.value)


def test_socat_fallback(libvirt_lab, conn):
    b = LibvirtBridge(conn, helpers=[["pft-absent", "x"], ["socat", "-", "UNIX-CONNECT:/run/libvirt/libvirt-sock"]])
    try:
        b.open()
        assert b.call("getLibVersion", b.conn.getLibVersion) >= 6_008_000
    finally:
        b.close()


def test_helper_script_quotes():
    s = helper_script([["a b", "x;y"]])
    assert "'a b'" in s and "'x;y'" in s and "exit 127" in s


def test_calls_are_time_bounded_on_a_hung_libvirtd(libvirt_lab, conn):
    if not libvirt_lab.libvirtd_pid:
        pytest.skip("libvirtd pid unknown")
    b = LibvirtBridge(conn, call_timeout=1.5).open()
    try:
        os.kill(libvirt_lab.libvirtd_pid, signal.SIGSTOP)          # our own throwaway libvirtd
        t0 = time.monotonic()
        with pytest.raises(LibvirtTimeout) as ei:
            b.call("getHostname", b.conn.getHostname)
        assert time.monotonic() - t0 < 4
        msg = str(ei.value)
        assert "pft-target" in msg and "getHostname" in msg and "1.5 s" in msg
        with pytest.raises(LibvirtError):                           # the bridge is torn down
            b.call("getHostname", b.conn.getHostname)
    finally:
        os.kill(libvirt_lab.libvirtd_pid, signal.SIGCONT)
        b.close()


def test_close_really_closes(libvirt_lab, conn):
    b = LibvirtBridge(conn).open()
    b.call("getHostname", b.conn.getHostname)
    chan = b.channel
    assert b.close() == 0                                           # libvirt: really closed
    assert chan.closed
    time.sleep(0.1)
    alive = [t.name for t in threading.enumerate() if t.name.startswith(("lv-up", "lv-down", "lv-accept"))
             and t.name.endswith("pft-target")]
    assert alive == []
    assert b.close() is None                                        # idempotent
