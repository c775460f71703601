"""libvirt over the tool's own SSH connection.

An exec channel on the host's existing paramiko Connection runs `virt-ssh-helper
qemu:///system` (or, when absent, `socat`/`nc -U` on libvirtd's socket). Two blocking pump
threads copy bytes between that channel and a local UNIX socket in a private 0700 temp dir
that accepts exactly one connection and is unlinked at once; libvirt then opens
`qemu+unix:///system?socket=PATH`. Open + first call takes ~20 ms once SSH is up, versus
~250 ms for a fresh `qemu+ssh://`.

Every libvirt call made through `LibvirtBridge.call()` is counted and bounded in time (it runs
in a worker thread; a call that does not answer raises LibvirtTimeout naming host and call,
and the bridge is torn down so the stuck call returns). libvirt's own keepalive runs too:
the default event loop is registered once per process.

`import libvirt` happens only inside functions: `preflight --help` and replay need no libvirt.
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import tempfile
import threading
import time
from typing import Any, Callable, Optional, Sequence

from preflight.transport.errors import LibvirtError, LibvirtTimeout, TransportError

__all__ = ["LibvirtBridge", "DEFAULT_HELPERS", "ensure_event_loop", "helper_script"]

LIBVIRT_SOCK = "/run/libvirt/libvirt-sock"

# Tried in order on the host, in ONE exec (a small sh script picks the first that exists).
DEFAULT_HELPERS = (
    ["virt-ssh-helper", "qemu:///system"],
    ["socat", "-", f"UNIX-CONNECT:{LIBVIRT_SOCK}"],
    ["nc", "-U", LIBVIRT_SOCK],
)

PUMP_CHUNK = 256 * 1024
CHANNEL_WINDOW = 16 << 20

_loop_lock = threading.Lock()
_loop_started = False


def ensure_event_loop() -> None:
    """Register libvirt's default event loop once per process and run it in a daemon thread
    (needed for libvirt keepalive, i.e. for noticing a hung host)."""
    global _loop_started
    with _loop_lock:
        if _loop_started:
            return
        import libvirt
        libvirt.virEventRegisterDefaultImpl()
        # libvirt prints every error to stderr by default; errors reach callers as exceptions
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)

        def run():
            while True:
                try:
                    libvirt.virEventRunDefaultImpl()
                except Exception:
                    time.sleep(0.1)

        threading.Thread(target=run, name="libvirt-event-loop", daemon=True).start()
        _loop_started = True


def helper_script(helpers: Sequence[Sequence[str]]) -> str:
    """POSIX sh that execs the first available helper, or explains on stderr and exits 127."""
    parts = []
    for argv in helpers:
        parts.append(f"if command -v {shlex.quote(argv[0])} >/dev/null 2>&1; then exec {shlex.join(list(argv))}; fi")
    names = ", ".join(a[0] for a in helpers)
    parts.append(f"echo {shlex.quote('preflight: no libvirt helper found on this host (tried: ' + names + '); install libvirt-daemon (virt-ssh-helper) or socat')} >&2")
    parts.append("exit 127")
    return "\n".join(parts)


class LibvirtBridge:
    """A libvirt connection to one host over its existing SSH `Connection`."""

    def __init__(self, connection, *, call_timeout: float = 30.0, open_timeout: float = 30.0,
                 keepalive_interval: int = 5, keepalive_count: int = 3,
                 helpers: Sequence[Sequence[str]] = DEFAULT_HELPERS, uri: str = "qemu:///system"):
        self.ssh = connection
        self.host = connection.name
        self.address = getattr(connection, "address", None)
        self.call_timeout = call_timeout
        self.open_timeout = open_timeout
        self.keepalive_interval = keepalive_interval
        self.keepalive_count = keepalive_count
        self.helpers = [list(h) for h in helpers]
        if uri != "qemu:///system":
            self.helpers = [[h[0], uri] if h[0] == "virt-ssh-helper" else h for h in self.helpers]
        self.conn = None                   # libvirt.virConnect once open
        self.channel = None
        self.calls = 0
        self._lock = threading.Lock()
        self._tmpdir: Optional[str] = None
        self._sock_path: Optional[str] = None
        self._listener: Optional[socket.socket] = None
        self._local: Optional[socket.socket] = None
        self._threads: list = []
        self._stderr = bytearray()
        self._broken: Optional[str] = None
        self._closed = False

    # -- opening --
    def open(self) -> "LibvirtBridge":
        import libvirt
        ensure_event_loop()
        self._tmpdir = tempfile.mkdtemp(prefix="preflight-lv-")     # mkdtemp: mode 0700
        os.chmod(self._tmpdir, 0o700)
        self._sock_path = os.path.join(self._tmpdir, "sock")
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self._sock_path)
        self._listener.listen(1)
        try:
            self.channel = self.ssh.open_channel(["sh", "-c", helper_script(self.helpers)],
                                                 window_size=CHANNEL_WINDOW)
        except Exception:
            self._cleanup_local()
            raise
        self._start_thread(self._accept_once, "accept")
        self._start_thread(self._drain_stderr, "stderr")
        uri = f"qemu+unix:///system?socket={self._sock_path}"
        try:
            self.conn = self._bounded("open", lambda: libvirt.open(uri), self.open_timeout, count=True)
        except LibvirtError:
            self.close()
            raise
        if self.keepalive_interval:
            try:
                self.call("setKeepAlive", self.conn.setKeepAlive, self.keepalive_interval, self.keepalive_count)
            except LibvirtError:
                pass                       # keepalive is a safety net; calls stay time-bounded anyway
        return self

    def _start_thread(self, fn, what):
        t = threading.Thread(target=fn, name=f"lv-{what}-{self.host}", daemon=True)
        t.start()
        self._threads.append(t)

    def _accept_once(self) -> None:
        listener = self._listener
        try:
            listener.settimeout(self.open_timeout)
            local, _ = listener.accept()
        except OSError:
            return
        finally:
            # exactly one connection: unlink at once, whoever else wanted it
            try:
                listener.close()
            except OSError:
                pass
            try:
                os.unlink(self._sock_path)
            except OSError:
                pass
            try:
                os.rmdir(self._tmpdir)
            except OSError:
                pass
        local.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        local.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self._local = local
        self._start_thread(self._pump_to_remote, "up")
        self._start_thread(self._pump_to_local, "down")

    def _pump_to_remote(self) -> None:
        local, chan = self._local, self.channel
        try:
            while True:
                data = local.recv(PUMP_CHUNK)
                if not data:
                    break
                chan.sendall(data)
        except Exception:
            pass
        try:
            chan.shutdown_write()
        except Exception:
            pass

    def _pump_to_local(self) -> None:
        local, chan = self._local, self.channel
        try:
            while True:
                data = chan.recv(PUMP_CHUNK)
                if not data:
                    break
                local.sendall(data)
        except Exception:
            pass
        try:
            local.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _drain_stderr(self) -> None:
        chan = self.channel
        try:
            while True:
                data = chan.recv_stderr(4096)
                if not data:
                    break
                if len(self._stderr) < 8192:
                    self._stderr.extend(data)
        except Exception:
            pass

    # -- calls --
    def call(self, what: str, fn: Callable, *args, timeout: Optional[float] = None) -> Any:
        """Run one libvirt call bounded in time and counted. libvirt errors become LibvirtError."""
        return self._bounded(what, lambda: fn(*args), self.call_timeout if timeout is None else timeout,
                             count=True)

    def _bounded(self, what: str, thunk: Callable, timeout: float, count: bool) -> Any:
        import libvirt
        if self._broken:
            raise LibvirtError(self.host, f"{self.host}: libvirt {what} not attempted: {self._broken}",
                               address=self.address, call=what)
        if count:
            with self._lock:
                self.calls += 1
        box: dict = {}

        def worker():
            try:
                box["value"] = thunk()
            except BaseException as exc:            # noqa: BLE001 - handed to the caller
                box["error"] = exc

        t = threading.Thread(target=worker, name=f"lv-call-{self.host}", daemon=True)
        t.start()
        t.join(timeout)
        if t.is_alive():
            self._broken = f"an earlier call ({what}) did not answer within {timeout:g} s"
            self._teardown_transport()
            raise LibvirtTimeout(
                self.host,
                f"{self.host}: libvirt call {what} did not answer within {timeout:g} s; libvirtd on "
                f"{self.host} may be hung or overloaded (check it on the host; raise the libvirt timeout "
                "if it is just slow)", address=self.address, call=what)
        exc = box.get("error")
        if exc is None:
            return box.get("value")
        if isinstance(exc, libvirt.libvirtError):
            raise self._libvirt_error(what, exc) from exc
        if isinstance(exc, TransportError):
            raise exc
        raise LibvirtError(self.host, f"{self.host}: libvirt {what} failed: {type(exc).__name__}: {exc}",
                           address=self.address, call=what) from exc

    def _libvirt_error(self, what: str, exc) -> LibvirtError:
        text = exc.get_error_message() or str(exc)
        code = exc.get_error_code()
        msg = f"{self.host}: libvirt {what} failed: {text}"
        if self._channel_dead() or "End of file" in text or "Cannot recv data" in text:
            msg += self._channel_report()
        return LibvirtError(self.host, msg, address=self.address, call=what, code=code)

    def _channel_dead(self) -> bool:
        chan = self.channel
        return chan is None or chan.closed or chan.exit_status_ready()

    def _channel_report(self) -> str:
        chan = self.channel
        if chan is None:
            return ""
        chan.status_event.wait(2.0)
        rc = chan.recv_exit_status() if chan.exit_status_ready() else None
        for t in self._threads:
            if t.name.startswith("lv-stderr"):
                t.join(1.0)
        err = " ".join(bytes(self._stderr).decode("utf-8", "replace").split())
        parts = []
        if rc is not None:
            parts.append(f"remote helper exited with status {rc}")
        if err:
            parts.append(f"stderr: {err[:500]}")
        if not parts:
            return " (the remote helper's channel closed without a status)"
        hint = " (is libvirtd running on the host, and virt-ssh-helper or socat installed?)"
        return " (" + "; ".join(parts) + ")" + hint

    # -- closing --
    def _teardown_transport(self) -> None:
        chan = self.channel
        if chan is not None:
            try:
                chan.close()
            except Exception:
                pass
        if self._local is not None:
            try:
                self._local.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> Optional[int]:
        """Close libvirt, then the channel and pumps. Returns libvirt's close() result
        (0 = really closed; >0 = objects still referenced), None when not open."""
        if self._closed:
            return None
        self._closed = True
        result = None
        if self.conn is not None and not self._broken:
            conn, self.conn = self.conn, None
            try:
                result = self._bounded("close", conn.close, 5.0, count=False)
            except LibvirtError:
                result = None
        else:
            self.conn = None
        self._teardown_transport()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(2.0)
        if self._local is not None:
            try:
                self._local.close()
            except OSError:
                pass
        self._cleanup_local()
        return result

    def _cleanup_local(self) -> None:
        if self._listener is not None:
            try:
                self._listener.close()
            except OSError:
                pass
        if self._tmpdir and os.path.isdir(self._tmpdir):
            shutil.rmtree(self._tmpdir, ignore_errors=True)

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self):
        return self.open() if self.conn is None else self

    def __exit__(self, *exc):
        self.close()
